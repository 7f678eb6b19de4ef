/*
 * internal.h — what core/ files share with each other: the replica struct, the
 * error-message helpers, a growable buffer and the prepared-statement cache.
 * Nothing here is public; fieldsyncd uses schema.h and hlc.h, not this file.
 */
#ifndef FSY_INTERNAL_H
#define FSY_INTERNAL_H

#include "fieldsync.h"
#include "schema.h"

#include <cjson/cJSON.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>

#ifndef NDEBUG
#include <assert.h>
#define FSY_ASSERT(x) assert(x)
#else
#define FSY_ASSERT(x) ((void)0)
#endif

/*
 * printf-style checking. On mingw-w64 GCC's "printf" means msvcrt's formats,
 * which lack %zu; core's C99 formats come with __USE_MINGW_ANSI_STDIO=1, and
 * then stdio.h names the matching archetype (cross/x86_64-w64-mingw32.cmake).
 */
#if defined(__MINGW_PRINTF_FORMAT)
#define FSY_PRINTF(f, a) __attribute__((format(__MINGW_PRINTF_FORMAT, f, a)))
#elif defined(__GNUC__)
#define FSY_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define FSY_PRINTF(f, a)
#endif

/* Caller mistakes return FSY_EMISUSE, never crash a release build. */
#define FSY_CHECK_ARG(cond)                                                                        \
    do {                                                                                           \
        if (!(cond))                                                                               \
            return FSY_EMISUSE;                                                                    \
    } while (0)

#define FSY_ERRMSG_LEN 512

/* Journal entry operations, as stored and as sent ("c", "u", "d"). */
enum { FSY_OP_CREATE = 0, FSY_OP_UPDATE = 1, FSY_OP_DELETE = 2 };
/* Journal entry states. Acknowledged entries leave the journal. */
enum { FSY_JS_PENDING = 0, FSY_JS_PARKED = 1 };
/* Confirmed row states. */
enum { FSY_ROW_LIVE = 0, FSY_ROW_DELETED = 1, FSY_ROW_GONE = 2 };

/* Cached prepared statements; see stmt_sql in replica.c. */
enum {
    FSY_STMT_BEGIN,
    FSY_STMT_COMMIT,
    FSY_STMT_ROLLBACK,
    FSY_STMT_META_GET,
    FSY_STMT_META_SET,
    FSY_STMT_CONF_GET,
    FSY_STMT_CONF_PUT,
    FSY_STMT_J_INSERT,
    FSY_STMT_J_LAST_FOR_ROW,
    FSY_STMT_J_UPDATE_FIELDS,
    FSY_STMT_J_PENDING_FOR_ROW,
    FSY_STMT_J_GET,
    FSY_STMT_J_DELETE,
    FSY_STMT_DATA_VERSION,
    FSY_STMT_CUSTOMER_EXISTS,
    FSY_STMT_VISIT_EXISTS,
    FSY_STMT_J_PARK,
    FSY_STMT_J_SET_BASES,
    FSY_STMT_J_LATER_FOR_ROW,
    FSY_STMT_CONFLICT_INSERT,
    FSY_STMT_J_OTHERS_FOR_ROW,
    FSY_STMT_COUNT
};

struct fsy_replica {
    sqlite3 *db;
    char errmsg[FSY_ERRMSG_LEN];
    fsy_replica_opts opts;
    sqlite3_stmt *stmts[FSY_STMT_COUNT];
    /* Per table: prepared view-row INSERT, SELECT by id, DELETE by id. */
    sqlite3_stmt *view_insert[FSY_N_TABLES];
    sqlite3_stmt *view_select[FSY_N_TABLES];
    sqlite3_stmt *view_delete[FSY_N_TABLES];
    /* UPDATE statements for the field sets edits actually touch, by table and
     * field bitmask; a tablet UI edits a handful of field combinations. */
    struct {
        int tbl;
        uint32_t mask;
        sqlite3_stmt *st;
    } view_update[16];
    int n_view_update;
    mbedtls_entropy_context entropy;
    mbedtls_ctr_drbg_context drbg;
    bool drbg_ready;
    int64_t hlc;          /* last issued or received hybrid clock */
    int64_t next_seq;     /* next client_seq */
    int64_t frozen_upto;  /* entries <= this were exported: never rewritten */
    int64_t n_pending;    /* pending journal entries (fast path for pulls) */
    int64_t data_version; /* PRAGMA data_version when the fields above were read */
    char device_id[64];   /* "" until enrolled */
    char user[128];       /* "" until enrolled */
};

/* Error messages: set once, where the problem was found. */
int fsy__err(fsy_replica *r, int code, const char *fmt, ...) FSY_PRINTF(3, 4);
int fsy__sqlerr(fsy_replica *r, int sqlite_rc, const char *what);
void fsy__err_clear(fsy_replica *r);

/* Statement cache: acquire gives a reset statement, release resets it. */
int fsy__stmt(fsy_replica *r, int which, sqlite3_stmt **out);
void fsy__stmt_release(sqlite3_stmt *st);
int fsy__exec(fsy_replica *r, const char *sql);
int fsy__tx_begin(fsy_replica *r);
int fsy__tx_commit(fsy_replica *r);
void fsy__tx_rollback(fsy_replica *r);

/* Meta key/value (integers and text) inside the current transaction. */
int fsy__meta_get_int(fsy_replica *r, const char *key, int64_t *out);
int fsy__meta_set_int(fsy_replica *r, const char *key, int64_t v);
int fsy__meta_get_text(fsy_replica *r, const char *key, char **out);
int fsy__meta_set_text(fsy_replica *r, const char *key, const char *v);

/* Wall clock and hybrid clock of this replica. */
int64_t fsy__now_ms(fsy_replica *r);
int64_t fsy__hlc_tick(fsy_replica *r);
void fsy__hlc_observe(fsy_replica *r, int64_t remote);

/* A fresh UUIDv7 in lower-case text form. */
int fsy__uuid_v7(fsy_replica *r, char out[FSY_ID_LEN + 1]);

/* Growable byte buffer for JSON assembly. */
typedef struct fsy_buf {
    char *data;
    size_t len;
    size_t cap;
    bool failed; /* an allocation failed: every later append is a no-op */
} fsy_buf;
void fsy__buf_append(fsy_buf *b, const char *s, size_t n);
void fsy__buf_puts(fsy_buf *b, const char *s);
void fsy__buf_printf(fsy_buf *b, const char *fmt, ...) FSY_PRINTF(2, 3);
void fsy__buf_json_string(fsy_buf *b, const char *s);
char *fsy__buf_take(fsy_buf *b); /* NUL-terminated; NULL if an append failed */
void fsy__buf_free(fsy_buf *b);

/* Bounded copy that always terminates. */
void fsy__strlcpy(char *dst, const char *src, size_t n);
char *fsy__strdup(const char *s);

/* JSON helpers over cJSON. */
int fsy__json_parse_object(fsy_replica *r, const char *json, size_t len, const char *what,
                           cJSON **out);
char *fsy__json_print(const cJSON *v); /* compact; NULL on ENOMEM */

/* Confirmed (server) state of a row. */
typedef struct fsy_confirmed {
    bool exists;
    int64_t ver; /* highest server seq applied to the row */
    int state;   /* FSY_ROW_* */
    cJSON *vals; /* owned: {"field": value} including unknown fields and _deleted */
    cJSON *vers; /* owned: {"field": server version} */
} fsy_confirmed;
int fsy__confirmed_load(fsy_replica *r, const fsy_table *t, const char *id, fsy_confirmed *out);
int fsy__confirmed_store(fsy_replica *r, const fsy_table *t, const char *id,
                         const fsy_confirmed *c);
void fsy__confirmed_clear(fsy_confirmed *c);
int fsy__row_recompute_with(fsy_replica *r, const fsy_table *t, const char *id,
                            const fsy_confirmed *c);

/* Rows: view table <-> cJSON object, and recompute from confirmed + journal. */
int fsy__view_load(fsy_replica *r, const fsy_table *t, const char *id, cJSON **out);
int fsy__view_store(fsy_replica *r, const fsy_table *t, const char *id, const cJSON *row);
int fsy__view_remove(fsy_replica *r, const fsy_table *t, const char *id);
/* Set just `fields` on an existing view row; FSY_ENOTFOUND when there is none. */
int fsy__view_update(fsy_replica *r, const fsy_table *t, const char *id, const cJSON *fields);
int fsy__row_recompute(fsy_replica *r, const fsy_table *t, const char *id);

/* Re-read next_seq, hlc, frozen_upto and identity from the file. */
int fsy__replica_reload_state(fsy_replica *r);
/* Persist the clock and client_seq floors; call in every transaction that removes
 * journal rows (see replica.c). */
int fsy__replica_save_floors(fsy_replica *r);
/* Open and migrate only up to target_version: lets tests build an old replica. */
int fsy__replica_open_at(fsy_replica *r, const char *path, const fsy_replica_opts *opts,
                         int target_version);

/* "YYYY-MM-DDTHH:MM:SS.sssZ" from Unix ms, without the C library's time zone state. */
void fsy__format_time(int64_t ms, char out[48]);

/* Apply a local write of `fields` to row (t, id) in the current transaction:
 * view row and journal entry (with compaction). write.c */
int fsy__local_write(fsy_replica *r, const fsy_table *t, const char *id, int op, cJSON *fields,
                     cJSON *view_row);

#endif
