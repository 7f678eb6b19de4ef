/*
 * fault_writer.c — the victim of tests/fault/test_fault_kill.c. Loops through the
 * public API on a replica with synchronous=FULL (inserts, updates, deletes,
 * notes, push export + acknowledgement, pulls) until it is SIGKILLed.
 *
 * Around every call it appends a line to a side log and fsyncs it: a lower-case
 * intent before the call, the upper-case record once the call returned FSY_OK.
 * The parent replays the log to know what must be in the replica.
 *   i <name>              I <id> <name> <territory>
 *   u <id> <phone> <tier> U <id> <phone> <tier>
 *   d <id>                D <id>
 *   n <customer>          N <id> <customer>
 *   a                     A <s>... (accepted)  R <s>... (refused notes, parked)
 *   p <id> <owner>        P <id> <owner>
 *
 * usage: fsy_fault_writer <replica> <log> <seed>
 */
#define _POSIX_C_SOURCE 200809L /* fork, kill, nanosleep, fsync */

#include "fieldsync.h"
#include "fsy_test.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>

#define MAX_IDS 4096

static int log_fd = -1;
static char ids[MAX_IDS][FSY_ID_LEN + 1];
static int n_ids;

static void die(fsy_replica *r, const char *what, int rc)
{
    fprintf(stderr, "fault_writer: %s -> %d (%s): %s\n", what, rc, fsy_strerror(rc),
            r ? fsy_replica_errmsg(r) : "");
    exit(3);
}

#if defined(__GNUC__)
__attribute__((format(printf, 1, 2)))
#endif
static void
logf_sync(const char *fmt, ...)
{
    char line[16384];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
    va_end(ap);
    if (n < 0 || n >= (int)sizeof(line) - 1) {
        fprintf(stderr, "fault_writer: log line too long\n");
        exit(3);
    }
    line[n++] = '\n';
    /* One write per line: a kill lands before or after it, never inside. */
    if (write(log_fd, line, (size_t)n) != n || fsync(log_fd) != 0) {
        fprintf(stderr, "fault_writer: log write failed: %s\n", strerror(errno));
        exit(3);
    }
}

static void load_ids(fsy_replica *r)
{
    for (int offset = 0;; offset += 1000) {
        char *text = NULL;
        int rc = fsy_query_customers(r, NULL, NULL, 1000, offset, &text);
        if (rc != FSY_OK)
            die(r, "fsy_query_customers", rc);
        cJSON *a = cJSON_Parse(text);
        fsy_free(text);
        int n = cJSON_GetArraySize(a);
        const cJSON *it;
        cJSON_ArrayForEach(it, a)
        {
            const cJSON *id = cJSON_GetObjectItemCaseSensitive(it, "id");
            if (n_ids < MAX_IDS && cJSON_IsString(id))
                snprintf(ids[n_ids++], sizeof(ids[0]), "%s", id->valuestring);
        }
        cJSON_Delete(a);
        if (n < 1000)
            break;
    }
}

static void forget(int i)
{
    memcpy(ids[i], ids[n_ids - 1], sizeof(ids[0]));
    n_ids--;
}

static void push_round(fsy_replica *r, uint64_t *rng)
{
    char *text = NULL;
    int n = 0;
    int rc = fsy_push_export(r, (int)(fsy_test_rand(rng) % 40) + 1, 0, &text, NULL, &n);
    if (rc != FSY_OK)
        die(r, "fsy_push_export", rc);
    if (!text)
        return;
    cJSON *batch = cJSON_Parse(text);
    fsy_free(text);
    cJSON *ack = cJSON_CreateObject();
    cJSON_AddNumberToObject(ack, "schema", FSY_SCHEMA_VERSION);
    cJSON *results = cJSON_AddArrayToObject(ack, "results");
    char accepted[8192] = "A", refused[8192] = "R";
    size_t na = 1, nr = 1;
    const cJSON *ch;
    cJSON_ArrayForEach(ch, cJSON_GetObjectItemCaseSensitive(batch, "changes"))
    {
        double s = cJSON_GetObjectItemCaseSensitive(ch, "s")->valuedouble;
        const char *t = cJSON_GetObjectItemCaseSensitive(ch, "t")->valuestring;
        cJSON *res = cJSON_CreateObject();
        cJSON_AddNumberToObject(res, "s", s);
        /* Only new notes are ever refused, so customers' values stay predictable. */
        if (strcmp(t, "notes") == 0 && fsy_test_rand(rng) % 3 == 0) {
            cJSON_AddFalseToObject(res, "ok");
            cJSON_AddStringToObject(res, "code", "forbidden");
            cJSON_AddStringToObject(res, "msg", "notes of level 4 are restricted");
            nr += (size_t)snprintf(refused + nr, sizeof(refused) - nr, " %.0f", s);
        } else {
            cJSON_AddTrueToObject(res, "ok");
            cJSON_AddNumberToObject(res, "v", s); /* unique and rising, like a server seq */
            na += (size_t)snprintf(accepted + na, sizeof(accepted) - na, " %.0f", s);
        }
        cJSON_AddItemToArray(results, res);
    }
    char *body = cJSON_PrintUnformatted(ack);
    logf_sync("a");
    rc = fsy_push_apply_ack(r, body, strlen(body));
    if (rc != FSY_OK)
        die(r, "fsy_push_apply_ack", rc);
    logf_sync("%s", accepted);
    logf_sync("%s", refused);
    cJSON_free(body);
    cJSON_Delete(ack);
    cJSON_Delete(batch);
}

static void pull_round(fsy_replica *r, uint64_t *rng)
{
    if (n_ids == 0)
        return;
    int64_t cursor = 0;
    int rc = fsy_pull_cursor(r, &cursor);
    if (rc != FSY_OK)
        die(r, "fsy_pull_cursor", rc);
    const char *id = ids[fsy_test_rand(rng) % (uint64_t)n_ids];
    char owner[32], doc[512];
    snprintf(owner, sizeof(owner), "owner%u", (unsigned)(fsy_test_rand(rng) % 1000));
    int64_t q = cursor + 1000000; /* above any version an acknowledgement gave */
    snprintf(doc, sizeof(doc),
             "{\"schema\":2,\"upto\":%lld,\"changes\":[{\"q\":%lld,\"t\":\"customers\","
             "\"id\":\"%s\",\"f\":{\"owner\":\"%s\"}}]}",
             (long long)q, (long long)q, id, owner);
    logf_sync("p %s %s", id, owner);
    if ((rc = fsy_pull_apply(r, doc, strlen(doc), NULL)) != FSY_OK)
        die(r, "fsy_pull_apply", rc);
    logf_sync("P %s %s", id, owner);
}

int main(int argc, char **argv)
{
    static const char *const territories[] = {"north", "south", "east"};
    static const char *const tiers[] = {"A", "B", "C"};
    if (argc != 4) {
        fprintf(stderr, "usage: %s <replica> <log> <seed>\n", argv[0]);
        return 2;
    }
    uint64_t rng = strtoull(argv[3], NULL, 10);
    log_fd = open(argv[2], O_WRONLY | O_APPEND | O_CREAT, 0600);
    if (log_fd < 0) {
        fprintf(stderr, "fault_writer: %s: %s\n", argv[2], strerror(errno));
        return 3;
    }
    fsy_replica *r = NULL;
    int rc = fsy_replica_new(&r);
    if (rc != FSY_OK)
        die(NULL, "fsy_replica_new", rc);
    fsy_replica_opts opts = FSY_REPLICA_OPTS_INIT;
    opts.synchronous = FSY_SYNC_FULL;
    if ((rc = fsy_replica_open(r, argv[1], &opts)) != FSY_OK)
        die(r, "fsy_replica_open", rc);
    char *dev = NULL;
    if (fsy_replica_config_get(r, "fsy.device_id", &dev) == FSY_ENOTFOUND &&
        (rc = fsy_replica_set_identity(r, "0192f3a0-0000-7000-8000-00000000fa17", "writer")) !=
            FSY_OK)
        die(r, "fsy_replica_set_identity", rc);
    fsy_free(dev);
    load_ids(r);

    for (unsigned k = 0;; k++) {
        unsigned dice = (unsigned)(fsy_test_rand(&rng) % 100);
        char id[FSY_ID_LEN + 1], json[256];
        if (dice < 35 || n_ids == 0) {
            char name[64];
            const char *terr = territories[fsy_test_rand(&rng) % 3];
            snprintf(name, sizeof(name), "c%s_%u", argv[3], k);
            snprintf(json, sizeof(json), "{\"name\":\"%s\",\"territory\":\"%s\"}", name, terr);
            logf_sync("i %s", name);
            if ((rc = fsy_replica_insert(r, "customers", json, id)) != FSY_OK)
                die(r, "fsy_replica_insert", rc);
            logf_sync("I %s %s %s", id, name, terr);
            if (n_ids < MAX_IDS)
                memcpy(ids[n_ids++], id, sizeof(id));
        } else if (dice < 60) {
            const char *target = ids[fsy_test_rand(&rng) % (uint64_t)n_ids];
            char phone[32];
            const char *tier = tiers[fsy_test_rand(&rng) % 3];
            snprintf(phone, sizeof(phone), "+49-%u", (unsigned)(fsy_test_rand(&rng) % 100000));
            snprintf(json, sizeof(json), "{\"phone\":\"%s\",\"tier\":\"%s\"}", phone, tier);
            logf_sync("u %s %s %s", target, phone, tier);
            if ((rc = fsy_replica_update(r, "customers", target, json)) != FSY_OK)
                die(r, "fsy_replica_update", rc);
            logf_sync("U %s %s %s", target, phone, tier);
        } else if (dice < 68) {
            int i = (int)(fsy_test_rand(&rng) % (uint64_t)n_ids);
            memcpy(id, ids[i], sizeof(id));
            logf_sync("d %s", id);
            if ((rc = fsy_replica_delete(r, "customers", id)) != FSY_OK)
                die(r, "fsy_replica_delete", rc);
            logf_sync("D %s", id);
            forget(i);
        } else if (dice < 80) {
            const char *cust = ids[fsy_test_rand(&rng) % (uint64_t)n_ids];
            snprintf(json, sizeof(json),
                     "{\"customer_id\":\"%s\",\"body\":\"Gespraech %u\",\"info_level\":%u}", cust,
                     k, (unsigned)(fsy_test_rand(&rng) % 4) + 1);
            logf_sync("n %s", cust);
            if ((rc = fsy_replica_insert(r, "notes", json, id)) != FSY_OK)
                die(r, "fsy_replica_insert notes", rc);
            logf_sync("N %s %s", id, cust);
        } else if (dice < 95) {
            push_round(r, &rng);
        } else {
            pull_round(r, &rng);
        }
    }
}
