/*
 * api.h — fieldsyncd's HTTP API: routing, device authentication, enrolment,
 * push, pull, /healthz and /metrics. One fsy_api per daemon; its handler and
 * batch_end run on the network server's one worker thread (syncd/net), one request
 * at a time, so nothing here needs locking.
 */
#ifndef FSY_SYNCD_API_H
#define FSY_SYNCD_API_H

#include "http.h"
#include "net.h"
#include "sync/sync.h"

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>

enum {
    FSY_EP_HEALTHZ,
    FSY_EP_METRICS,
    FSY_EP_ENROLL,
    FSY_EP_PUSH,
    FSY_EP_PULL,
    FSY_EP_REVIEW,
    FSY_EP_OTHER,
    FSY_EP_COUNT
};

#define FSY_LAT_BUCKETS 12

typedef struct fsy_endpoint_stats {
    uint64_t requests;
    uint64_t errors;                  /* responses with status >= 400 */
    uint64_t bucket[FSY_LAT_BUCKETS]; /* cumulative-ready counts per upper bound */
    double seconds_sum;
} fsy_endpoint_stats;

typedef struct fsy_api {
    fsy_sync sync;
    fsy_net_server *net; /* for connection gauges in /metrics; may be NULL */
    mbedtls_entropy_context entropy;
    mbedtls_ctr_drbg_context drbg;
    fsy_endpoint_stats ep[FSY_EP_COUNT];
    uint64_t auth_failures;
    uint64_t enrollments;
    bool log_requests;
    struct fsy_review *review; /* the supervisor review (syncd/review); owned */
    bool is_grouping;          /* the store can group commits (store.h version 3) */
    bool in_group;             /* a group is open for this wake-up of the loop */
    uint64_t group_commits, group_failures;
} fsy_api;

int fsy_api_init(fsy_api *api, const fsy_store_ops *ops, void *store, const fsy_sync_limits *lim);
void fsy_api_free(fsy_api *api);
void fsy_api_handle(const fsy_http_request *req, fsy_http_response *resp, void *userdata);
/* fsy_net_opts.batch_end: commit the wake-up's group; nonzero when it failed. */
int fsy_api_batch_end(void *userdata);

/* Shared with the admin commands in main.c. */
void fsy_api_sha256(const void *data, size_t len, unsigned char out[32]);
int fsy_api_random_token(fsy_api *api, char *out, size_t n_bytes); /* hex, 2*n_bytes+1 */
int fsy_api_uuid_v7(fsy_api *api, char out[37]);

#endif
