/* fuzz_replica.c — see fuzz_replica.h. */
#include "fuzz_replica.h"

#include "fuzz_support.h"
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char tmpl_path[600], work_path[600];
static char *tmpl_bytes;
static size_t tmpl_len;
static fsy_replica *live; /* the replica every input runs on */
static sqlite3 *snapshot; /* its pages in the template state, in memory */
static int64_t snapshot_hlc;
static char *snapshot_dump; /* fsy_replica_export() of the template state */

static int64_t fixed_now(void *userdata)
{
    (void)userdata;
    return FSY_FUZZ_NOW_MS;
}

static const fsy_replica_opts *opts(void)
{
    static fsy_replica_opts o = FSY_REPLICA_OPTS_INIT;
    o.synchronous = FSY_SYNC_NORMAL;
    o.now_ms = fixed_now;
    o.max_batch_bytes = 1u << 20;
    return &o;
}

#define OK(call)                                                                                   \
    do {                                                                                           \
        int rc_ = (call);                                                                          \
        if (rc_ != FSY_OK) {                                                                       \
            fprintf(stderr, "fuzz replica setup: %s: %d %s\n", #call, rc_, fsy_replica_errmsg(r)); \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* What the server sent this device before the fuzzed input: every table, with
 * per-field versions, and a row that later left the scope. */
static const char seed_pull[] =
    "{\"schema\":2,\"upto\":40,\"more\":false,\"hlc\":\"019b8d9e2a000000\",\"changes\":["
    "{\"q\":10,\"t\":\"customers\",\"id\":\"" FSY_FUZZ_CUSTOMER "\","
    "\"f\":{\"name\":\"Kaufhaus Sued\",\"territory\":\"south\",\"tier\":\"B\","
    "\"phone\":\"+49 30 1111\"},\"vs\":{\"name\":3,\"territory\":3,\"tier\":7},"
    "\"h\":\"019b8d9e29000000\",\"by\":\"bob\"},"
    "{\"q\":11,\"t\":\"contacts\",\"id\":\"" FSY_FUZZ_CONTACT "\","
    "\"f\":{\"customer_id\":\"" FSY_FUZZ_CUSTOMER
    "\",\"name\":\"Eva\",\"birthday\":\"1980-02-29\"}},"
    "{\"q\":12,\"t\":\"visits\",\"id\":\"" FSY_FUZZ_VISIT "\","
    "\"f\":{\"customer_id\":\"" FSY_FUZZ_CUSTOMER "\",\"rep\":\"alice\",\"status\":\"planned\","
    "\"planned_at\":\"2026-01-06T09:00:00Z\"}},"
    "{\"q\":13,\"t\":\"notes\",\"id\":\"" FSY_FUZZ_NOTE "\","
    "\"f\":{\"customer_id\":\"" FSY_FUZZ_CUSTOMER "\",\"author\":\"alice\",\"body\":\"likes tea\","
    "\"info_level\":2}},"
    "{\"q\":14,\"t\":\"reviews\",\"id\":\"" FSY_FUZZ_REVIEW "\","
    "\"f\":{\"visit_id\":\"" FSY_FUZZ_VISIT "\",\"supervisor\":\"sue\",\"state\":\"reviewed\"}},"
    "{\"q\":20,\"t\":\"customers\",\"id\":\"0192f3a1-0000-7000-8000-000000000c09\","
    "\"f\":{\"name\":\"Old\",\"territory\":\"south\"}},"
    "{\"q\":40,\"t\":\"customers\",\"id\":\"0192f3a1-0000-7000-8000-000000000c09\",\"gone\":true}"
    "]}";

static void build_template(void)
{
    fsy_replica *r = NULL;
    char id[FSY_ID_LEN + 1];
    char *body = NULL;
    fsy_fuzz_path(tmpl_path, sizeof(tmpl_path), "replica-template.db");
    fsy_fuzz_path(work_path, sizeof(work_path), "replica.db");
    fsy_fuzz_remove_db(tmpl_path);
    if (fsy_replica_new(&r) != FSY_OK)
        abort();
    OK(fsy_replica_open(r, tmpl_path, opts()));
    OK(fsy_replica_set_identity(r, FSY_FUZZ_DEVICE, "alice"));
    OK(fsy_pull_apply(r, seed_pull, sizeof(seed_pull) - 1, NULL));
    /* s=1..3: exported (frozen) before the fuzzed acknowledgement arrives. */
    OK(fsy_replica_update(r, "customers", FSY_FUZZ_CUSTOMER, "{\"phone\":\"+49 30 2222\"}"));
    OK(fsy_replica_insert(r, "visits",
                          "{\"customer_id\":\"" FSY_FUZZ_CUSTOMER "\",\"status\":\"done\","
                          "\"satisfaction\":4}",
                          id));
    OK(fsy_replica_delete(r, "notes", FSY_FUZZ_NOTE));
    OK(fsy_push_export(r, 0, 0, &body, NULL, NULL));
    fsy_free(body);
    /* s=4: still open for compaction. */
    OK(fsy_replica_update(r, "contacts", FSY_FUZZ_CONTACT, "{\"role\":\"buyer\"}"));
    fsy_replica_free(r);
    tmpl_bytes = fsy_fuzz_read_file(tmpl_path, &tmpl_len);
    if (!tmpl_bytes)
        abort();
}

static void copy_db(sqlite3 *to, sqlite3 *from)
{
    sqlite3_backup *b = sqlite3_backup_init(to, "main", from, "main");
    FSY_FUZZ_CHECK(b != NULL);
    FSY_FUZZ_CHECK(sqlite3_backup_step(b, -1) == SQLITE_DONE);
    FSY_FUZZ_CHECK(sqlite3_backup_finish(b) == SQLITE_OK);
}

static void close_live(void)
{
    fsy_replica_free(live);
    sqlite3_close(snapshot);
    fsy_free(snapshot_dump);
    snapshot_dump = NULL;
    live = NULL;
    snapshot = NULL;
}

fsy_replica *fsy_fuzz_replica_fresh(void)
{
    fsy_replica *r = NULL;
    if (!tmpl_bytes)
        build_template();
    fsy_fuzz_remove_db(work_path);
    fsy_fuzz_write_file(work_path, tmpl_bytes, tmpl_len);
    if (fsy_replica_new(&r) != FSY_OK)
        abort();
    OK(fsy_replica_open(r, work_path, opts()));
    return r;
}

fsy_replica *fsy_fuzz_replica_reset(void)
{
    if (!live) {
        live = fsy_fuzz_replica_fresh();
        FSY_FUZZ_CHECK(sqlite3_open(":memory:", &snapshot) == SQLITE_OK);
        copy_db(snapshot, live->db);
        snapshot_hlc = live->hlc;
        snapshot_dump = fsy_fuzz_replica_dump(live);
        atexit(close_live);
        return live;
    }
    /* Every call of the public API ends its transaction; a harness never leaves one open. */
    FSY_FUZZ_CHECK(sqlite3_get_autocommit(live->db));
    copy_db(live->db, snapshot);
    live->hlc = snapshot_hlc;
    live->errmsg[0] = '\0';
    FSY_FUZZ_CHECK(fsy__replica_reload_state(live) == FSY_OK);
    return live;
}

char *fsy_fuzz_replica_dump(fsy_replica *r)
{
    char *out = NULL;
    OK(fsy_replica_export(r, &out));
    return out;
}

char *fsy_fuzz_replica_template_dump(void)
{
    if (!live)
        (void)fsy_fuzz_replica_reset();
    char *copy = strdup(snapshot_dump);
    FSY_FUZZ_CHECK(copy != NULL);
    return copy;
}
