/*
 * fieldsync.h — the portable sync core that every fieldsync tablet embeds.
 *
 * This header is the whole public API and is written to be read as a manual.
 * The core keeps a local SQLite replica of the rep's scope and a field-level
 * change journal. It never opens a socket or starts a thread: sync batches
 * leave and enter it as JSON bytes, so any HTTP stack can carry them
 * (docs/protocol.md describes the shapes).
 *
 * Conventions
 *  - Fallible calls return FSY_OK (0) or a negative FSY_E* code. After an error
 *    on a replica, fsy_replica_errmsg() says what went wrong (one line naming the
 *    table, row and field where there is one).
 *  - Ownership: you free what you create with the matching _free (NULL is fine);
 *    a `char **out` result is yours and is released with fsy_free(); input
 *    buffers are copied before the call returns; a returned `const char *` is
 *    borrowed until the next call on the same handle.
 *  - Threads: use one replica handle from one thread at a time. Different handles
 *    on the same file may be used from different threads.
 *  - Rows travel as JSON objects: {"field": value, ...}. Text, enumeration,
 *    date ("YYYY-MM-DD"), time ("YYYY-MM-DDTHH:MM:SS[.sss]Z", UTC) and id fields
 *    are JSON strings; integers and coordinates are JSON numbers; null clears an
 *    optional field.
 *  - A write is durable when the call returns FSY_OK (synchronous=FULL by default).
 */
#ifndef FIELDSYNC_H
#define FIELDSYNC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32) && defined(FSY_BUILDING_SHARED)
#define FSY_EXTERN __declspec(dllexport)
#elif defined(__GNUC__)
#define FSY_EXTERN __attribute__((visibility("default")))
#else
#define FSY_EXTERN
#endif

/** Library version as MAJOR*10000 + MINOR*100 + PATCH. */
#define FSY_VERSION_NUMBER 100
/** Replica schema version written by this library (also carried by every batch). */
#define FSY_SCHEMA_VERSION 2
/** Length of a textual row id (UUIDv7, lower-case, with dashes), without the NUL. */
#define FSY_ID_LEN 36

/** Return codes. Never renumbered: the wire protocol and the apps depend on them. */
enum {
    FSY_OK = 0,
    FSY_ERROR = -1,     /**< anything not listed below (I/O error, SQLite failure) */
    FSY_EINVAL = -2,    /**< a bad value: unknown table or field, bad enum, missing field */
    FSY_ENOTFOUND = -3, /**< no such row, parked change or setting */
    FSY_ESCHEMA = -4,   /**< replica or batch from an incompatible schema version */
    FSY_ETOOBIG = -5,   /**< a value, batch or JSON document exceeds its size cap */
    FSY_EBUSY = -6,     /**< the database is locked by another connection: retry later */
    FSY_ECORRUPT = -7,  /**< the replica file or a batch is damaged */
    FSY_ENOMEM = -8,    /**< out of memory */
    FSY_EMISUSE = -9    /**< caller mistake: NULL handle, replica not open, wrong state */
};

/** @return a static, human-readable name for a return code. Thread-safe: yes. */
FSY_EXTERN const char *fsy_strerror(int code);

/**
 * Whether retrying the same call later may succeed (a busy database). A sync agent
 * backs off on transient errors, parks rejections and stops on corruption.
 * Thread-safe: yes.
 */
FSY_EXTERN bool fsy_error_is_transient(int code);

/** @return the library version string, e.g. "0.1.0". Thread-safe: yes. */
FSY_EXTERN const char *fsy_version(void);

/** Release a buffer returned through a `char **out` parameter. NULL is fine. Thread-safe: yes. */
FSY_EXTERN void fsy_free(void *p);

/* ------------------------------------------------------------------------- */
/* The replica                                                               */
/* ------------------------------------------------------------------------- */

typedef struct fsy_replica fsy_replica;

/** Durability of a committed write. */
enum {
    FSY_SYNC_FULL = 2,  /**< fsync on every commit: survives a power cut (default) */
    FSY_SYNC_NORMAL = 1 /**< WAL without fsync per commit: survives an app crash only */
};

/**
 * Options for fsy_replica_open(). Initialise with FSY_REPLICA_OPTS_INIT and
 * change only what you need; new members are appended and `version` bumped.
 */
typedef struct fsy_replica_opts {
    int version;     /**< FSY_REPLICA_OPTS_VERSION */
    int synchronous; /**< FSY_SYNC_FULL or FSY_SYNC_NORMAL */
    /** Wall clock in Unix milliseconds (UTC). NULL uses the C library clock. */
    int64_t (*now_ms)(void *userdata);
    void *now_userdata;        /**< passed to now_ms */
    int64_t max_clock_drag_ms; /**< how far a received clock may pull ours ahead of the
                                  wall clock; 0 means the default, 5 minutes */
    int busy_timeout_ms;       /**< wait for a locked database; 0 means 5000 */
    size_t max_batch_bytes;    /**< cap on a received batch or ack; 0 means 16 MiB */
} fsy_replica_opts;

#define FSY_REPLICA_OPTS_VERSION 1
#define FSY_REPLICA_OPTS_INIT                                                                      \
    {                                                                                              \
        FSY_REPLICA_OPTS_VERSION, FSY_SYNC_FULL, NULL, NULL, 0, 0, 0                               \
    }

/**
 * Allocate a replica handle. It can only fail for lack of memory, so every
 * interesting failure happens later, on a handle that can carry its message.
 *
 * @param out  receives the handle; free it with fsy_replica_free()
 * @return FSY_OK, FSY_ENOMEM, FSY_EMISUSE (out is NULL).
 * Thread-safe: yes.
 */
FSY_EXTERN int fsy_replica_new(fsy_replica **out);

/**
 * Open or create the replica file at `path` and migrate it forward to
 * FSY_SCHEMA_VERSION. A file written by an older version opens with nothing lost;
 * a file written by a newer version is refused.
 *
 * @param r     a handle from fsy_replica_new() that is not open yet
 * @param path  file name; copied
 * @param opts  NULL for the defaults
 * @return FSY_OK, FSY_ESCHEMA (newer schema), FSY_ECORRUPT (not a replica or damaged),
 *         FSY_EBUSY, FSY_ERROR (cannot open), FSY_EMISUSE (already open), FSY_ENOMEM.
 * Thread-safe: no.
 */
FSY_EXTERN int fsy_replica_open(fsy_replica *r, const char *path, const fsy_replica_opts *opts);

/** Close the replica and free the handle. NULL is fine. Thread-safe: no. */
FSY_EXTERN void fsy_replica_free(fsy_replica *r);

/**
 * @return the message of the last failed call on `r`, or "" if there was none.
 *         Borrowed: valid until the next call on `r`. Never NULL.
 * Thread-safe: no.
 */
FSY_EXTERN const char *fsy_replica_errmsg(const fsy_replica *r);

/**
 * Record who this device is, after enrolment. The device id stamps every change
 * the device pushes; `user` fills the author fields of new rows when they are
 * left out (visits.rep, notes.author).
 *
 * @param device_id  the id the server issued; copied
 * @param user       the rep's user name; copied
 * @return FSY_OK, FSY_EINVAL (empty or oversized value), FSY_EMISUSE, FSY_ERROR.
 * Thread-safe: no.
 */
FSY_EXTERN int fsy_replica_set_identity(fsy_replica *r, const char *device_id, const char *user);

/**
 * Store an application setting (server URL, token file, …) in the replica.
 * Keys starting with "fsy." are reserved for the core.
 *
 * @param value  NULL deletes the setting
 * @return FSY_OK, FSY_EINVAL (reserved or oversized key or value), FSY_EMISUSE, FSY_ERROR.
 * Thread-safe: no.
 */
FSY_EXTERN int fsy_replica_config_set(fsy_replica *r, const char *key, const char *value);

/**
 * Read a setting stored with fsy_replica_config_set(), or a reserved one:
 * "fsy.device_id", "fsy.user".
 *
 * @param out  receives a copy; release with fsy_free()
 * @return FSY_OK, FSY_ENOTFOUND, FSY_EMISUSE, FSY_ERROR.
 * Thread-safe: no.
 */
FSY_EXTERN int fsy_replica_config_get(fsy_replica *r, const char *key, char **out);

/* ------------------------------------------------------------------------- */
/* Local writes: customers, contacts, visits, notes, reviews                 */
/* ------------------------------------------------------------------------- */

/**
 * Create a row. The row and its journal entry are written in one transaction: on
 * any error nothing is written. Required fields must be present; enumerations,
 * ranges and sizes are validated. docs/schema.md lists every field.
 *
 * @param table        "customers", "contacts", "visits", "notes" or "reviews"
 * @param fields_json  a JSON object of field values, without "id"
 * @param id_out       receives the new UUIDv7 id, NUL-terminated (may be NULL)
 * @return FSY_OK, FSY_EINVAL (unknown table or field, bad value, missing field),
 *         FSY_ETOOBIG (oversized value), FSY_EBUSY, FSY_ERROR, FSY_EMISUSE.
 * Thread-safe: no.
 */
FSY_EXTERN int fsy_replica_insert(fsy_replica *r, const char *table, const char *fields_json,
                                  char id_out[FSY_ID_LEN + 1]);

/**
 * Change some fields of a row. Only the fields named in `fields_json` change and
 * are journalled; repeated edits of a field before a sync compact into one pending
 * change that keeps the base version of the first edit.
 *
 * @return FSY_OK, FSY_ENOTFOUND (no such row), FSY_EINVAL, FSY_ETOOBIG, FSY_EBUSY,
 *         FSY_ERROR, FSY_EMISUSE.
 * Thread-safe: no.
 */
FSY_EXTERN int fsy_replica_update(fsy_replica *r, const char *table, const char *id,
                                  const char *fields_json);

/**
 * Delete a row. The delete syncs as a tombstone; the server keeps history.
 *
 * @return FSY_OK, FSY_ENOTFOUND, FSY_EINVAL (unknown table, bad id), FSY_EBUSY,
 *         FSY_ERROR, FSY_EMISUSE.
 * Thread-safe: no.
 */
FSY_EXTERN int fsy_replica_delete(fsy_replica *r, const char *table, const char *id);

/**
 * Read one row as a JSON object, including "id" and any field this version does
 * not know that the server sent.
 *
 * @param out  receives the JSON text; release with fsy_free()
 * @return FSY_OK, FSY_ENOTFOUND, FSY_EINVAL, FSY_ERROR, FSY_EMISUSE.
 * Thread-safe: no.
 */
FSY_EXTERN int fsy_replica_get(fsy_replica *r, const char *table, const char *id, char **out);

/**
 * Check in to a visit: records the device's wall-clock time (UTC) and position,
 * and sets the status to "in-progress". The hybrid clock of the edit travels in
 * the journal, so the server can show the device's clock skew next to the time.
 *
 * @param lat, lon  WGS84 degrees; NaN for "no fix"
 * @return FSY_OK, FSY_ENOTFOUND, FSY_EINVAL (bad position, visit done or cancelled),
 *         FSY_EBUSY, FSY_ERROR, FSY_EMISUSE.
 * Thread-safe: no.
 */
FSY_EXTERN int fsy_visit_check_in(fsy_replica *r, const char *visit_id, double lat, double lon);

/**
 * Check out of a visit: records time and position, sets the status to "done",
 * and applies `fields_json` (outcome, next_steps, satisfaction, …; may be NULL)
 * in the same write.
 *
 * @return FSY_OK, FSY_ENOTFOUND, FSY_EINVAL (not checked in, bad value), FSY_EBUSY,
 *         FSY_ERROR, FSY_EMISUSE.
 * Thread-safe: no.
 */
FSY_EXTERN int fsy_visit_check_out(fsy_replica *r, const char *visit_id, double lat, double lon,
                                   const char *fields_json);

/* ------------------------------------------------------------------------- */
/* Queries for the tablet UI. Each returns a JSON array of row objects.      */
/* ------------------------------------------------------------------------- */

/**
 * Customers, ordered by name.
 *
 * @param territory    only this territory; NULL for all in the replica
 * @param name_prefix  only names starting with this (case-insensitive); NULL for all
 * @param limit        at most this many rows; 0 means 100
 * @param offset       rows to skip, for paging
 * @param out          receives a JSON array; release with fsy_free()
 * @return FSY_OK, FSY_EINVAL, FSY_ERROR, FSY_EMISUSE.
 * Thread-safe: no.
 */
FSY_EXTERN int fsy_query_customers(fsy_replica *r, const char *territory, const char *name_prefix,
                                   int limit, int offset, char **out);

/** Contacts of a customer, ordered by name. Same conventions as fsy_query_customers(). */
FSY_EXTERN int fsy_query_contacts(fsy_replica *r, const char *customer_id, char **out);

/**
 * Visits, newest first by planned_at (else check-in time).
 *
 * @param customer_id  only this customer's visits; NULL for all
 * @param from, to     inclusive UTC time bounds ("YYYY-MM-DDTHH:MM:SSZ" or a date); NULL
 *                     for open-ended
 * Other parameters as in fsy_query_customers().
 */
FSY_EXTERN int fsy_query_visits(fsy_replica *r, const char *customer_id, const char *from,
                                const char *to, int limit, int offset, char **out);

/** Notes of a customer, newest first. Same conventions as fsy_query_customers(). */
FSY_EXTERN int fsy_query_notes(fsy_replica *r, const char *customer_id, char **out);

/** Supervisor reviews of a visit, newest first. Same conventions as fsy_query_customers(). */
FSY_EXTERN int fsy_query_reviews(fsy_replica *r, const char *visit_id, char **out);

/**
 * Number of local changes not yet acknowledged by the server (parked ones excluded).
 * @return FSY_OK, FSY_ERROR, FSY_EMISUSE.
 * Thread-safe: no.
 */
FSY_EXTERN int fsy_pending_count(fsy_replica *r, int64_t *out);

/**
 * Sync state as a JSON object: {"cursor", "pending", "parked", "conflicts",
 * "last_sync_ms", "last_attempt_ms", "last_error", "device_id", "user", "schema"}.
 *
 * @param out  receives the JSON text; release with fsy_free()
 * Thread-safe: no.
 */
FSY_EXTERN int fsy_sync_status(fsy_replica *r, char **out);

/**
 * Record the outcome of a sync round (the agent calls this), for fsy_sync_status().
 *
 * @param ok     whether the round completed
 * @param error  what failed when !ok; copied; may be NULL
 * Thread-safe: no.
 */
FSY_EXTERN int fsy_sync_record(fsy_replica *r, bool ok, const char *error);

/**
 * Conflicts the server resolved on this device's edits, newest first: for each,
 * the table, row, field, this device's value, the other value, the other author
 * and which one won. A JSON array.
 * Thread-safe: no.
 */
FSY_EXTERN int fsy_query_conflicts(fsy_replica *r, char **out);

/**
 * Parked changes: edits the server refused, with its stable code and reason.
 * They stay visible until retried or discarded; the rest of the queue keeps
 * flowing. A JSON array of {"seq", "table", "id", "op", "fields", "code", "reason"}.
 * Thread-safe: no.
 */
FSY_EXTERN int fsy_query_parked(fsy_replica *r, char **out);

/**
 * Queue a parked change again, after the cause was fixed (the customer moved back
 * into the rep's territory, a supervisor granted access, …). It gets a new sequence
 * number and its values are shown again.
 *
 * @param seq  the "seq" from fsy_query_parked()
 * @return FSY_OK, FSY_ENOTFOUND, FSY_EINVAL (its values no longer pass validation),
 *         FSY_ERROR, FSY_EMISUSE.
 * Thread-safe: no.
 */
FSY_EXTERN int fsy_parked_retry(fsy_replica *r, int64_t seq);

/**
 * Drop a parked change for good (the rep accepts the server's refusal).
 * @return FSY_OK, FSY_ENOTFOUND, FSY_ERROR, FSY_EMISUSE.
 * Thread-safe: no.
 */
FSY_EXTERN int fsy_parked_discard(fsy_replica *r, int64_t seq);

/* ------------------------------------------------------------------------- */
/* Sync: batches as JSON bytes (docs/protocol.md)                            */
/* ------------------------------------------------------------------------- */

/**
 * Export the oldest pending changes as a push batch. Call it again after the
 * acknowledgement to get the next batch. Until acknowledged, exporting again
 * returns the same changes with the same bodies, so a retried request is
 * byte-for-byte a retry; edits made meanwhile become new changes.
 *
 * @param max_changes  at most this many changes; 0 means 500
 * @param max_bytes    soft cap on the body size; 0 means 1 MiB (a single change larger
 *                     than the cap is still exported alone)
 * @param out          receives the JSON body, or NULL when nothing is pending;
 *                     release with fsy_free()
 * @param len_out      receives the body length (may be NULL)
 * @param n_out        receives the number of changes in the batch (may be NULL)
 * @return FSY_OK, FSY_EMISUSE (no device identity yet), FSY_ERROR, FSY_ENOMEM.
 * Thread-safe: no.
 */
FSY_EXTERN int fsy_push_export(fsy_replica *r, int max_changes, size_t max_bytes, char **out,
                               size_t *len_out, int *n_out);

/**
 * Apply the server's acknowledgement of a push batch: accepted changes become
 * confirmed state (with the server version each field received), conflicts are
 * recorded for the rep, refused changes are parked with their reason and their
 * values revert to the confirmed state. Applying an acknowledgement twice, or one
 * for changes no longer pending, changes nothing.
 *
 * @param json, len  the response body; copied
 * @return FSY_OK, FSY_EINVAL (malformed acknowledgement), FSY_ETOOBIG, FSY_ESCHEMA,
 *         FSY_EBUSY, FSY_ERROR, FSY_EMISUSE. On error nothing is applied.
 * Thread-safe: no.
 */
FSY_EXTERN int fsy_push_apply_ack(fsy_replica *r, const char *json, size_t len);

/**
 * The pull cursor: the server sequence number up to which this replica has pulled.
 * Send it as `after` in the next pull request.
 * Thread-safe: no.
 */
FSY_EXTERN int fsy_pull_cursor(fsy_replica *r, int64_t *out);

/**
 * Apply a batch pulled from the server: the confirmed state is updated, pending
 * local edits stay on top (the rep never sees an unsynced edit vanish), rows that
 * left the device's scope are removed, and the cursor advances. Fields this
 * version does not know are kept. Applying the same batch twice is a no-op.
 *
 * @param json, len  the response body; copied
 * @param more_out   receives whether the server has more changes (may be NULL)
 * @return FSY_OK, FSY_EINVAL (malformed batch), FSY_ETOOBIG, FSY_ESCHEMA, FSY_EBUSY,
 *         FSY_ERROR, FSY_EMISUSE. On error nothing is applied.
 * Thread-safe: no.
 */
FSY_EXTERN int fsy_pull_apply(fsy_replica *r, const char *json, size_t len, bool *more_out);

/**
 * Every row of the replica as JSON {"customers": [...], "contacts": [...], …}, for
 * scripts, tests and support. Holds the whole replica in memory: not for the UI.
 * Thread-safe: no.
 */
FSY_EXTERN int fsy_replica_export(fsy_replica *r, char **out);

/**
 * Erase every row, journal entry, conflict and the identity: what a revoked device
 * does when the server tells it to wipe. Settings stored with
 * fsy_replica_config_set() are kept.
 * Thread-safe: no.
 */
FSY_EXTERN int fsy_replica_wipe(fsy_replica *r);

#ifdef __cplusplus
}
#endif
#endif /* FIELDSYNC_H */
