/*
 * review.c — the supervisor review (docs/review.md): password login with
 * signed, stateless sessions that every daemon sharing the data directory's
 * review.key accepts (HttpOnly, Secure, SameSite=Strict cookie; a CSRF token on
 * every write), failed-login rate limits per user and per address, the JSON API
 * (visits, one visit's history and conflicts, reviews, conflict resolution, CSV,
 * sync health) and the embedded page. Writes go through fsy_sync_server_write(),
 * so they are ordinary synced changes that reach the reps' tablets.
 */
#include "review.h"
#include "api/api.h"
#include "fieldsync.h"
#include "schema.h"

#include <errno.h>
#include <fcntl.h>
#include <mbedtls/md.h>
#include <mbedtls/pkcs5.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <unistd.h>

#define N_REVOKED    1024
#define N_BUCKETS    512
#define COOKIE_NAME  "fsy_session"
#define COOKIE_MAX   420 /* sid, two times, the user name in hex, password tag, MAC */
#define MAX_PAGE     200
#define MAX_CSV_ROWS 10000
#define KEY_FILE     "review.key"
/* A cookie's last-use time is renewed at most this often (one Set-Cookie a second). */
#define SESSION_RENEW_MS 1000
/* Daemons' clocks differ a little: a cookie issued this far "in the future" still counts. */
#define SESSION_CLOCK_SLACK_MS (5 * 60 * 1000)

/*
 * A session is its cookie: sid.created_ms.last_ms.hex(user).pw_tag.mac, where pw_tag
 * is an HMAC of the user's stored password hash and mac an HMAC-SHA256 of all the rest,
 * both under the review key. Any daemon holding the same key checks it without shared
 * state (a forged cookie fails before the store is asked); a changed password ends
 * every session of that user on every daemon. The CSRF token is HMAC(key, "csrf" + sid): also the
 * same on every daemon, and never in a cookie.
 */
typedef struct session {
    char sid[33]; /* 128 random bits, hex: names the session (logout) */
    char user[101];
    char pw_tag[33]; /* HMAC of the user's password hash at login, 128 bits hex */
    int64_t created_ms, last_ms;
    char csrf[65]; /* hex; sent by the page in X-CSRF-Token on every write */
} session;

/* A session ended by logout on this daemon, refused here until it would have expired. */
typedef struct revoked {
    char sid[33]; /* "" = free */
    int64_t until_ms;
} revoked;

typedef struct bucket {
    bool is_used;
    char key[128];        /* "u:name" or "ip:address" */
    int failures;         /* within the window starting at start_ms */
    int64_t start_ms;     /* first failure of the window */
    int64_t locked_until; /* 0, or when a tripped limit lets go */
} bucket;

struct fsy_review {
    fsy_review_limits lim;
    unsigned char key[32]; /* HMAC key of the session cookies (review.key) */
    bool has_key;          /* false until loaded or, without a data directory, drawn */
    revoked revoked[N_REVOKED];
    bucket buckets[N_BUCKETS];
};

int fsy_review_new(fsy_review **out)
{
    fsy_review *rv = calloc(1, sizeof(*rv));
    *out = rv;
    if (!rv)
        return FSY_ENOMEM;
    rv->lim.user_max_failures = 5;
    rv->lim.ip_max_failures = 20;
    rv->lim.window_ms = 15 * 60 * 1000;
    rv->lim.session_idle_ms = 60 * 60 * 1000;
    rv->lim.session_max_ms = 12 * 60 * 60 * 1000;
    return FSY_OK;
}

void fsy_review_free(fsy_review *rv)
{
    if (rv)
        memset(rv->key, 0, sizeof(rv->key));
    free(rv);
}

fsy_review_limits *fsy_review_limits_of(fsy_review *rv)
{
    return &rv->lim;
}

bool fsy_review_owns(const char *path)
{
    return strcmp(path, "/review") == 0 || strncmp(path, "/review/", 8) == 0 ||
           strncmp(path, "/api/review/", 12) == 0;
}

/* ---- responses ------------------------------------------------------------ */

static void error(fsy_http_response *resp, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void error(fsy_http_response *resp, int status, const char *code, const char *fmt, ...)
{
    char msg[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    fsy__http_response_set_error(resp, status, code, msg);
}

static void send_json(fsy_http_response *resp, int status, cJSON *doc)
{
    char *txt = doc ? cJSON_PrintUnformatted(doc) : NULL;
    cJSON_Delete(doc);
    if (!txt) {
        error(resp, 500, "out_of_memory", "out of memory");
        return;
    }
    free(resp->body);
    resp->status = status;
    resp->content_type = "application/json";
    resp->body = txt;
    resp->body_len = strlen(txt);
}

static void store_error(fsy_api *api, fsy_http_response *resp)
{
    error(resp, 503, "store_unavailable", "%s", api->sync.ops->errmsg(api->sync.store));
    fsy__http_response_add_header(resp, "Retry-After", "5");
}

static void sync_error(fsy_http_response *resp, const fsy_api_error *e)
{
    fsy__http_response_set_error(resp, e->http ? e->http : 500, e->code ? e->code : "error",
                                 e->message);
}

/* ---- passwords ------------------------------------------------------------ */

static int unhex(const char *s, size_t n, unsigned char *out)
{
    for (size_t i = 0; i < n; i++) {
        int v = 0;
        for (int k = 0; k < 2; k++) {
            char c = s[2 * i + k];
            int d = c >= '0' && c <= '9'   ? c - '0'
                    : c >= 'a' && c <= 'f' ? c - 'a' + 10
                    : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                           : -1;
            if (d < 0)
                return -1;
            v = v * 16 + d;
        }
        out[i] = (unsigned char)v;
    }
    return 0;
}

static bool same_bytes(const unsigned char *a, const unsigned char *b, size_t n)
{
    unsigned char d = 0;
    for (size_t i = 0; i < n; i++)
        d |= (unsigned char)(a[i] ^ b[i]);
    return d == 0;
}

static bool same_text(const char *a, const char *b)
{
    size_t n = strlen(a);
    if (n != strlen(b) || n == 0)
        return false;
    return same_bytes((const unsigned char *)a, (const unsigned char *)b, n);
}

bool fsy_review_password_ok(const char *pw_hash, const char *password)
{
    /* pbkdf2-sha256$<iterations>$<32 hex salt>$<64 hex key>, written by fsy_password_hash. */
    static const char prefix[] = "pbkdf2-sha256$";
    static const unsigned char dummy_salt[16] = {0};
    unsigned char salt[16], want[32], got[32];
    long iter = 200000;
    bool is_wellformed = false;
    if (pw_hash && strncmp(pw_hash, prefix, sizeof(prefix) - 1) == 0) {
        char *end = NULL;
        iter = strtol(pw_hash + sizeof(prefix) - 1, &end, 10);
        is_wellformed = end && *end == '$' && iter >= 1000 && iter <= 10000000 &&
                        strlen(end) == 1 + 32 + 1 + 64 && end[33] == '$' &&
                        unhex(end + 1, 16, salt) == 0 && unhex(end + 34, 32, want) == 0;
    }
    if (!is_wellformed) {
        iter = 200000; /* same work as a real check: no timing hint that the user is unknown */
        memcpy(salt, dummy_salt, sizeof(salt));
        memset(want, 0xff, sizeof(want));
    }
    mbedtls_md_context_t md;
    mbedtls_md_init(&md);
    int rc = mbedtls_md_setup(&md, mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), 1);
    if (rc == 0)
        rc = mbedtls_pkcs5_pbkdf2_hmac(&md, (const unsigned char *)password, strlen(password), salt,
                                       sizeof(salt), (unsigned int)iter, sizeof(got), got);
    mbedtls_md_free(&md);
    bool ok = rc == 0 && same_bytes(got, want, sizeof(got)) && is_wellformed;
    memset(got, 0, sizeof(got));
    return ok;
}

/* ---- rate limits ---------------------------------------------------------- */

static bucket *bucket_find(fsy_review *rv, const char *key, bool create, int64_t now)
{
    bucket *free_b = NULL, *oldest = NULL;
    for (int i = 0; i < N_BUCKETS; i++) {
        bucket *b = &rv->buckets[i];
        if (b->is_used && now - b->start_ms > rv->lim.window_ms && now >= b->locked_until)
            b->is_used = false; /* expired */
        if (b->is_used && strcmp(b->key, key) == 0)
            return b;
        if (!b->is_used && !free_b)
            free_b = b;
        if (b->is_used && (!oldest || b->start_ms < oldest->start_ms))
            oldest = b;
    }
    if (!create)
        return NULL;
    bucket *b = free_b ? free_b : oldest;
    memset(b, 0, sizeof(*b));
    b->is_used = true;
    snprintf(b->key, sizeof(b->key), "%s", key);
    b->start_ms = now;
    return b;
}

static void bucket_fail(fsy_review *rv, const char *key, int max, int64_t now)
{
    bucket *b = bucket_find(rv, key, true, now);
    if (++b->failures >= max)
        b->locked_until = now + rv->lim.window_ms;
}

/* Seconds until key may try again; 0 when it may now. */
static int64_t bucket_wait_s(fsy_review *rv, const char *key, int64_t now)
{
    bucket *b = bucket_find(rv, key, false, now);
    if (!b || b->locked_until <= now)
        return 0;
    return (b->locked_until - now + 999) / 1000;
}

static void peer_address(const char *peer, char *out, size_t n)
{
    /* "127.0.0.1:50123" or "[::1]:50123" without the port. */
    snprintf(out, n, "%s", peer ? peer : "");
    char *colon = strrchr(out, ':');
    if (colon && (out[0] != '[' || (colon > out && colon[-1] == ']')))
        *colon = '\0';
}

/* ---- the session key ------------------------------------------------------ */

static void to_hex(const unsigned char *in, size_t n, char *out)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hex[in[i] >> 4];
        out[2 * i + 1] = hex[in[i] & 15];
    }
    out[2 * n] = '\0';
}

static int read_key(fsy_review *rv, const char *path, char *err, size_t errlen)
{
    char txt[80];
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
        return FSY_ERROR;
    }
    size_t n = fread(txt, 1, sizeof(txt) - 1, f);
    fclose(f);
    txt[n] = '\0';
    while (n > 0 && (txt[n - 1] == '\n' || txt[n - 1] == '\r' || txt[n - 1] == ' '))
        txt[--n] = '\0';
    if (n != 64 || unhex(txt, 32, rv->key) != 0) {
        snprintf(err, errlen, "%s is damaged: expected 64 hex digits", path);
        return FSY_ECORRUPT;
    }
    rv->has_key = true;
    return FSY_OK;
}

int fsy_review_load_key(fsy_review *rv, const char *dir, char *err, size_t errlen)
{
    char path[1100], txt[66];
    unsigned char key[32];
    snprintf(path, sizeof(path), "%s/" KEY_FILE, dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0 && errno == EEXIST)
        return read_key(rv, path, err, errlen);
    if (fd < 0) {
        snprintf(err, errlen, "cannot create %s: %s", path, strerror(errno));
        return FSY_ERROR;
    }
    bool ok = getrandom(key, sizeof(key), 0) == (ssize_t)sizeof(key);
    to_hex(key, sizeof(key), txt);
    txt[64] = '\n';
    ok = ok && write(fd, txt, 65) == 65 && fsync(fd) == 0;
    ok = close(fd) == 0 && ok;
    memset(key, 0, sizeof(key));
    memset(txt, 0, sizeof(txt));
    if (!ok) {
        snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
        unlink(path);
        return FSY_ERROR;
    }
    return read_key(rv, path, err, errlen);
}

/* Without a data directory (tests building an fsy_api by hand) the key is drawn once:
 * sessions then hold on this daemon only. */
static bool ensure_key(fsy_review *rv, fsy_api *api)
{
    if (!rv->has_key)
        rv->has_key = mbedtls_ctr_drbg_random(&api->drbg, rv->key, sizeof(rv->key)) == 0;
    return rv->has_key;
}

static bool hmac_hex(const fsy_review *rv, const char *msg, size_t len, char out[65])
{
    unsigned char m[32];
    if (mbedtls_md_hmac(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), rv->key, sizeof(rv->key),
                        (const unsigned char *)msg, len, m) != 0)
        return false;
    to_hex(m, sizeof(m), out);
    return true;
}

/* ---- sessions ------------------------------------------------------------- */

/* The value of cookie `name` copied into out; false when absent or too long. */
static bool cookie_value(const fsy_http_request *req, const char *name, char *out, size_t n)
{
    const char *c = fsy__http_request_header(req, "Cookie");
    size_t nl = strlen(name);
    while (c && *c) {
        while (*c == ' ' || *c == ';')
            c++;
        if (strncmp(c, name, nl) == 0 && c[nl] == '=') {
            const char *v = c + nl + 1, *e = strchr(v, ';');
            size_t len = e ? (size_t)(e - v) : strlen(v);
            if (len >= n)
                return false;
            memcpy(out, v, len);
            out[len] = '\0';
            return true;
        }
        c = strchr(c, ';');
    }
    return false;
}

/* A keyed tag of the user's stored password hash: a new password changes it. */
static bool password_tag(const fsy_review *rv, const char *pw_hash, char out[33])
{
    char msg[300], mac[65];
    int n = snprintf(msg, sizeof(msg), "fsy-review-password-1\n%s", pw_hash);
    if (n < 0 || (size_t)n >= sizeof(msg) || !hmac_hex(rv, msg, (size_t)n, mac))
        return false;
    memcpy(out, mac, 32);
    out[32] = '\0';
    return true;
}

/* The MAC of everything in the cookie: checked before the store is asked anything. */
static bool session_mac(const fsy_review *rv, const session *s, char out[65])
{
    char msg[400];
    int n = snprintf(msg, sizeof(msg), "fsy-review-session-1\n%s\n%lld\n%lld\n%s\n%s", s->sid,
                     (long long)s->created_ms, (long long)s->last_ms, s->user, s->pw_tag);
    return n > 0 && (size_t)n < sizeof(msg) && hmac_hex(rv, msg, (size_t)n, out);
}

static bool session_csrf(const fsy_review *rv, session *s)
{
    char msg[64];
    int n = snprintf(msg, sizeof(msg), "fsy-review-csrf-1\n%s", s->sid);
    return hmac_hex(rv, msg, (size_t)n, s->csrf);
}

/* The cookie value for s; false when it does not fit. */
static bool session_cookie(const fsy_review *rv, const session *s, char out[COOKIE_MAX])
{
    char user_hex[2 * sizeof(s->user) + 1], mac[65];
    size_t ul = strlen(s->user);
    to_hex((const unsigned char *)s->user, ul, user_hex);
    if (!session_mac(rv, s, mac))
        return false;
    int n = snprintf(out, COOKIE_MAX, "%s.%lld.%lld.%s.%s.%s", s->sid, (long long)s->created_ms,
                     (long long)s->last_ms, user_hex, s->pw_tag, mac);
    return n > 0 && n < COOKIE_MAX;
}

static bool parse_ms(const char *s, size_t n, int64_t *out)
{
    int64_t v = 0;
    if (n == 0 || n > 15)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

/* Split a cookie into its session fields and MAC; false when malformed. */
static bool session_parse(const char *v, session *s, char mac[65])
{
    const char *part[6];
    size_t len[6];
    const char *p = v;
    memset(s, 0, sizeof(*s));
    for (int i = 0; i < 6; i++) {
        const char *dot = i < 5 ? strchr(p, '.') : p + strlen(p);
        if (!dot)
            return false;
        part[i] = p;
        len[i] = (size_t)(dot - p);
        p = dot + 1;
    }
    unsigned char tmp[100];
    if (len[0] != 32 || unhex(part[0], 16, tmp) != 0 || len[4] != 32 ||
        unhex(part[4], 16, tmp) != 0 || len[5] != 64 || unhex(part[5], 32, tmp) != 0 ||
        len[3] == 0 || len[3] % 2 || len[3] > 200 || unhex(part[3], len[3] / 2, tmp) != 0 ||
        !parse_ms(part[1], len[1], &s->created_ms) || !parse_ms(part[2], len[2], &s->last_ms))
        return false;
    memcpy(s->sid, part[0], 32);
    memcpy(s->user, tmp, len[3] / 2);
    s->user[len[3] / 2] = '\0';
    if (strlen(s->user) != len[3] / 2)
        return false; /* a NUL inside the name */
    memcpy(s->pw_tag, part[4], 32);
    memcpy(mac, part[5], 64);
    mac[64] = '\0';
    return true;
}

static bool is_revoked(fsy_review *rv, const char *sid, int64_t now)
{
    for (int i = 0; i < N_REVOKED; i++) {
        revoked *x = &rv->revoked[i];
        if (x->sid[0] && x->until_ms < now)
            memset(x, 0, sizeof(*x));
        if (x->sid[0] && strcmp(x->sid, sid) == 0)
            return true;
    }
    return false;
}

/* Logout on this daemon: the cookie is refused here until it would have expired. */
static void session_revoke(fsy_review *rv, const session *s, int64_t now)
{
    revoked *slot = NULL;
    for (int i = 0; i < N_REVOKED; i++) {
        revoked *x = &rv->revoked[i];
        if (x->sid[0] && x->until_ms < now)
            memset(x, 0, sizeof(*x));
        if (!x->sid[0]) {
            slot = x;
            break;
        }
        if (!slot || x->until_ms < slot->until_ms)
            slot = x; /* full: forget the one closest to expiring anyway */
    }
    snprintf(slot->sid, sizeof(slot->sid), "%s", s->sid);
    slot->until_ms = s->created_ms + rv->lim.session_max_ms;
}

enum { SESS_OK, SESS_NONE, SESS_STORE, SESS_FORBIDDEN };

/*
 * The session of a request and its user (me), checked: well-formed, within its idle
 * and maximum lifetime, not logged out here, the user still exists with the password
 * the session was issued under, and the MAC matches. SESS_FORBIDDEN: the account was
 * demoted to rep since login.
 */
static int session_of(fsy_review *rv, fsy_api *api, const fsy_http_request *req, int64_t now,
                      session *s, fsy_user *me)
{
    char v[COOKIE_MAX], mac[65], want[65], tag[33];
    if (!ensure_key(rv, api) || !cookie_value(req, COOKIE_NAME, v, sizeof(v)) ||
        !session_parse(v, s, mac) || !session_mac(rv, s, want) || !same_text(mac, want))
        return SESS_NONE;
    if (s->last_ms < s->created_ms || s->created_ms > now + SESSION_CLOCK_SLACK_MS ||
        now - s->last_ms > rv->lim.session_idle_ms ||
        now - s->created_ms > rv->lim.session_max_ms || is_revoked(rv, s->sid, now))
        return SESS_NONE;
    int rc = api->sync.ops->user_get(api->sync.store, s->user, me);
    if (rc == FSY_ENOTFOUND)
        return SESS_NONE; /* the account was removed: the session ends */
    if (rc != FSY_OK)
        return SESS_STORE;
    if (!password_tag(rv, me->pw_hash, tag) || !same_text(tag, s->pw_tag))
        return SESS_NONE; /* the password changed since login */
    if (!session_csrf(rv, s))
        return SESS_NONE;
    return me->role == FSY_ROLE_REP ? SESS_FORBIDDEN : SESS_OK;
}

static void set_cookie(fsy_http_response *resp, const char *value, int64_t max_age_s)
{
    char c[COOKIE_MAX + 120];
    snprintf(c, sizeof(c),
             COOKIE_NAME "=%s; Path=/; Max-Age=%lld; HttpOnly; Secure; SameSite=Strict", value,
             (long long)max_age_s);
    fsy__http_response_add_header(resp, "Set-Cookie", c);
}

/* A fresh session for u, its cookie set on resp. */
static bool session_start(fsy_review *rv, fsy_api *api, const fsy_user *u, int64_t now, session *s,
                          fsy_http_response *resp)
{
    char cookie[COOKIE_MAX];
    memset(s, 0, sizeof(*s));
    if (!ensure_key(rv, api) || fsy_api_random_token(api, s->sid, 16) != FSY_OK)
        return false;
    snprintf(s->user, sizeof(s->user), "%s", u->name);
    s->created_ms = s->last_ms = now;
    if (!password_tag(rv, u->pw_hash, s->pw_tag) || !session_csrf(rv, s) ||
        !session_cookie(rv, s, cookie))
        return false;
    set_cookie(resp, cookie, rv->lim.session_max_ms / 1000);
    memset(cookie, 0, sizeof(cookie));
    return true;
}

/* Renew the cookie's last-use time (the idle limit), at most once a second. */
static void session_touch(fsy_review *rv, session *s, int64_t now, fsy_http_response *resp)
{
    char cookie[COOKIE_MAX];
    if (now - s->last_ms < SESSION_RENEW_MS)
        return;
    s->last_ms = now;
    if (session_cookie(rv, s, cookie))
        set_cookie(resp, cookie, (s->created_ms + rv->lim.session_max_ms - now) / 1000);
    memset(cookie, 0, sizeof(cookie));
}

static const char *role_name(int role)
{
    return role == FSY_ROLE_ADMIN ? "admin" : role == FSY_ROLE_SUPERVISOR ? "supervisor" : "rep";
}

/* ---- the request context -------------------------------------------------- */

typedef struct rq {
    fsy_review *rv;
    fsy_api *api;
    const fsy_store_ops *ops;
    void *st;
    const fsy_http_request *req;
    fsy_http_response *resp;
    fsy_user me;
    session *sess;
    int64_t now;
} rq;

/* A query parameter, percent-decoded into out; false when absent or empty. */
static bool qparam(const char *query, const char *name, char *out, size_t n)
{
    size_t nl = strlen(name);
    for (const char *p = query; p && *p;) {
        const char *e = strchr(p, '&');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len > nl && strncmp(p, name, nl) == 0 && p[nl] == '=') {
            size_t o = 0;
            for (size_t i = nl + 1; i < len && o + 1 < n; i++) {
                char c = p[i];
                unsigned char b;
                if (c == '+') {
                    c = ' ';
                } else if (c == '%' && i + 2 < len && unhex(p + i + 1, 1, &b) == 0) {
                    c = (char)b;
                    i += 2;
                }
                out[o++] = c;
            }
            out[o] = '\0';
            return o > 0;
        }
        p = e ? e + 1 : NULL;
    }
    out[0] = '\0';
    return false;
}

/* Whether the signed-in user may review the work of `rep`. */
static bool may_see_rep(rq *r, const char *rep)
{
    if (r->me.role == FSY_ROLE_ADMIN)
        return true;
    fsy_user u;
    if (!rep[0] || r->ops->user_get(r->st, rep, &u) != FSY_OK)
        return false;
    return strcmp(u.supervisor, r->me.name) == 0;
}

static const char *team_of(const rq *r)
{
    return r->me.role == FSY_ROLE_ADMIN ? NULL : r->me.name;
}

/* ---- login, logout, session ---------------------------------------------- */

static void h_login(rq *r)
{
    cJSON *doc = cJSON_ParseWithLength(r->req->body, r->req->body_len);
    const cJSON *user = cJSON_GetObjectItemCaseSensitive(doc, "user");
    const cJSON *pw = cJSON_GetObjectItemCaseSensitive(doc, "password");
    char ip[80], ukey[128], ikey[128], wait[24];
    fsy_user u;

    if (!cJSON_IsString(user) || !cJSON_IsString(pw) || strlen(user->valuestring) > 100 ||
        strlen(pw->valuestring) > 1024) {
        error(r->resp, 400, "bad_request",
              "log in with {\"user\": \"...\", \"password\": \"...\"}");
        goto out;
    }
    peer_address(r->req->peer, ip, sizeof(ip));
    snprintf(ukey, sizeof(ukey), "u:%s", user->valuestring);
    snprintf(ikey, sizeof(ikey), "ip:%s", ip);
    int64_t wu = bucket_wait_s(r->rv, ukey, r->now), wi = bucket_wait_s(r->rv, ikey, r->now);
    if (wu || wi) {
        snprintf(wait, sizeof(wait), "%lld", (long long)(wu > wi ? wu : wi));
        error(r->resp, 429, "too_many_attempts",
              "too many failed logins for this %s; try again in %s seconds",
              wu ? "user" : "address", wait);
        fsy__http_response_add_header(r->resp, "Retry-After", wait);
        goto out;
    }
    int rc = r->ops->user_get(r->st, user->valuestring, &u);
    if (rc != FSY_OK && rc != FSY_ENOTFOUND) {
        store_error(r->api, r->resp);
        goto out;
    }
    bool ok = fsy_review_password_ok(rc == FSY_OK ? u.pw_hash : "", pw->valuestring);
    if (!ok) {
        bucket_fail(r->rv, ukey, r->rv->lim.user_max_failures, r->now);
        bucket_fail(r->rv, ikey, r->rv->lim.ip_max_failures, r->now);
        r->api->auth_failures++;
        /* One message for unknown user and wrong password. */
        error(r->resp, 401, "bad_credentials", "unknown user or wrong password");
        goto out;
    }
    bucket *b = bucket_find(r->rv, ukey, false, r->now);
    if (b)
        memset(b, 0, sizeof(*b));
    if (u.role == FSY_ROLE_REP) {
        error(r->resp, 403, "forbidden", "the review page is for supervisors and admins");
        goto out;
    }
    session s;
    if (!session_start(r->rv, r->api, &u, r->now, &s, r->resp)) {
        error(r->resp, 500, "rng_failure", "cannot draw random bits");
        goto out;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "user", u.name);
    cJSON_AddStringToObject(o, "role", role_name(u.role));
    cJSON_AddStringToObject(o, "csrf", s.csrf);
    send_json(r->resp, 200, o);
out:
    cJSON_Delete(doc);
}

static void h_logout(rq *r)
{
    /* Refused on this daemon from now on; other daemons sharing the key accept the
     * cookie until it idles out (docs/review.md, "Several daemons"). The browser
     * forgets it now. */
    session_revoke(r->rv, r->sess, r->now);
    set_cookie(r->resp, "", 0);
    send_json(r->resp, 200, cJSON_CreateObject());
}

static void h_session(rq *r)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "user", r->me.name);
    cJSON_AddStringToObject(o, "role", role_name(r->me.role));
    cJSON_AddStringToObject(o, "csrf", r->sess->csrf);
    send_json(r->resp, 200, o);
}

/* ---- visits --------------------------------------------------------------- */

typedef struct filter_buf {
    char rep[101], customer[201], from[40], to[40], status[20], review[20], conflicts[8], page[12],
        per_page[12];
    fsy_visit_filter f;
} filter_buf;

static bool parse_filter(rq *r, filter_buf *fb, int max_page)
{
    const char *q = r->req->query;
    memset(fb, 0, sizeof(*fb));
    fsy_visit_filter *f = &fb->f;
    f->team = team_of(r);
    if (qparam(q, "rep", fb->rep, sizeof(fb->rep)))
        f->rep = fb->rep;
    if (qparam(q, "customer", fb->customer, sizeof(fb->customer)))
        f->customer = fb->customer;
    if (qparam(q, "from", fb->from, sizeof(fb->from)))
        f->from = fb->from;
    if (qparam(q, "to", fb->to, sizeof(fb->to)))
        f->to = fb->to;
    if (qparam(q, "status", fb->status, sizeof(fb->status)))
        f->status = fb->status;
    if (qparam(q, "review", fb->review, sizeof(fb->review))) {
        if (strcmp(fb->review, "none") && strcmp(fb->review, "reviewed") &&
            strcmp(fb->review, "needs-follow-up")) {
            error(r->resp, 400, "bad_request", "review is none, reviewed or needs-follow-up");
            return false;
        }
        f->review = fb->review;
    }
    f->has_conflicts = -1;
    if (qparam(q, "conflicts", fb->conflicts, sizeof(fb->conflicts)))
        f->has_conflicts = strcmp(fb->conflicts, "1") == 0 || strcmp(fb->conflicts, "yes") == 0;
    long page = 1, per = 50;
    if (qparam(q, "page", fb->page, sizeof(fb->page)))
        page = strtol(fb->page, NULL, 10);
    if (qparam(q, "per_page", fb->per_page, sizeof(fb->per_page)))
        per = strtol(fb->per_page, NULL, 10);
    if (page < 1 || page > 1000000 || per < 1 || per > max_page) {
        error(r->resp, 400, "bad_request", "page >= 1 and 1 <= per_page <= %d", max_page);
        return false;
    }
    f->limit = (int)per;
    f->offset = (int)((page - 1) * per);
    return true;
}

static void add_str(cJSON *o, const char *k, const char *v)
{
    cJSON_AddStringToObject(o, k, v ? v : "");
}

static cJSON *visit_json(const fsy_visit_item *it)
{
    cJSON *o = cJSON_Duplicate(it->visit->vals, true);
    cJSON_AddStringToObject(o, "id", it->visit->id);
    add_str(o, "customer", it->customer_name);
    cJSON_AddBoolToObject(o, "customer_deleted", it->is_customer_deleted);
    add_str(o, "review_state", it->review_state);
    add_str(o, "review_comment", it->review_comment);
    cJSON_AddNumberToObject(o, "open_conflicts", it->open_conflicts);
    cJSON_AddNumberToObject(o, "version", (double)it->visit->ver);
    return o;
}

static int visit_to_array(const fsy_visit_item *it, void *ud)
{
    cJSON_AddItemToArray(ud, visit_json(it));
    return 0;
}

static void h_visits(rq *r)
{
    filter_buf fb;
    int64_t total = 0;
    if (!parse_filter(r, &fb, MAX_PAGE))
        return;
    cJSON *o = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(o, "visits");
    if (r->ops->visit_query(r->st, &fb.f, visit_to_array, arr, &total) != FSY_OK) {
        cJSON_Delete(o);
        store_error(r->api, r->resp);
        return;
    }
    cJSON_AddNumberToObject(o, "total", (double)total);
    cJSON_AddNumberToObject(o, "page", fb.f.offset / fb.f.limit + 1);
    cJSON_AddNumberToObject(o, "per_page", fb.f.limit);
    send_json(r->resp, 200, o);
}

/* CSV: every field quoted; a cell a spreadsheet would run as a formula is defused. */
typedef struct csvbuf {
    char *data;
    size_t len, cap;
    bool is_oom;
} csvbuf;

static void csv_put(csvbuf *b, const char *s, size_t n)
{
    if (b->is_oom)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 8192;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *d = realloc(b->data, cap);
        if (!d) {
            b->is_oom = true;
            return;
        }
        b->data = d;
        b->cap = cap;
    }
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

static void csv_cell(csvbuf *b, const char *v, bool is_last)
{
    v = v ? v : "";
    csv_put(b, "\"", 1);
    if (strchr("=+-@\t\r", v[0]) && v[0])
        csv_put(b, "'", 1);
    for (const char *p = v; *p; p++) {
        csv_put(b, p, 1);
        if (*p == '"')
            csv_put(b, "\"", 1); /* a quote inside a quoted cell is doubled */
    }
    csv_put(b, is_last ? "\"\r\n" : "\",", is_last ? 3 : 2);
}

static const char *const csv_cols[] = {
    "id",        "planned_at",   "checkin_at",     "checkout_at",    "rep",        "customer",
    "status",    "kind",         "purpose",        "outcome",        "next_steps", "satisfaction",
    "follow_up", "review_state", "review_comment", "open_conflicts", NULL};

static int visit_to_csv(const fsy_visit_item *it, void *ud)
{
    csvbuf *b = ud;
    cJSON *o = visit_json(it);
    for (int i = 0; csv_cols[i]; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, csv_cols[i]);
        char num[40] = "";
        const char *s = "";
        if (cJSON_IsString(v))
            s = v->valuestring;
        else if (cJSON_IsNumber(v)) {
            snprintf(num, sizeof(num), "%.17g", v->valuedouble);
            s = num;
        }
        csv_cell(b, s, !csv_cols[i + 1]);
    }
    cJSON_Delete(o);
    return 0;
}

static void h_visits_csv(rq *r)
{
    filter_buf fb;
    int64_t total = 0;
    csvbuf b = {NULL, 0, 0, false};
    if (!parse_filter(r, &fb, MAX_CSV_ROWS))
        return;
    if (!qparam(r->req->query, "per_page", fb.per_page, sizeof(fb.per_page)))
        fb.f.limit = MAX_CSV_ROWS;
    for (int i = 0; csv_cols[i]; i++)
        csv_cell(&b, csv_cols[i], !csv_cols[i + 1]);
    if (r->ops->visit_query(r->st, &fb.f, visit_to_csv, &b, &total) != FSY_OK) {
        free(b.data);
        store_error(r->api, r->resp);
        return;
    }
    if (b.is_oom) {
        free(b.data);
        error(r->resp, 500, "out_of_memory", "out of memory");
        return;
    }
    free(r->resp->body);
    r->resp->status = 200;
    r->resp->content_type = "text/csv; charset=utf-8";
    r->resp->body = b.data;
    r->resp->body_len = b.len;
    fsy__http_response_add_header(r->resp, "Content-Disposition",
                                  "attachment; filename=\"visits.csv\"");
}

/* One visit: values, history from the change log, conflicts, reviews. */
typedef struct detail_ctx {
    rq *r;
    cJSON *arr;
    const char *visit_id;
} detail_ctx;

static int history_item(const fsy_logrec *rec, void *ud)
{
    detail_ctx *d = ud;
    cJSON *h = cJSON_CreateObject();
    cJSON_AddNumberToObject(h, "q", (double)rec->q);
    cJSON_AddNumberToObject(h, "at_ms", (double)rec->at_ms);
    cJSON_AddStringToObject(h, "user", rec->user);
    cJSON_AddStringToObject(h, "device", rec->device);
    cJSON_AddStringToObject(h, "hlc", rec->hlc);
    cJSON *f = rec->fields ? cJSON_Parse(rec->fields) : NULL;
    cJSON_AddItemToObject(h, "fields", f ? f : cJSON_CreateObject());
    fsy_device dev;
    if (strcmp(rec->device, FSY_SYNC_WEB_DEVICE) != 0 &&
        d->r->ops->device_get(d->r->st, rec->device, &dev) == FSY_OK) {
        cJSON_AddNumberToObject(h, "device_skew_ms", (double)dev.skew_ms);
        cJSON_AddStringToObject(h, "device_app_version", dev.app_version);
    }
    cJSON_AddItemToArray(d->arr, h);
    return 0;
}

static cJSON *json_or_text(const char *txt)
{
    cJSON *v = txt ? cJSON_Parse(txt) : NULL;
    return v ? v : cJSON_CreateNull();
}

static cJSON *conflict_json(const fsy_conflict_item *it)
{
    const fsy_table *t = fsy__schema_table_at(it->c.tbl);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "n", (double)it->n);
    cJSON_AddStringToObject(o, "table", t ? t->name : "");
    cJSON_AddStringToObject(o, "row_id", it->c.id);
    cJSON_AddStringToObject(o, "field", it->c.field);
    cJSON *k = cJSON_AddObjectToObject(o, "kept"), *x = cJSON_AddObjectToObject(o, "other");
    cJSON_AddItemToObject(k, "value", json_or_text(it->c.kept));
    cJSON_AddStringToObject(k, "user", it->c.kept_user);
    cJSON_AddStringToObject(k, "device", it->c.kept_device);
    cJSON_AddStringToObject(k, "hlc", it->c.kept_hlc);
    cJSON_AddItemToObject(x, "value", json_or_text(it->c.other));
    cJSON_AddStringToObject(x, "user", it->c.other_user);
    cJSON_AddStringToObject(x, "device", it->c.other_device);
    cJSON_AddStringToObject(x, "hlc", it->c.other_hlc);
    cJSON_AddNumberToObject(o, "at_ms", (double)it->c.at_ms);
    cJSON_AddBoolToObject(o, "clock_bounded", it->c.clock_clamped);
    cJSON_AddBoolToObject(o, "resolved", it->resolved_ms != 0);
    cJSON_AddStringToObject(o, "resolved_by", it->resolved_by);
    cJSON_AddNumberToObject(o, "resolved_ms", (double)it->resolved_ms);
    return o;
}

static int conflict_to_array(const fsy_conflict_item *it, void *ud)
{
    cJSON_AddItemToArray(ud, conflict_json(it));
    return 0;
}

static int review_item(const fsy_srow *row, void *ud)
{
    detail_ctx *d = ud;
    const cJSON *vid = cJSON_GetObjectItemCaseSensitive(row->vals, "visit_id");
    if (row->tbl != 4 || !cJSON_IsString(vid) || strcmp(vid->valuestring, d->visit_id) != 0)
        return 0;
    cJSON *o = cJSON_Duplicate(row->vals, true);
    cJSON_AddStringToObject(o, "id", row->id);
    cJSON_AddNumberToObject(o, "version", (double)row->ver);
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(row->meta, "state");
    if (cJSON_IsArray(m)) {
        /* When: the change-log time of its latest state. */
        cJSON_AddNumberToObject(o, "q", cJSON_GetArrayItem(m, 0)->valuedouble);
    }
    cJSON_AddItemToArray(d->arr, o);
    return 0;
}

static bool load_visit(rq *r, const char *id, fsy_srow *row)
{
    if (!fsy__is_uuid(id)) {
        error(r->resp, 404, "not_found", "no such visit");
        return false;
    }
    if (r->ops->row_get(r->st, 2, id, row) != FSY_OK) {
        store_error(r->api, r->resp);
        return false;
    }
    if (!row->exists || !may_see_rep(r, row->owner)) {
        /* Another team's visit is answered like a missing one. */
        error(r->resp, 404, "not_found", "no such visit in your team");
        return false;
    }
    return true;
}

static void h_visit(rq *r, const char *id)
{
    fsy_srow row, cust;
    fsy_srow_init(&row);
    fsy_srow_init(&cust);
    cJSON *o = NULL;
    if (!load_visit(r, id, &row))
        goto out;
    o = cJSON_CreateObject();
    cJSON *vis = cJSON_Duplicate(row.vals, true);
    cJSON_AddItemToObject(o, "visit", vis);
    cJSON_AddStringToObject(vis, "id", row.id);
    cJSON_AddNumberToObject(vis, "version", (double)row.ver);
    cJSON *c = cJSON_AddObjectToObject(o, "customer");
    cJSON_AddStringToObject(c, "id", row.customer_id);
    if (r->ops->row_get(r->st, 0, row.customer_id, &cust) == FSY_OK && cust.exists) {
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(cust.vals, "name");
        cJSON_AddStringToObject(c, "name", cJSON_IsString(name) ? name->valuestring : "");
        cJSON_AddStringToObject(c, "territory", cust.territory);
        cJSON_AddBoolToObject(
            c, "deleted", cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(cust.vals, "_deleted")));
    }
    detail_ctx d = {r, cJSON_AddArrayToObject(o, "history"), row.id};
    fsy_conflict_filter cf = {NULL, 0, row.id, 2, row.customer_id, false, 200};
    int rc = r->ops->row_log(r->st, 2, row.id, history_item, &d);
    if (rc == FSY_OK)
        rc = r->ops->conflict_query(r->st, &cf, conflict_to_array,
                                    cJSON_AddArrayToObject(o, "conflicts"));
    d.arr = cJSON_AddArrayToObject(o, "reviews");
    if (rc == FSY_OK)
        rc = r->ops->rows_of_customer(r->st, row.customer_id, review_item, &d);
    if (rc != FSY_OK) {
        store_error(r->api, r->resp);
        goto out;
    }
    send_json(r->resp, 200, o);
    o = NULL;
out:
    cJSON_Delete(o);
    fsy_srow_clear(&row);
    fsy_srow_clear(&cust);
}

static cJSON *body_object(rq *r)
{
    cJSON *doc = cJSON_ParseWithLength(r->req->body, r->req->body_len);
    if (!cJSON_IsObject(doc)) {
        cJSON_Delete(doc);
        error(r->resp, 400, "bad_json", "the body must be a JSON object");
        return NULL;
    }
    return doc;
}

static void h_review(rq *r, const char *id)
{
    fsy_srow row;
    fsy_srow_init(&row);
    cJSON *doc = NULL, *f = NULL;
    fsy_api_error err = {0};
    char rid[37];
    int64_t ver = 0;
    if (!load_visit(r, id, &row) || !(doc = body_object(r)))
        goto out;
    const cJSON *state = cJSON_GetObjectItemCaseSensitive(doc, "state");
    const cJSON *comment = cJSON_GetObjectItemCaseSensitive(doc, "comment");
    if (!cJSON_IsString(state) || (comment && !cJSON_IsString(comment))) {
        error(r->resp, 400, "bad_request",
              "send {\"state\": \"reviewed\" | \"needs-follow-up\", \"comment\": \"...\"}");
        goto out;
    }
    if (fsy_api_uuid_v7(r->api, rid) != FSY_OK) {
        error(r->resp, 500, "rng_failure", "cannot draw random bits");
        goto out;
    }
    f = cJSON_CreateObject();
    cJSON_AddStringToObject(f, "visit_id", row.id);
    cJSON_AddStringToObject(f, "supervisor", r->me.name);
    if (comment && comment->valuestring[0])
        cJSON_AddStringToObject(f, "comment", comment->valuestring);
    cJSON_AddStringToObject(f, "state", state->valuestring);
    if (r->ops->begin(r->st) != FSY_OK) {
        store_error(r->api, r->resp);
        goto out;
    }
    if (fsy_sync_server_write(&r->api->sync, &r->me, "reviews", rid, f, &ver, &err) != FSY_OK) {
        r->ops->rollback(r->st);
        sync_error(r->resp, &err);
        goto out;
    }
    if (r->ops->commit(r->st) != FSY_OK) {
        r->ops->rollback(r->st);
        store_error(r->api, r->resp);
        goto out;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", rid);
    cJSON_AddNumberToObject(o, "version", (double)ver);
    send_json(r->resp, 201, o);
out:
    cJSON_Delete(f);
    cJSON_Delete(doc);
    fsy_srow_clear(&row);
}

/* ---- conflicts ------------------------------------------------------------ */

/* The conflicts view names what a conflict is about: the customer, and the visit. */
typedef struct conflicts_ctx {
    rq *r;
    cJSON *arr;
} conflicts_ctx;

static int conflict_labelled(const fsy_conflict_item *it, void *ud)
{
    conflicts_ctx *cx = ud;
    cJSON *o = conflict_json(it);
    fsy_srow row, cust;
    fsy_srow_init(&row);
    fsy_srow_init(&cust);
    int rc = cx->r->ops->row_get(cx->r->st, it->c.tbl, it->c.id, &row);
    if (rc == FSY_OK && row.exists) {
        const char *cid = it->c.tbl == 0 ? row.id : row.customer_id;
        if (it->c.tbl == 2)
            cJSON_AddStringToObject(o, "visit_id", row.id);
        rc = cx->r->ops->row_get(cx->r->st, 0, cid, &cust);
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(cust.vals, "name");
        if (rc == FSY_OK && cJSON_IsString(name))
            cJSON_AddStringToObject(o, "customer", name->valuestring);
    }
    fsy_srow_clear(&row);
    fsy_srow_clear(&cust);
    cJSON_AddItemToArray(cx->arr, o);
    return rc;
}

static void h_conflicts(rq *r)
{
    char open[8];
    bool is_open = !qparam(r->req->query, "open", open, sizeof(open)) || strcmp(open, "0") != 0;
    fsy_conflict_filter cf = {team_of(r), 0, NULL, 0, NULL, is_open, 500};
    cJSON *o = cJSON_CreateObject();
    conflicts_ctx cx = {r, cJSON_AddArrayToObject(o, "conflicts")};
    if (r->ops->conflict_query(r->st, &cf, conflict_labelled, &cx) != FSY_OK) {
        cJSON_Delete(o);
        store_error(r->api, r->resp);
        return;
    }
    send_json(r->resp, 200, o);
}

static int conflict_copy(const fsy_conflict_item *it, void *ud)
{
    cJSON **out = ud;
    *out = conflict_json(it);
    return 0;
}

static void h_resolve(rq *r, const char *num)
{
    cJSON *doc = NULL, *c = NULL, *f = NULL;
    fsy_api_error err = {0};
    int64_t ver = 0;
    char *end = NULL;
    long long n = strtoll(num, &end, 10);
    if (!end || *end || n <= 0) {
        error(r->resp, 404, "not_found", "no such conflict");
        return;
    }
    if (!(doc = body_object(r)))
        return;
    const cJSON *choose = cJSON_GetObjectItemCaseSensitive(doc, "choose");
    if (!cJSON_IsString(choose) ||
        (strcmp(choose->valuestring, "kept") && strcmp(choose->valuestring, "other"))) {
        error(r->resp, 400, "bad_request", "send {\"choose\": \"kept\" | \"other\"}");
        goto out;
    }
    if (r->ops->begin(r->st) != FSY_OK) {
        store_error(r->api, r->resp);
        goto out;
    }
    fsy_conflict_filter cf = {team_of(r), (int64_t)n, NULL, 0, NULL, false, 1};
    if (r->ops->conflict_query(r->st, &cf, conflict_copy, &c) != FSY_OK) {
        r->ops->rollback(r->st);
        store_error(r->api, r->resp);
        goto out;
    }
    if (!c) {
        r->ops->rollback(r->st);
        error(r->resp, 404, "not_found", "no such conflict in your team");
        goto out;
    }
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(c, "resolved"))) {
        r->ops->rollback(r->st);
        error(r->resp, 409, "already_resolved", "conflict %lld was resolved by %s", n,
              cJSON_GetObjectItemCaseSensitive(c, "resolved_by")->valuestring);
        goto out;
    }
    const char *field = cJSON_GetObjectItemCaseSensitive(c, "field")->valuestring;
    const char *table = cJSON_GetObjectItemCaseSensitive(c, "table")->valuestring;
    const char *row_id = cJSON_GetObjectItemCaseSensitive(c, "row_id")->valuestring;
    const cJSON *side = cJSON_GetObjectItemCaseSensitive(c, choose->valuestring);
    if (strcmp(field, FSY_TOMBSTONE) == 0) {
        /* An edit that raced a delete: the row stays deleted; resolving acknowledges it. */
        if (strcmp(choose->valuestring, "kept") != 0) {
            r->ops->rollback(r->st);
            error(r->resp, 400, "bad_request",
                  "the row was deleted; restoring it is done on a tablet, not here");
            goto out;
        }
    } else {
        f = cJSON_CreateObject();
        cJSON_AddItemToObject(f, field,
                              cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(side, "value"), 1));
        if (fsy_sync_server_write(&r->api->sync, &r->me, table, row_id, f, &ver, &err) != FSY_OK) {
            r->ops->rollback(r->st);
            sync_error(r->resp, &err);
            goto out;
        }
    }
    if (r->ops->conflict_resolve(r->st, (int64_t)n, r->me.name, r->now) != FSY_OK ||
        r->ops->commit(r->st) != FSY_OK) {
        r->ops->rollback(r->st);
        store_error(r->api, r->resp);
        goto out;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "n", (double)n);
    cJSON_AddStringToObject(o, "resolved_by", r->me.name);
    cJSON_AddNumberToObject(o, "resolved_ms", (double)r->now);
    cJSON_AddNumberToObject(o, "version", (double)ver);
    send_json(r->resp, 200, o);
out:
    cJSON_Delete(f);
    cJSON_Delete(c);
    cJSON_Delete(doc);
}

/* ---- people and devices --------------------------------------------------- */

static int rep_item(const fsy_user *u, void *ud)
{
    rq *r = ((void **)ud)[0];
    cJSON *arr = ((void **)ud)[1];
    if (u->role != FSY_ROLE_REP ||
        (r->me.role != FSY_ROLE_ADMIN && strcmp(u->supervisor, r->me.name) != 0))
        return 0;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "name", u->name);
    cJSON_AddStringToObject(o, "territory", u->territory);
    cJSON_AddStringToObject(o, "supervisor", u->supervisor);
    cJSON_AddItemToArray(arr, o);
    return 0;
}

static void h_reps(rq *r)
{
    cJSON *o = cJSON_CreateObject();
    void *ud[2] = {r, cJSON_AddArrayToObject(o, "reps")};
    if (r->ops->user_list(r->st, rep_item, ud) != FSY_OK) {
        cJSON_Delete(o);
        store_error(r->api, r->resp);
        return;
    }
    send_json(r->resp, 200, o);
}

static int health_item(const fsy_device_health *h, void *ud)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "device", h->d.id);
    cJSON_AddStringToObject(o, "user", h->d.user);
    cJSON_AddNumberToObject(o, "enrolled_ms", (double)h->d.created_ms);
    cJSON_AddNumberToObject(o, "last_sync_ms", (double)h->d.last_sync_ms);
    cJSON_AddBoolToObject(o, "revoked", h->d.revoked_ms != 0);
    if (h->pending >= 0)
        cJSON_AddNumberToObject(o, "pending", (double)h->pending);
    else
        cJSON_AddNullToObject(o, "pending");
    if (h->parked >= 0)
        cJSON_AddNumberToObject(o, "parked", (double)h->parked);
    else
        cJSON_AddNullToObject(o, "parked");
    cJSON_AddNumberToObject(o, "reported_ms", (double)h->reported_ms);
    cJSON_AddNumberToObject(o, "open_conflicts", (double)h->open_conflicts);
    cJSON_AddNumberToObject(o, "skew_ms", (double)h->d.skew_ms);
    cJSON_AddStringToObject(o, "app_version", h->d.app_version);
    cJSON_AddItemToArray(ud, o);
    return 0;
}

static void h_devices(rq *r)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "now_ms", (double)r->now);
    if (r->ops->device_health(r->st, team_of(r), health_item,
                              cJSON_AddArrayToObject(o, "devices")) != FSY_OK) {
        cJSON_Delete(o);
        store_error(r->api, r->resp);
        return;
    }
    send_json(r->resp, 200, o);
}

/* ---- static files --------------------------------------------------------- */

static void security_headers(fsy_http_response *resp)
{
    fsy__http_response_add_header(resp, "X-Content-Type-Options", "nosniff");
    fsy__http_response_add_header(resp, "Referrer-Policy", "no-referrer");
    fsy__http_response_add_header(resp, "X-Frame-Options", "DENY");
    fsy__http_response_add_header(resp, "Cache-Control", "no-store");
}

static void h_static(const fsy_http_request *req, fsy_http_response *resp)
{
    const char *name = strcmp(req->path, "/review") == 0 || strcmp(req->path, "/review/") == 0
                           ? "index.html"
                           : req->path + 8;
    for (size_t i = 0; i < fsy_web_n_files; i++) {
        const fsy_web_file *f = &fsy_web_files[i];
        if (strcmp(f->name, name) != 0)
            continue;
        fsy__http_response_set_body(resp, 200, f->content_type, f->data, f->len);
        fsy__http_response_add_header(
            resp, "Content-Security-Policy",
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:;"
            " connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'");
        return;
    }
    error(resp, 404, "not_found", "no such file: %.100s", req->path);
}

/* ---- routing -------------------------------------------------------------- */

/* A cross-site request carries an Origin other than this server's: refuse it. */
static bool same_origin(const fsy_http_request *req)
{
    const char *origin = fsy__http_request_header(req, "Origin");
    const char *host = fsy__http_request_header(req, "Host");
    if (!origin)
        return true; /* not a browser cross-site request; CSRF token still required */
    if (!host || strncmp(origin, "https://", 8) != 0)
        return false;
    return strcmp(origin + 8, host) == 0;
}

static bool csrf_ok(const rq *r)
{
    const char *t = fsy__http_request_header(r->req, "X-CSRF-Token");
    return t && same_text(t, r->sess->csrf);
}

void fsy_review_handle(fsy_review *rv, fsy_api *api, const fsy_http_request *req,
                       fsy_http_response *resp)
{
    rq r;
    memset(&r, 0, sizeof(r));
    r.rv = rv;
    r.api = api;
    r.ops = api->sync.ops;
    r.st = api->sync.store;
    r.req = req;
    r.resp = resp;
    r.now = api->sync.now_ms();
    bool get = strcmp(req->method, "GET") == 0, post = strcmp(req->method, "POST") == 0;
    const char *p = req->path;

    security_headers(resp);
    if (strncmp(p, "/api/review/", 12) != 0) {
        if (!get)
            error(resp, 405, "method_not_allowed", "%s takes GET", p);
        else
            h_static(req, resp);
        return;
    }
    p += 12;
    if (!get && !post) {
        error(resp, 405, "method_not_allowed", "the review API takes GET and POST");
        return;
    }
    if (post && !same_origin(req)) {
        error(resp, 403, "cross_origin", "cross-site request refused");
        return;
    }
    /* JSON only: a cross-site HTML form cannot send it without a CORS preflight. */
    if (post &&
        (!req->content_type || strncasecmp(req->content_type, "application/json", 16) != 0)) {
        error(resp, 415, "unsupported_media_type", "send Content-Type: application/json");
        return;
    }
    if (strcmp(p, "login") == 0) {
        if (!post)
            error(resp, 405, "method_not_allowed", "login takes POST");
        else
            h_login(&r);
        return;
    }
    if (api->sync.ops->version < 2) {
        error(resp, 501, "not_supported", "this store does not support the review API");
        return;
    }
    session sess;
    int sr = session_of(rv, api, req, r.now, &sess, &r.me);
    if (sr == SESS_STORE) {
        store_error(api, resp);
        return;
    }
    if (sr == SESS_FORBIDDEN) {
        /* The account was demoted since login: the session ends now. */
        error(resp, 403, "forbidden", "this account may no longer use the review page");
        return;
    }
    r.sess = &sess;
    if (sr != SESS_OK) {
        /* A rep's device token is recognised, and refused for what it is. */
        if (req->authorization && strncasecmp(req->authorization, "Bearer ", 7) == 0 &&
            strlen(req->authorization + 7) == 64) {
            unsigned char hash[32];
            fsy_device dev;
            fsy_user u;
            fsy_api_sha256(req->authorization + 7, 64, hash);
            if (r.ops->device_by_token(r.st, hash, &dev) == FSY_OK && !dev.revoked_ms &&
                r.ops->user_get(r.st, dev.user, &u) == FSY_OK && u.role == FSY_ROLE_REP) {
                error(resp, 403, "forbidden", "reps cannot use the review API");
                return;
            }
        }
        error(resp, 401, "not_logged_in", "log in at /review first");
        return;
    }
    if (post && !csrf_ok(&r)) {
        error(resp, 403, "bad_csrf_token", "missing or wrong X-CSRF-Token header");
        return;
    }
    if (!(post && strcmp(p, "logout") == 0))
        session_touch(rv, &sess, r.now, resp);
    char id[64];
    if (get && strcmp(p, "session") == 0)
        h_session(&r);
    else if (post && strcmp(p, "logout") == 0)
        h_logout(&r);
    else if (get && strcmp(p, "visits") == 0)
        h_visits(&r);
    else if (get && strcmp(p, "visits.csv") == 0)
        h_visits_csv(&r);
    else if (get && strcmp(p, "conflicts") == 0)
        h_conflicts(&r);
    else if (get && strcmp(p, "devices") == 0)
        h_devices(&r);
    else if (get && strcmp(p, "reps") == 0)
        h_reps(&r);
    else if (strncmp(p, "visits/", 7) == 0 && strlen(p + 7) < sizeof(id)) {
        snprintf(id, sizeof(id), "%s", p + 7);
        char *slash = strchr(id, '/');
        if (get && !slash)
            h_visit(&r, id);
        else if (post && slash && strcmp(slash, "/review") == 0) {
            *slash = '\0';
            h_review(&r, id);
        } else
            error(resp, 404, "not_found", "no such endpoint: %.100s", req->path);
    } else if (post && strncmp(p, "conflicts/", 10) == 0 && strlen(p + 10) < sizeof(id)) {
        snprintf(id, sizeof(id), "%s", p + 10);
        char *slash = strchr(id, '/');
        if (slash && strcmp(slash, "/resolve") == 0) {
            *slash = '\0';
            h_resolve(&r, id);
        } else
            error(resp, 404, "not_found", "no such endpoint: %.100s", req->path);
    } else
        error(resp, 404, "not_found", "no such endpoint: %.100s", req->path);
}
