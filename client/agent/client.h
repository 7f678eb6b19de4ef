/*
 * client.h — the rep client's sync logic on top of core/ and the transport:
 * settings kept in the replica, enrolment, and one sync round (push every
 * pending change, then pull until the server has nothing more). The CLI and
 * the background agent (agent.c) both use it.
 */
#ifndef FSY_CLIENT_H
#define FSY_CLIENT_H

#include "fieldsync.h"
#include "transport.h"

#include <signal.h>

/* Settings stored in the replica (fsy_replica_config_set). */
#define FSY_CFG_SERVER "client.server_url"
#define FSY_CFG_CA     "client.ca_file"
#define FSY_CFG_PIN    "client.pinned_pubkey"
#define FSY_CFG_TOKEN  "client.token"

typedef enum fsy_sync_outcome {
    FSY_SYNC_DONE = 0,    /* everything pushed, everything pulled */
    FSY_SYNC_OFFLINE = 1, /* no connection or a server error worth retrying later */
    FSY_SYNC_FAILED = 2,  /* refused in a way retrying will not fix (see message) */
    FSY_SYNC_WIPED = 3,   /* the device was revoked: the replica has been wiped */
    FSY_SYNC_LOCAL = 4,   /* the replica itself failed (disk, corruption) */
    FSY_SYNC_STOPPED = 5  /* asked to stop between two requests */
} fsy_sync_outcome;

typedef struct fsy_sync_report {
    int64_t changes_up;   /* changes acknowledged (applied or parked) */
    int64_t changes_down; /* changes pulled */
    int64_t parked;       /* changes the server refused in this round */
    size_t bytes_up, bytes_down;
    int requests;
    long last_status;
    char message[300];
} fsy_sync_report;

typedef void (*fsy_progress_cb)(const fsy_sync_report *so_far, void *userdata);

/* Build the transport from the replica's settings. */
int fsy_client_transport(fsy_replica *r, fsy_transport **out, char *err, size_t errlen);

/* POST /v1/enroll and store identity and token in the replica. */
int fsy_client_enroll(fsy_replica *r, const char *user, const char *code, char *err, size_t errlen);

/*
 * One round: push, then pull. stop (may be NULL) is checked between requests.
 * The outcome is also recorded with fsy_sync_record for `status`.
 */
fsy_sync_outcome fsy_client_sync(fsy_replica *r, fsy_transport *t, volatile sig_atomic_t *stop,
                                 fsy_progress_cb progress, void *userdata, fsy_sync_report *rep);

#endif
