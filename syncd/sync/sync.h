/*
 * sync.h — the server side of the sync protocol (docs/protocol.md), written once
 * above the store interface: push (exactly-once, per-field merge with conflict
 * records, scope authorization, validation, clock bounding) and pull (scope-
 * filtered change log with removal and entry notices). Called by the HTTP API.
 */
#ifndef FSY_SYNCD_SYNC_H
#define FSY_SYNCD_SYNC_H

#include "store/store.h"

typedef struct fsy_sync_limits {
    int max_push_changes;       /* changes in one push batch */
    int64_t max_clock_ahead_ms; /* a stored clock is bounded to server time + this */
    int pull_default;           /* changes per pull when the device does not say */
    int pull_max;               /* most changes per pull */
    size_t pull_max_bytes;      /* soft cap on a pull body */
} fsy_sync_limits;

#define FSY_SYNC_LIMITS_DEFAULT                                                                    \
    {                                                                                              \
        1000, 5 * 60 * 1000, 1000, 5000, 4u << 20                                                  \
    }

typedef struct fsy_sync_stats {
    uint64_t changes_applied; /* field-level changes written */
    uint64_t conflicts;
    uint64_t rejections;
    uint64_t clock_clamps;
    uint64_t security_events;
} fsy_sync_stats;

typedef struct fsy_sync {
    const fsy_store_ops *ops;
    void *store;
    fsy_sync_limits lim;
    fsy_sync_stats stats;
    int64_t (*now_ms)(void); /* server clock; tests may replace it */
    /* What the requesting device said about its queue (Fsy-Pending / Fsy-Parked), set
     * by the API before a push or pull and written in that request's transaction, so a
     * report costs no commit of its own. has_report false: the device said nothing. */
    bool has_report;
    int64_t report_pending, report_parked;
} fsy_sync;

/* An error the API turns into an HTTP status and a JSON body with a stable code. */
typedef struct fsy_api_error {
    int http;
    const char *code;
    char message[256];
} fsy_api_error;

int64_t fsy_sync_wall_ms(void);

/* Whether user u may see row (DESIGN §4 scope: territory, own records, info_level 4). */
bool fsy_sync_visible(const fsy_user *u, const fsy_srow *row);

/*
 * Apply a push batch from an authenticated device. On success *ack_out is the
 * acknowledgement body (malloc'd). On failure nothing is applied and err says why.
 * device_time_ms: the device's wall clock at sending (0 if unknown), for skew.
 */
int fsy_sync_push(fsy_sync *s, fsy_device *dev, const fsy_user *u, const char *body, size_t len,
                  int64_t device_time_ms, char **ack_out, fsy_api_error *err);

/* Serve a pull batch after `after`; limit 0 means the default. */
int fsy_sync_pull(fsy_sync *s, fsy_device *dev, const fsy_user *u, int64_t after, int limit,
                  int64_t device_time_ms, char **out, fsy_api_error *err);

/* The device name server-side writes carry in the change log and field metadata. */
#define FSY_SYNC_WEB_DEVICE "review-web"

/*
 * A write made on the server by user u (the review page: a review row, a conflict
 * resolved by choosing a value). It goes through push.c's merge, validation,
 * authorization and change log exactly like a pushed change, so every device in
 * scope pulls it; its base is the row's current versions (the writer saw them).
 * Runs inside a transaction the caller opened, so it can be committed together
 * with related store writes. fields: the values to write (copied).
 * On success *version_out is the server version the change received.
 * On failure (invalid value, forbidden, store error) err says why and the
 * caller must roll back.
 */
int fsy_sync_server_write(fsy_sync *s, const fsy_user *u, const char *table, const char *id,
                          const cJSON *fields, int64_t *version_out, fsy_api_error *err);

/*
 * An integer for a document that is printed, as a cJSON item that prints as its
 * digits. cJSON 1.7.15 prints every number with sprintf("%1.15g") and reads it back
 * with sscanf to check it: a microsecond each, and a visit's row stores a version per
 * field and a pull page a sequence number per change (7% of the worker's time at
 * 1,000 devices). The item is Raw, with valuedouble and valueint set: code reading
 * valuedouble sees the number, cJSON_IsNumber does not, so it is only for items that
 * are printed or stored. NULL when out of memory.
 */
cJSON *fsy_sync_int(int64_t v);

#endif
