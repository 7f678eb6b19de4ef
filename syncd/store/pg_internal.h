/*
 * pg_internal.h — what the PostgreSQL store's files share (pg.c: connection,
 * transactions, schema, sync operations, the log sequencer; pg_review.c: the
 * review queries; migrate.c: `fieldsyncd migrate-store`). Not part of store.h:
 * nothing above the store interface sees libpq.
 */
#ifndef FSY_STORE_PG_INTERNAL_H
#define FSY_STORE_PG_INTERNAL_H

#include "store.h"

#include <libpq-fe.h>

/* The live connection of a store opened with fsy_store_pg.open. */
PGconn *fsy__pg_conn(void *ctx);

/*
 * Run one parameterised statement (text parameters, NULL = SQL NULL; text results).
 * Returns the result when it is PGRES_COMMAND_OK or PGRES_TUPLES_OK; otherwise
 * clears it, records "what: <server message>" as the store's error message, sets
 * *rc to the FSY_* code (FSY_EBUSY for a lost connection, serialization failure,
 * deadlock or lock timeout, so the API answers 503 with Retry-After; FSY_ERROR
 * otherwise) and returns NULL. *rc is FSY_OK on success.
 */
PGresult *fsy__pg_exec(void *ctx, const char *what, const char *sql, int nparams,
                       const char *const *params, int *rc);

/* Record an error message for ctx (printf-style) and return code. */
int fsy__pg_fail(void *ctx, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* pg_review.c: the version-2 (review) members of fsy_store_pg, same contracts as store.h. */
int fsy__pg_user_list(void *ctx, fsy_user_cb cb, void *userdata);
int fsy__pg_visit_query(void *ctx, const fsy_visit_filter *f, fsy_visit_cb cb, void *userdata,
                        int64_t *total_out);
int fsy__pg_row_log(void *ctx, int tbl, const char *id, fsy_log_cb cb, void *userdata);
int fsy__pg_conflict_query(void *ctx, const fsy_conflict_filter *f, fsy_conflict_cb cb,
                           void *userdata);
int fsy__pg_conflict_resolve(void *ctx, int64_t n, const char *user, int64_t at_ms);
int fsy__pg_device_report(void *ctx, const char *device, int64_t pending, int64_t parked,
                          int64_t at_ms);
int fsy__pg_device_health(void *ctx, const char *team, fsy_health_cb cb, void *userdata);

extern const fsy_store_ops fsy_store_pg;

#endif
