/*
 * review.h — the supervisor review: login sessions, the JSON review API under
 * /api/review/ and the embedded web page under /review (docs/review.md).
 * Called by api.c on the network worker thread, one request at a time, so its
 * in-memory tables (logouts seen here, login failures) need no locking. Sessions are
 * signed cookies, valid on every daemon sharing the data directory's review.key.
 */
#ifndef FSY_SYNCD_REVIEW_H
#define FSY_SYNCD_REVIEW_H

#include "http.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct fsy_api;
typedef struct fsy_review fsy_review;

/* Limits; the defaults are in review.c and documented in docs/review.md. */
typedef struct fsy_review_limits {
    int user_max_failures;   /* failed logins per user name within window_ms */
    int ip_max_failures;     /* failed logins per client address within window_ms */
    int64_t window_ms;       /* failure counting window, and the lock-out after it trips */
    int64_t session_idle_ms; /* a session unused this long ends */
    int64_t session_max_ms;  /* a session ends this long after login, used or not */
} fsy_review_limits;

/* Only FSY_ENOMEM. */
int fsy_review_new(fsy_review **out);

/*
 * Load the key that signs session cookies from DIR/review.key, creating it (256
 * random bits, mode 0600) when absent; `fieldsyncd init` and `serve` call it. Every
 * daemon serving one store must hold the same file (copy the data directory), so a
 * supervisor logged in through one daemon is logged in on all of them. Without a
 * loaded key a random one is drawn at first use: sessions then hold on one daemon.
 * Returns FSY_OK, FSY_ECORRUPT (damaged file) or FSY_ERROR, with a message in err.
 */
int fsy_review_load_key(fsy_review *rv, const char *dir, char *err, size_t errlen);
void fsy_review_free(fsy_review *rv);
fsy_review_limits *fsy_review_limits_of(fsy_review *rv);

/* True when the path belongs to the review page or API. */
bool fsy_review_owns(const char *path);

/* Answer a request for which fsy_review_owns() is true. */
void fsy_review_handle(fsy_review *rv, struct fsy_api *api, const fsy_http_request *req,
                       fsy_http_response *resp);

/* Verify a password against a "pbkdf2-sha256$iter$salt$dk" string in constant time
 * with respect to the stored key. An empty or malformed hash never matches. */
bool fsy_review_password_ok(const char *pw_hash, const char *password);

/* The embedded web files (generated at build time from syncd/web/). */
typedef struct fsy_web_file {
    const char *name; /* "index.html" */
    const char *content_type;
    const unsigned char *data;
    size_t len;
} fsy_web_file;
extern const fsy_web_file fsy_web_files[];
extern const size_t fsy_web_n_files;

#endif
