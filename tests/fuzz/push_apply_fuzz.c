/*
 * push_apply_fuzz.c — the daemon's side of a push: fsy_sync_push() (syncd/sync/push.c)
 * on a real SQLite store, followed by fsy_sync_pull() (syncd/sync/pull.c) for every
 * device, exactly as syncd/api/api.c calls them after authentication.
 *
 * The store is made once: users alice (rep, south), bob (rep, north), sue
 * (supervisor) and ada (admin), one device each, and rows in both territories
 * pushed through fsy_sync_push itself. Each input then runs inside one outer
 * transaction that is rolled back afterwards, so every input starts from the same
 * store and runs fast: the harness hands fsy_sync an ops table whose begin, commit
 * and rollback do nothing (the real ones frame the input).
 *
 * Input: up to four push batches separated by NUL bytes. A batch starting with "@b",
 * "@s" or "@x" is pushed by bob's, sue's or ada's device; otherwise by alice's
 * (device id 0192f3a0-0000-7000-8000-00000000000a).
 *
 * Invariants checked besides ASan/UBSan/LSan:
 *  - a successful push returns a JSON acknowledgement with one result per change, in
 *    the order of the changes;
 *  - exactly once: pushing the same batch again returns the identical acknowledgement;
 *  - pulls succeed and never send a row that its user may not see (DESIGN §8.4):
 *    every change other than "gone" names a row visible to the puller now.
 */
#include "fuzz_support.h"
#include "schema.h"
#include "sync/sync.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { N_WHO = 4 };

static const char *const dev_ids[N_WHO] = {
    "0192f3a0-0000-7000-8000-00000000000a", "0192f3a0-0000-7000-8000-00000000000b",
    "0192f3a0-0000-7000-8000-00000000000c", "0192f3a0-0000-7000-8000-00000000000d"};
static const char *const names[N_WHO] = {"alice", "bob", "sue", "ada"};
static const int roles[N_WHO] = {FSY_ROLE_REP, FSY_ROLE_REP, FSY_ROLE_SUPERVISOR, FSY_ROLE_ADMIN};
static const char *const territories[N_WHO] = {"south", "north", "", ""};

static void *store;
static fsy_user users[N_WHO];
static fsy_store_ops nested_ops; /* the real store with transaction control taken away */
static fsy_sync sync_state;

static int64_t fixed_now(void)
{
    return FSY_FUZZ_NOW_MS;
}

static int tx_nop(void *ctx)
{
    (void)ctx;
    return 0;
}

static void rollback_nop(void *ctx)
{
    (void)ctx;
}

#define SETUP_OK(call)                                                                             \
    do {                                                                                           \
        int rc_ = (call);                                                                          \
        if (rc_ != 0) {                                                                            \
            fprintf(stderr, "push fuzz setup: %s: %d %s\n", #call, rc_,                            \
                    fsy_store_sqlite.errmsg(store));                                               \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* Rows of both territories, pushed through the real code with real transactions. */
static const char *const setup_batches[] = {
    /* bob, north: a customer with a contact, and a restricted note. */
    "{\"schema\":2,\"device\":\"0192f3a0-0000-7000-8000-00000000000b\",\"changes\":["
    "{\"s\":1,\"t\":\"customers\",\"id\":\"0192f3a1-0000-7000-8000-0000000000b1\",\"op\":\"c\","
    "\"h\":\"019b8d7df1c00000\",\"f\":{\"name\":\"Nordmarkt\",\"territory\":\"north\"}},"
    "{\"s\":2,\"t\":\"contacts\",\"id\":\"0192f3a1-0000-7000-8000-0000000000b2\",\"op\":\"c\","
    "\"h\":\"019b8d7df1c00001\",\"f\":{\"customer_id\":\"0192f3a1-0000-7000-8000-0000000000b1\","
    "\"name\":\"Nils\"}},"
    "{\"s\":3,\"t\":\"notes\",\"id\":\"0192f3a1-0000-7000-8000-0000000000b3\",\"op\":\"c\","
    "\"h\":\"019b8d7df1c00002\",\"f\":{\"customer_id\":\"0192f3a1-0000-7000-8000-0000000000b1\","
    "\"author\":\"bob\",\"body\":\"secret\",\"info_level\":4}}]}",
    /* alice, south: a customer, a visit, a note. */
    "{\"schema\":2,\"device\":\"0192f3a0-0000-7000-8000-00000000000a\",\"changes\":["
    "{\"s\":1,\"t\":\"customers\",\"id\":\"0192f3a1-0000-7000-8000-0000000000a1\",\"op\":\"c\","
    "\"h\":\"019b8d7df1c00003\",\"f\":{\"name\":\"Suedhaus\",\"territory\":\"south\","
    "\"tier\":\"A\"}},"
    "{\"s\":2,\"t\":\"visits\",\"id\":\"0192f3a1-0000-7000-8000-0000000000a2\",\"op\":\"c\","
    "\"h\":\"019b8d7df1c00004\",\"f\":{\"customer_id\":\"0192f3a1-0000-7000-8000-0000000000a1\","
    "\"rep\":\"alice\",\"status\":\"planned\"}},"
    "{\"s\":3,\"t\":\"notes\",\"id\":\"0192f3a1-0000-7000-8000-0000000000a3\",\"op\":\"c\","
    "\"h\":\"019b8d7df1c00005\",\"f\":{\"customer_id\":\"0192f3a1-0000-7000-8000-0000000000a1\","
    "\"author\":\"alice\",\"body\":\"call in May\",\"info_level\":1}}]}",
};

static void setup(void)
{
    char path[600], err[FSY_STORE_ERR_LEN];
    const fsy_store_ops *ops = &fsy_store_sqlite;
    fsy_fuzz_path(path, sizeof(path), "store.db");
    fsy_fuzz_remove_db(path);
    if (ops->open(&store, path, err, sizeof(err)) != 0) {
        fprintf(stderr, "push fuzz setup: %s\n", err);
        abort();
    }
    SETUP_OK(ops->begin(store));
    for (int i = 0; i < N_WHO; i++) {
        fsy_user *u = &users[i];
        fsy_device d;
        memset(u, 0, sizeof(*u));
        snprintf(u->name, sizeof(u->name), "%s", names[i]);
        u->role = roles[i];
        snprintf(u->territory, sizeof(u->territory), "%s", territories[i]);
        if (roles[i] == FSY_ROLE_REP)
            snprintf(u->supervisor, sizeof(u->supervisor), "sue");
        u->created_ms = FSY_FUZZ_NOW_MS;
        SETUP_OK(ops->user_put(store, u));
        memset(&d, 0, sizeof(d));
        snprintf(d.id, sizeof(d.id), "%s", dev_ids[i]);
        snprintf(d.user, sizeof(d.user), "%s", names[i]);
        d.token_hash[0] = (unsigned char)i;
        d.created_ms = FSY_FUZZ_NOW_MS;
        SETUP_OK(ops->device_put(store, &d));
    }
    SETUP_OK(ops->commit(store));

    fsy_sync real = {ops, store, FSY_SYNC_LIMITS_DEFAULT, {0}, fixed_now, false, 0, 0};
    for (size_t b = 0; b < sizeof(setup_batches) / sizeof(setup_batches[0]); b++) {
        int who = b == 0 ? 1 : 0;
        fsy_device d;
        fsy_api_error e = {0};
        char *ack = NULL;
        SETUP_OK(ops->device_get(store, dev_ids[who], &d));
        SETUP_OK(fsy_sync_push(&real, &d, &users[who], setup_batches[b], strlen(setup_batches[b]),
                               0, &ack, &e));
        free(ack);
    }

    nested_ops = fsy_store_sqlite;
    nested_ops.begin = tx_nop;
    nested_ops.commit = tx_nop;
    nested_ops.rollback = rollback_nop;
    fsy_sync lim = {&nested_ops, store, FSY_SYNC_LIMITS_DEFAULT, {0}, fixed_now, false, 0, 0};
    lim.lim.max_push_changes = 50;
    lim.lim.pull_max = 200;
    sync_state = lim;
}

static void close_store(void)
{
    fsy_store_sqlite.close(store);
    store = NULL;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fsy_fuzz_sqlite_setup();
    setup();
    atexit(close_store);
    return 0;
}

static int who_of(const char **body, size_t *len)
{
    if (*len >= 2 && (*body)[0] == '@') {
        int who = (*body)[1] == 'b' ? 1 : (*body)[1] == 's' ? 2 : (*body)[1] == 'x' ? 3 : 0;
        *body += 2;
        *len -= 2;
        return who;
    }
    return 0;
}

/* Every change a pull sends must be visible to its user as the rows stand now. */
static void check_pull(const char *out, const fsy_user *u)
{
    cJSON *doc = cJSON_Parse(out);
    FSY_FUZZ_CHECK(cJSON_IsObject(doc));
    const cJSON *ch;
    cJSON_ArrayForEach(ch, cJSON_GetObjectItemCaseSensitive(doc, "changes"))
    {
        if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(ch, "gone")))
            continue;
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(ch, "t");
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(ch, "id");
        FSY_FUZZ_CHECK(cJSON_IsString(t) && cJSON_IsString(id));
        const fsy_table *tbl = fsy__schema_table(t->valuestring);
        FSY_FUZZ_CHECK(tbl != NULL);
        fsy_srow row;
        fsy_srow_init(&row);
        FSY_FUZZ_CHECK(nested_ops.row_get(store, tbl->index, id->valuestring, &row) == 0);
        FSY_FUZZ_CHECK(row.exists);
        if (!fsy_sync_visible(u, &row)) {
            fprintf(stderr, "pull for %s sent %s %s (territory %s, owner %s, info_level %d)\n",
                    u->name, t->valuestring, id->valuestring, row.territory, row.owner,
                    row.info_level);
            FSY_FUZZ_CHECK(!"a pull sent a row outside the user's scope");
        }
        fsy_srow_clear(&row);
    }
    cJSON_Delete(doc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *parts[4];
    size_t lens[4];
    int n = fsy_fuzz_split(data, size, parts, lens, 4);
    FSY_FUZZ_CHECK(fsy_store_sqlite.begin(store) == 0);
    fsy_sync *s = &sync_state;

    for (int i = 0; i < n; i++) {
        const char *body = parts[i];
        size_t len = lens[i];
        int who = who_of(&body, &len);
        fsy_device d;
        fsy_api_error e = {0};
        char *ack = NULL;
        FSY_FUZZ_CHECK(nested_ops.device_get(store, dev_ids[who], &d) == 0);
        int rc = fsy_sync_push(s, &d, &users[who], body, len, FSY_FUZZ_NOW_MS - 1234, &ack, &e);
        if (getenv("FSY_FUZZ_VERBOSE"))
            fprintf(stderr, "push part %d by %s: rc %d %s %s\n", i, names[who], rc,
                    ack      ? ack
                    : e.code ? e.code
                             : "",
                    ack ? "" : e.message);
        if (rc == 0) {
            FSY_FUZZ_CHECK(ack != NULL);
            cJSON *a = cJSON_Parse(ack), *in = cJSON_ParseWithLength(body, len);
            const cJSON *res = cJSON_GetObjectItemCaseSensitive(a, "results");
            const cJSON *chs = cJSON_GetObjectItemCaseSensitive(in, "changes");
            FSY_FUZZ_CHECK(cJSON_IsArray(res) && cJSON_IsArray(chs));
            FSY_FUZZ_CHECK(cJSON_GetArraySize(res) == cJSON_GetArraySize(chs));
            for (const cJSON *x = res->child, *y = chs->child; x && y; x = x->next, y = y->next) {
                const cJSON *xs = cJSON_GetObjectItemCaseSensitive(x, "s");
                const cJSON *ys = cJSON_GetObjectItemCaseSensitive(y, "s");
                FSY_FUZZ_CHECK(cJSON_IsNumber(xs) && cJSON_IsNumber(ys));
                FSY_FUZZ_CHECK(xs->valuedouble == ys->valuedouble);
            }
            cJSON_Delete(a);
            cJSON_Delete(in);
            /* Exactly once: a retried batch gets the identical acknowledgement. */
            char *again = NULL;
            fsy_api_error e2 = {0};
            FSY_FUZZ_CHECK(nested_ops.device_get(store, dev_ids[who], &d) == 0);
            int rc2 = fsy_sync_push(s, &d, &users[who], body, len, FSY_FUZZ_NOW_MS, &again, &e2);
            if (rc2 != 0 || strcmp(again, ack) != 0) {
                fprintf(stderr, "first ack: %s\nretry: rc %d %s %s\n", ack, rc2, again ? again : "",
                        again ? "" : e2.message);
                FSY_FUZZ_CHECK(!"a retried batch did not get the identical acknowledgement");
            }
            free(again);
        } else {
            FSY_FUZZ_CHECK(ack == NULL);
            FSY_FUZZ_CHECK(e.http >= 400 && e.code != NULL);
        }
        free(ack);
    }
    for (int who = 0; who < N_WHO; who++) {
        fsy_device d;
        fsy_api_error e = {0};
        char *out = NULL;
        FSY_FUZZ_CHECK(nested_ops.device_get(store, dev_ids[who], &d) == 0);
        int rc = fsy_sync_pull(s, &d, &users[who], 0, who == 0 ? 3 : 0, 0, &out, &e);
        FSY_FUZZ_CHECK(rc == 0 && out != NULL);
        if (getenv("FSY_FUZZ_VERBOSE"))
            fprintf(stderr, "pull by %s: %s\n", names[who], out);
        check_pull(out, &users[who]);
        free(out);
    }
    fsy_store_sqlite.rollback(store);
    fsy_fuzz_free_parts(parts, n);
    return 0;
}
