/*
 * unit_helpers.h — what the unit tests under tests/unit/<module>/ share: a case
 * runner (every test_<module>__<case> is its own ctest test), fresh replicas in
 * temp files with an injectable wall clock, and JSON helpers built on cJSON so
 * tests assert on values, not on the spelling of a document.
 */
#ifndef FSY_UNIT_HELPERS_H
#define FSY_UNIT_HELPERS_H

#include "fieldsync.h"
#include "fsy_test.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>

/* ---- case runner ---------------------------------------------------------- */

typedef struct fsy_unit_case {
    const char *name;
    void (*fn)(void);
} fsy_unit_case;

#define FSY_CASE(mod, c)                                                                           \
    {                                                                                              \
#c, test_##mod##__##c                                                                      \
    }

/* No argument: run every case. One argument: run the case of that name (ctest does). */
static inline int fsy_unit_main(int argc, char **argv, const fsy_unit_case *cases, size_t n)
{
    if (argc > 2) {
        fprintf(stderr, "usage: %s [case]\n", argv[0]);
        return 2;
    }
    int ran = 0;
    for (size_t i = 0; i < n; i++) {
        if (argc == 2 && strcmp(argv[1], cases[i].name) != 0)
            continue;
        cases[i].fn();
        printf("ok %s\n", cases[i].name);
        ran++;
    }
    if (ran == 0) {
        fprintf(stderr, "no case named \"%s\"\n", argc == 2 ? argv[1] : "");
        return 2;
    }
    return 0;
}

/* ---- replicas --------------------------------------------------------------- */

#define T_DEVICE "0192f3a0-0000-7000-8000-00000000000a"
#define T_USER   "alice"

/* A wall clock the test moves by hand; it must outlive the replica that uses it. */
typedef struct t_clock {
    int64_t ms;
} t_clock;

static inline int64_t t_clock_now(void *userdata)
{
    return ((t_clock *)userdata)->ms;
}

/* opts with the fake clock `c` (which may be NULL for the real clock). */
static inline fsy_replica_opts t_opts(t_clock *c)
{
    fsy_replica_opts o = FSY_REPLICA_OPTS_INIT;
    if (c) {
        o.now_ms = t_clock_now;
        o.now_userdata = c;
    }
    return o;
}

/* Open `path` (which must exist or be creatable) into a fresh handle. */
static inline fsy_replica *t_reopen(const char *path, const fsy_replica_opts *opts)
{
    fsy_replica *r = NULL;
    ASSERT_EQ(fsy_replica_new(&r), FSY_OK);
    ASSERT_OK(r, fsy_replica_open(r, path, opts));
    return r;
}

/* A new replica in a fresh temp file, enrolled as T_DEVICE / T_USER. */
static inline fsy_replica *t_open(char *path, size_t path_len, const char *tag,
                                  const fsy_replica_opts *opts)
{
    fsy_test_tmp(path, path_len, tag);
    fsy_replica *r = t_reopen(path, opts);
    ASSERT_OK(r, fsy_replica_set_identity(r, T_DEVICE, T_USER));
    return r;
}

static inline void t_close(fsy_replica *r, const char *path)
{
    fsy_replica_free(r);
    fsy_test_rm(path);
}

/* ---- JSON --------------------------------------------------------------------- */

static inline cJSON *t_json(const char *text)
{
    cJSON *v = text ? cJSON_Parse(text) : NULL;
    if (!v)
        FSY_FAIL("not valid JSON: %s", text ? text : "(null)");
    return v;
}

static inline const cJSON *t_item(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    if (!v)
        FSY_FAIL("no member \"%s\"", name);
    return v;
}

static inline const char *t_str(const cJSON *o, const char *name)
{
    const cJSON *v = t_item(o, name);
    if (!cJSON_IsString(v))
        FSY_FAIL("member \"%s\" is not a string", name);
    return v->valuestring;
}

static inline double t_num(const cJSON *o, const char *name)
{
    const cJSON *v = t_item(o, name);
    if (!cJSON_IsNumber(v))
        FSY_FAIL("member \"%s\" is not a number", name);
    return v->valuedouble;
}

static inline bool t_is_null(const cJSON *o, const char *name)
{
    return cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(o, name));
}

/* fsy_replica_get() as a parsed object; the caller deletes it. */
static inline cJSON *t_row(fsy_replica *r, const char *table, const char *id)
{
    char *text = NULL;
    ASSERT_OK(r, fsy_replica_get(r, table, id, &text));
    cJSON *v = t_json(text);
    fsy_free(text);
    return v;
}

/* One text field of a row, copied into buf. */
static inline const char *t_field(fsy_replica *r, const char *table, const char *id,
                                  const char *field, char *buf, size_t n)
{
    cJSON *row = t_row(r, table, id);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(row, field);
    snprintf(buf, n, "%s", cJSON_IsString(v) ? v->valuestring : cJSON_IsNull(v) ? "(null)" : "?");
    cJSON_Delete(row);
    return buf;
}

static inline bool t_exists(fsy_replica *r, const char *table, const char *id)
{
    char *text = NULL;
    int rc = fsy_replica_get(r, table, id, &text);
    fsy_free(text);
    if (rc != FSY_OK && rc != FSY_ENOTFOUND)
        FSY_FAIL("fsy_replica_get(%s, %s) -> %d: %s", table, id, rc, fsy_replica_errmsg(r));
    return rc == FSY_OK;
}

static inline int64_t t_pending(fsy_replica *r)
{
    int64_t n = -1;
    ASSERT_OK(r, fsy_pending_count(r, &n));
    return n;
}

static inline int t_array_size(fsy_replica *r, int (*q)(fsy_replica *, char **))
{
    char *text = NULL;
    ASSERT_OK(r, q(r, &text));
    cJSON *a = t_json(text);
    int n = cJSON_GetArraySize(a);
    cJSON_Delete(a);
    fsy_free(text);
    return n;
}

/*
 * Everything a caller can observe about a replica, as one string: every row,
 * pending count, cursor, parked changes and conflicts. Two equal snapshots mean
 * a call changed nothing.
 */
static inline char *t_snapshot_opt(fsy_replica *r, bool with_conflicts)
{
    char *rows = NULL, *parked = NULL, *conflicts = NULL;
    int64_t cursor = -1;
    ASSERT_OK(r, fsy_replica_export(r, &rows));
    ASSERT_OK(r, fsy_query_parked(r, &parked));
    if (with_conflicts)
        ASSERT_OK(r, fsy_query_conflicts(r, &conflicts));
    else
        conflicts = calloc(1, 1);
    ASSERT_OK(r, fsy_pull_cursor(r, &cursor));
    size_t n = strlen(rows) + strlen(parked) + strlen(conflicts) + 128;
    char *out = malloc(n);
    ASSERT_TRUE(out != NULL);
    snprintf(out, n, "rows=%s\npending=%lld\ncursor=%lld\nparked=%s\nconflicts=%s", rows,
             (long long)t_pending(r), (long long)cursor, parked, conflicts);
    fsy_free(rows);
    fsy_free(parked);
    fsy_free(conflicts);
    return out;
}

static inline char *t_snapshot(fsy_replica *r)
{
    return t_snapshot_opt(r, true);
}

/* ---- rows and batches ----------------------------------------------------------- */

static inline void t_insert(fsy_replica *r, const char *table, const char *json, char *id_out)
{
    char id[FSY_ID_LEN + 1];
    ASSERT_OK(r, fsy_replica_insert(r, table, json, id));
    ASSERT_EQ(strlen(id), FSY_ID_LEN);
    if (id_out)
        memcpy(id_out, id, sizeof(id));
}

static inline void t_customer(fsy_replica *r, const char *name, const char *territory, char *id_out)
{
    char json[512];
    snprintf(json, sizeof(json), "{\"name\":\"%s\",\"territory\":\"%s\"}", name, territory);
    t_insert(r, "customers", json, id_out);
}

/* The next push batch with default limits, parsed; NULL when nothing is pending. */
static inline cJSON *t_export(fsy_replica *r, char **text_out)
{
    char *text = NULL;
    size_t len = 0;
    int n = -1;
    ASSERT_OK(r, fsy_push_export(r, 0, 0, &text, &len, &n));
    if (!text) {
        ASSERT_EQ(n, 0);
        return NULL;
    }
    ASSERT_EQ(len, strlen(text));
    cJSON *doc = t_json(text);
    ASSERT_EQ(cJSON_GetArraySize(t_item(doc, "changes")), n);
    if (text_out)
        *text_out = text;
    else
        fsy_free(text);
    return doc;
}

/* An acknowledgement accepting every change of `batch`, with versions v0, v0+1, … */
static inline char *t_ack_all(const cJSON *batch, int64_t v0)
{
    cJSON *ack = cJSON_CreateObject();
    cJSON_AddNumberToObject(ack, "schema", FSY_SCHEMA_VERSION);
    cJSON *results = cJSON_AddArrayToObject(ack, "results");
    const cJSON *ch;
    cJSON_ArrayForEach(ch, t_item(batch, "changes"))
    {
        cJSON *res = cJSON_CreateObject();
        cJSON_AddNumberToObject(res, "s", t_num(ch, "s"));
        cJSON_AddTrueToObject(res, "ok");
        cJSON_AddNumberToObject(res, "v", (double)v0++);
        cJSON_AddItemToArray(results, res);
    }
    char *text = cJSON_PrintUnformatted(ack);
    cJSON_Delete(ack);
    return text;
}

/* Apply an acknowledgement or pull batch given as text; returns the code. */
static inline int t_apply_ack(fsy_replica *r, const char *json)
{
    return fsy_push_apply_ack(r, json, strlen(json));
}

static inline int t_pull(fsy_replica *r, const char *json)
{
    return fsy_pull_apply(r, json, strlen(json), NULL);
}

/* Push everything pending and accept it all, versions from *v (advanced). */
static inline void t_sync_all(fsy_replica *r, int64_t *v)
{
    cJSON *batch;
    while ((batch = t_export(r, NULL)) != NULL) {
        char *ack = t_ack_all(batch, *v);
        *v += cJSON_GetArraySize(t_item(batch, "changes"));
        ASSERT_OK(r, t_apply_ack(r, ack));
        cJSON_free(ack);
        cJSON_Delete(batch);
    }
    ASSERT_EQ(t_pending(r), 0);
}

/* The change of `batch` for row `id`, or NULL. */
static inline const cJSON *t_change_for(const cJSON *batch, const char *id)
{
    const cJSON *ch;
    cJSON_ArrayForEach(ch, t_item(batch, "changes"))
    {
        if (strcmp(t_str(ch, "id"), id) == 0)
            return ch;
    }
    return NULL;
}

#endif
