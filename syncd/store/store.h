/*
 * store.h — everything fieldsyncd keeps, behind one versioned table of
 * function pointers chosen at start-up (SQLite now, PostgreSQL later). The
 * operations are primitives inside a transaction the caller opens; the sync
 * rules themselves (merge.c, pull.c) are written once, above this line.
 */
#ifndef FSY_STORE_H
#define FSY_STORE_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FSY_STORE_ERR_LEN 256

enum { FSY_ROLE_REP = 0, FSY_ROLE_SUPERVISOR = 1, FSY_ROLE_ADMIN = 2 };

typedef struct fsy_user {
    char name[101];
    int role;             /* FSY_ROLE_* */
    char territory[101];  /* reps: the territory they cover */
    char supervisor[101]; /* reps: their supervisor's user name, "" if none */
    char pw_hash[200];    /* supervisors/admins: KDF string for the review login */
    int64_t created_ms;
} fsy_user;

typedef struct fsy_device {
    char id[37];
    char user[101];
    unsigned char token_hash[32]; /* SHA-256 of the bearer token; the token is never stored */
    int64_t created_ms;
    int64_t revoked_ms;   /* 0 while active */
    int64_t hwm;          /* highest client_seq applied, stored in the batch's transaction */
    int64_t cursor;       /* highest server seq this device has pulled */
    int64_t last_sync_ms; /* last successful push or pull */
    int64_t skew_ms;      /* device clock minus server clock at its last request */
    char app_version[41];
} fsy_device;

/* A row as the server holds it: values plus, per field, who wrote which version. */
typedef struct fsy_srow {
    int tbl;
    char id[37];
    bool exists;
    int64_t ver;          /* highest server seq applied to the row */
    cJSON *vals;          /* owned: {"field": value}, unknown fields and _deleted included */
    cJSON *meta;          /* owned: {"field": [version, "device", "hlc", "user"]} */
    char territory[101];  /* customers: own; children: the customer's */
    char owner[101];      /* visits: rep; notes: author; reviews: the visit's rep */
    char customer_id[37]; /* the customer a row hangs off ("" for customers) */
    int info_level;       /* notes only; 0 otherwise */
} fsy_srow;

/*
 * One entry of the global change log. kind: 'c' change, 's' scope move of a customer.
 * q is the version the change gave its fields, taken inside the writing transaction;
 * pos is the entry's place in the log, the pull cursor. A store may only hand out a
 * pos once no entry with a smaller pos can still appear (docs/protocol.md, "The change
 * log and late commits"): SQLite, with one writer, uses pos = q.
 */
typedef struct fsy_logrec {
    int64_t q;
    int64_t pos;
    char kind;
    int tbl;
    char id[37];
    char device[37];
    char user[101];
    char hlc[17];
    const char *fields;      /* JSON object text; NULL for scope entries */
    char old_territory[101]; /* scope entries: where the customer was */
    int64_t at_ms;
    /* log_append stores territory and owner as the change left the row ('c' entries);
     * log_read fills all four with the row's scope as it is now, so a pull judges
     * visibility without loading the row. */
    bool row_exists;
    char territory[101];
    char owner[101];
    int info_level;
} fsy_logrec;

/* Whose entries a pull wants (a rep: their territory, and their own records anywhere). */
typedef struct fsy_log_scope {
    const char *territory;
    const char *owner;
} fsy_log_scope;

typedef struct fsy_conflict {
    int tbl;
    char id[37];
    char field[64];
    const char *kept;  /* JSON text of the value that stands */
    const char *other; /* JSON text of the value that lost */
    char kept_device[37], kept_user[101], kept_hlc[17];
    char other_device[37], other_user[101], other_hlc[17];
    int64_t q; /* server seq of the change that raised it */
    int64_t at_ms;
    bool clock_clamped; /* a clock was bounded to the server's (skew) */
} fsy_conflict;

/* Review queries (version 2): a visit with what the review list shows beside it. */
typedef struct fsy_visit_filter {
    const char *team;     /* supervisor: only visits of reps whose supervisor this is; NULL all */
    const char *rep;      /* exact rep name; NULL any */
    const char *customer; /* customer id, or part of its name (case-insensitive); NULL any */
    const char *from;     /* UTC time or date, inclusive, on planned_at (else checkin_at) */
    const char *to;       /* UTC time or date, exclusive */
    const char *status;   /* visit status; NULL any */
    const char *review;   /* latest review state: "none", "reviewed", "needs-follow-up"; NULL any */
    int has_conflicts;    /* -1 any, 0 no open conflict, 1 some (on the visit or its customer) */
    int limit, offset;    /* page */
} fsy_visit_filter;

typedef struct fsy_visit_item {
    const fsy_srow *visit;
    const char *customer_name;  /* "" when the customer is unknown */
    bool is_customer_deleted;   /* history is kept: the visit stays reviewable */
    const char *review_state;   /* latest review's state; "" when none */
    const char *review_comment; /* latest review's comment; "" when none */
    int open_conflicts;         /* on the visit row and on its customer */
} fsy_visit_item;

typedef struct fsy_conflict_filter {
    const char *team;        /* supervisor: only conflicts one of whose authors is in the team */
    int64_t n;               /* one conflict by number; 0 any */
    const char *row_id;      /* with tbl: conflicts of that row; NULL any */
    int tbl;                 /* table of row_id */
    const char *customer_id; /* also the conflicts of this customer row; NULL none */
    bool is_open_only;       /* unresolved only */
    int limit;               /* at most this many, newest first */
} fsy_conflict_filter;

typedef struct fsy_conflict_item {
    fsy_conflict c;
    int64_t n;             /* conflict number */
    char resolved_by[101]; /* "" while open */
    int64_t resolved_ms;   /* 0 while open */
} fsy_conflict_item;

/* A device with what it last reported about its queue (-1 = never reported). */
typedef struct fsy_device_health {
    fsy_device d;
    int64_t pending;
    int64_t parked;
    int64_t reported_ms;
    int64_t open_conflicts; /* unresolved conflicts one side of which came from this device */
} fsy_device_health;

typedef int (*fsy_log_cb)(const fsy_logrec *rec, void *userdata);
typedef int (*fsy_row_cb)(const fsy_srow *row, void *userdata);
typedef int (*fsy_device_cb)(const fsy_device *dev, void *userdata);
typedef int (*fsy_user_cb)(const fsy_user *u, void *userdata);
typedef int (*fsy_visit_cb)(const fsy_visit_item *it, void *userdata);
typedef int (*fsy_conflict_cb)(const fsy_conflict_item *it, void *userdata);
typedef int (*fsy_health_cb)(const fsy_device_health *h, void *userdata);

/* Every call returns 0 or a negative FSY_E* code and fills err on failure. */
typedef struct fsy_store_ops {
    int version; /* bump when a member is appended (now 3) */
    const char *name;
    int (*open)(void **ctx, const char *dsn, char *err, size_t errlen);
    void (*close)(void *ctx);
    const char *(*errmsg)(void *ctx);

    int (*begin)(void *ctx);
    int (*commit)(void *ctx); /* durable when it returns 0 */
    void (*rollback)(void *ctx);

    int (*user_put)(void *ctx, const fsy_user *u);
    int (*user_get)(void *ctx, const char *name, fsy_user *out); /* FSY_ENOTFOUND */
    int (*code_put)(void *ctx, const unsigned char hash[32], const char *user, int64_t expires_ms);
    int (*code_take)(void *ctx, const unsigned char hash[32], int64_t now_ms, char user_out[101]);

    int (*device_put)(void *ctx, const fsy_device *d);
    int (*device_get)(void *ctx, const char *id, fsy_device *out);
    int (*device_by_token)(void *ctx, const unsigned char hash[32], fsy_device *out);
    int (*device_list)(void *ctx, fsy_device_cb cb, void *userdata);

    /* Exactly-once: the stored acknowledgement of (device, client_seq). */
    int (*result_get)(void *ctx, const char *device, int64_t seq, unsigned char hash_out[32],
                      char **json_out);
    int (*result_put)(void *ctx, const char *device, int64_t seq, const unsigned char hash[32],
                      const char *json);

    int (*row_get)(void *ctx, int tbl, const char *id, fsy_srow *out); /* exists=false if none */
    int (*row_put)(void *ctx, const fsy_srow *row);
    int (*rows_of_customer)(void *ctx, const char *customer_id, fsy_row_cb cb, void *userdata);

    int (*log_append)(void *ctx, fsy_logrec *rec); /* assigns rec->q */
    /* Entries with pos > after, in pos order, at most limit, each with its row's current
     * scope (row_exists, territory, owner, info_level). scope NULL: every entry; else only
     * entries whose stored (write-time) territory or owner matches, every 's' entry, and
     * entries with no stored territory: a prefilter, pull.c judges each on the row now.
     * *seen_out: the pos through which the log was examined, in the same snapshot: the
     * last entry given to cb when limit were delivered or cb stopped, else the log's head. */
    int (*log_read)(void *ctx, int64_t after, int limit, const fsy_log_scope *scope, fsy_log_cb cb,
                    void *userdata, int64_t *seen_out);
    int64_t (*log_max)(void *ctx); /* the highest pos handed out */

    int (*conflict_put)(void *ctx, const fsy_conflict *c);
    int (*event_put)(void *ctx, const char *kind, const char *device, const char *detail,
                     int64_t at_ms);

    /* ---- version 2: supervisor review (syncd/review) ---- */
    int (*user_list)(void *ctx, fsy_user_cb cb, void *userdata); /* by name */
    /* Visits matching f, newest first; *total_out = all matches, ignoring the page. */
    int (*visit_query)(void *ctx, const fsy_visit_filter *f, fsy_visit_cb cb, void *userdata,
                       int64_t *total_out);
    /* The change-log entries ('c') of one row, in q order. */
    int (*row_log)(void *ctx, int tbl, const char *id, fsy_log_cb cb, void *userdata);
    int (*conflict_query)(void *ctx, const fsy_conflict_filter *f, fsy_conflict_cb cb,
                          void *userdata);
    /* Mark conflict n resolved; FSY_ENOTFOUND when there is none or it is resolved already. */
    int (*conflict_resolve)(void *ctx, int64_t n, const char *user, int64_t at_ms);
    /* What a device said about its queue on its last push or pull. */
    int (*device_report)(void *ctx, const char *device, int64_t pending, int64_t parked,
                         int64_t at_ms);
    /* Devices of the team's users (team NULL: all), with their reports. */
    int (*device_health)(void *ctx, const char *team, fsy_health_cb cb, void *userdata);

    /* ---- version 3: group commit (may be NULL: no grouping) ---- */
    /* Open a group: until group_end, begin/commit/rollback mark out one request's work
     * inside one store transaction (savepoints), and commit is NOT durable yet. */
    int (*group_begin)(void *ctx);
    /* Close it: commit (durable when it returns 0) or, with is_commit false or on
     * failure, roll everything in the group back. */
    int (*group_end)(void *ctx, bool is_commit);
    /* A parent's scope columns and ver only (vals and meta left NULL; exists=false if
     * none): what judging a child's scope needs, without parsing JSON. A store with row
     * locks takes a shared one there, which row_get's exclusive lock (a move) respects.
     * NULL: push.c uses row_get. */
    int (*row_scope)(void *ctx, int tbl, const char *id, fsy_srow *out);
    /* Take the locks row_get would take on these rows, all now, in one order every
     * daemon uses: two batches touching the same rows in opposite orders then wait
     * instead of deadlocking. NULL: the store has no row locks (SQLite: one writer). */
    int (*lock_rows)(void *ctx, int n, const int *tbls, const char *const *ids);
} fsy_store_ops;

extern const fsy_store_ops fsy_store_sqlite;

void fsy_srow_init(fsy_srow *r);
void fsy_srow_clear(fsy_srow *r);

#endif
