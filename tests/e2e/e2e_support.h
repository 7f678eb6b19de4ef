/*
 * e2e_support.h — what every end-to-end test of fieldsyncd shares: a private temp
 * directory made with `fieldsyncd init`, the real daemon started from it as a
 * child process on 127.0.0.1 with port 0, HTTPS requests through libcurl with
 * the data directory's CA pinned, enrolled devices whose replicas are the real
 * core library, and read-only looks into the daemon's SQLite store.
 *
 * Every wait is bounded. Whatever a test starts is killed and its temp directory
 * removed when the process exits, pass or fail (atexit); the daemon also gets
 * SIGKILL if the test process dies first (PR_SET_PDEATHSIG). On failure the tail
 * of the daemon's log is printed. FSY_E2E_KEEP=1 keeps the temp directory.
 *
 * Both stores: with FSY_E2E_PG=<file holding a libpq conninfo> (the ctest fixture's
 * throwaway server, tests/support/pg-throwaway.sh), e2e_setup creates a database of
 * the test's own on that server, runs `fieldsyncd init --postgres`, and the store
 * helpers below query it with libpq; the database is dropped at exit. If the file is
 * missing (the server could not start: not root, no binaries) the test exits 77,
 * which ctest reports as skipped.
 *
 * Usage: each test's main() calls e2e_setup(argc, argv, "tag") (argv[1] is the
 * fieldsyncd binary; ctest passes it), prepares users and config, e2e_start(),
 * runs its checks with the ASSERT_* macros of fsy_test.h, and ends with
 * e2e_finish(), which stops the daemon with SIGTERM and requires a clean exit.
 */
#ifndef FSY_E2E_SUPPORT_H
#define FSY_E2E_SUPPORT_H

#include "fieldsync.h"
#include "fsy_test.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct e2e_daemon {
    char bin[1024];  /* the fieldsyncd executable */
    char root[512];  /* the test's temp directory: data dir, replicas */
    char dir[600];   /* the data directory made by `fieldsyncd init` */
    char log[600];   /* the daemon's stderr */
    char ca[600];    /* the CA the devices pin */
    char store[600]; /* the SQLite store */
    char pg[1200];   /* PostgreSQL store: the conninfo of the test's database; "" = SQLite */
    char pg_db[64];  /* its database name */
    pid_t pid;       /* 0 when not running */
    int port;
} e2e_daemon;

typedef struct e2e_resp {
    long status; /* HTTP status; 0 when no response came */
    char *body;  /* NUL-terminated (also when binary) */
    size_t len;
    char content_type[128];
    cJSON *json;          /* the body parsed, or NULL */
    int curl_rc;          /* CURLcode of the transfer */
    char retry_after[32]; /* the Retry-After header's value; "" when absent */
} e2e_resp;

typedef struct e2e_device {
    char user[101];
    char id[37];
    char token[65];
    char path[700]; /* the replica file */
    fsy_replica *r; /* the real core, opened on path with this device's identity */
} e2e_device;

/* ---- the daemon ---------------------------------------------------------- */

/* Make the temp dir, run `fieldsyncd init` and set port = 0. Call once, first. */
e2e_daemon *e2e_setup(int argc, char **argv, const char *tag);
/* Set `key = value` in fieldsyncd.conf (replacing the line if it is there). */
void e2e_config_set(e2e_daemon *d, const char *key, const char *value);
/* Run `fieldsyncd CMD DIR args... NULL`, bounded; stdout into out. Returns the exit status. */
int e2e_admin(e2e_daemon *d, char *out, size_t outlen, const char *cmd, ...)
    __attribute__((sentinel));
/* `fieldsyncd user-add`; role is rep, supervisor or admin; territory may be NULL. */
void e2e_user(e2e_daemon *d, const char *name, const char *role, const char *territory);
/* `fieldsyncd enroll-code`: a fresh one-time code for user. */
void e2e_enroll_code(e2e_daemon *d, const char *user, char code[64]);
/* Another daemon on the same store (PostgreSQL): a copy of d's data directory (same
 * CA, certificate, review key and config) in the test's temp dir, not yet started.
 * Killed at exit like the first; stop it with e2e_stop before e2e_finish. */
e2e_daemon *e2e_add_daemon(e2e_daemon *d);
/* Start `fieldsyncd serve` and wait (bounded) until it has written its port. */
void e2e_start(e2e_daemon *d);
/* Send sig and wait at most timeout_ms. Returns the exit code, 128+signal if killed
 * by one, or -1 if it had to be SIGKILLed after the timeout. */
int e2e_stop(e2e_daemon *d, int sig, int timeout_ms);
/* Stop with SIGTERM, require exit 0 and "stopped cleanly", free everything, print PASS. */
void e2e_finish(e2e_daemon *d);
/* The daemon's log so far (malloc'd, NUL-terminated). */
char *e2e_log_text(e2e_daemon *d);

/* ---- HTTP ------------------------------------------------------------------ */

typedef struct e2e_req {
    const char *method; /* "GET" or "POST" */
    const char *path;   /* "/v1/push?..." */
    const char *token;  /* bearer token or NULL */
    const char *body;   /* NULL for none */
    size_t len;
    bool plain_http;    /* http:// instead of https:// (to the TLS port) */
    const char *header; /* one extra raw header line, or NULL */
} e2e_req;

void e2e_http(e2e_daemon *d, const e2e_req *req, e2e_resp *out);
void e2e_get(e2e_daemon *d, const char *path, const char *token, e2e_resp *out);
void e2e_post(e2e_daemon *d, const char *path, const char *token, const char *body, size_t len,
              e2e_resp *out);
void e2e_resp_free(e2e_resp *r);
/* Assert a JSON error: this status, {"error":{"code": code, "message": non-empty}}. */
void e2e_expect_error_at(const char *file, int line, const e2e_resp *r, long status,
                         const char *code);
#define E2E_EXPECT_ERROR(r, status, code) e2e_expect_error_at(__FILE__, __LINE__, r, status, code)
/* GET /healthz: the change-log head it reports. */
int64_t e2e_log_head(e2e_daemon *d);

/* ---- devices with real replicas ---------------------------------------------- */

/* Issue a code, POST /v1/enroll, open a replica and set its identity. */
void e2e_enroll(e2e_daemon *d, const char *user, e2e_device *dev);
/* Push every pending change, batch by batch, applying each acknowledgement.
 * Returns the number of batches sent. Every push must answer 200. */
int e2e_push(e2e_daemon *d, e2e_device *dev);
/* Push one batch (the oldest pending changes) and apply its acknowledgement.
 * Returns the acknowledgement (cJSON_Delete it), or NULL when nothing is pending. */
cJSON *e2e_push_batch(e2e_daemon *d, e2e_device *dev);
/* Pull from the device's cursor until the server has no more. Returns the number
 * of changes received; if raw is not NULL it receives every body concatenated. */
int e2e_pull(e2e_daemon *d, e2e_device *dev, char **raw);
/* Push, then pull. */
void e2e_sync(e2e_daemon *d, e2e_device *dev);
/* The device's row as parsed JSON (cJSON_Delete it), or NULL if it does not have it. */
cJSON *e2e_row(e2e_device *dev, const char *table, const char *id);
/* A field of the device's row as JSON text (free() it), or NULL if row or field is absent. */
char *e2e_field(e2e_device *dev, const char *table, const char *id, const char *field);
/* fsy_replica_insert that must succeed; id_out receives the id. */
void e2e_insert(e2e_device *dev, const char *table, const char *fields, char id_out[37]);
/* fsy_replica_update that must succeed. */
void e2e_update(e2e_device *dev, const char *table, const char *id, const char *fields);
int64_t e2e_pending(e2e_device *dev);

/* ---- the store and odds and ends ---------------------------------------------- */

/* True when the daemon runs on the PostgreSQL store. */
bool e2e_is_pg(const e2e_daemon *d);
/* Whether any stored byte string holds needle: the SQLite files (store, -wal, -shm),
 * or on PostgreSQL every table's rows as text (needle as text and as hex, so bytea
 * columns count). */
bool e2e_store_contains(e2e_daemon *d, const void *needle, size_t len);

/* The first column of the first row of a query on the daemon's store, as an integer
 * (0 when there is no row). printf-style. Write SQL both stores understand (or branch
 * on e2e_is_pg). */
int64_t e2e_sql_int(e2e_daemon *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Same, as text (malloc'd; NULL when there is no row or it is NULL). */
char *e2e_sql_text(e2e_daemon *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A value from Prometheus text: the sample whose name (with labels) is exactly
 * `series`; -1 if absent. */
double e2e_metric(const char *text, const char *series);
/* Whole file as a NUL-terminated buffer (malloc'd); NULL if unreadable. */
char *e2e_read_file(const char *path, size_t *len_out);
/* Monotonic seconds. */
double e2e_now(void);
void e2e_sleep_ms(int ms);
/* A string item of a JSON object, or NULL. */
const char *e2e_jstr(const cJSON *obj, const char *key);

#endif
