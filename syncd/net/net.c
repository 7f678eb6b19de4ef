/*
 * net.c — fieldsyncd's event loop: one thread, epoll (level-triggered), non-blocking
 * sockets, non-blocking mbedTLS, and one worker thread that runs the handler and
 * batch_end (group commit). Owns accept, the per-connection state machine below,
 * timeouts, graceful stop and the counters. HTTP parsing and response bytes come from
 * http.c; TLS policy from tls.c. Called by the daemon's main (listen, run, stop).
 *
 * Connection states (conn_drive runs the step for the current state until it blocks):
 *
 *   SNIFF --0x16--> HANDSHAKE --done--> READ <--------------------+
 *     |  \--other byte: 400 tls_required (plain) --> WRITE          |
 *     |                                     | request complete     | keep-alive
 *     |                                     v                      |
 *     |                 HELD (the worker runs the handler)         |
 *     |                                     v                      |
 *     |                                   WRITE (response) --------+
 *     |                                     | close / error / stop
 *     v                                     v
 *   closed <------ LINGER <------ CLOSE_NOTIFY
 *
 * Every state has one deadline (conn_deadline); scan_timeouts enforces them.
 */
#include "net.h"

#include "fieldsync.h"
#include "tls.h"

#include <errno.h>
#include <mbedtls/net_sockets.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define ERRMSG_LEN         512
#define READ_CHUNK         16384 /* one TLS record of plaintext */
#define MAX_EVENTS         256   /* epoll events per wake-up */
#define ACCEPTS_PER_WAKEUP 64    /* so a connect flood cannot starve open connections */
#define ACCEPT_PAUSE_MS    100   /* back-off when out of file descriptors */
#define LINGER_READS       16    /* drain at most this many reads per wake-up */
#define LOG_LINE           768
#define LOG_PER_SECOND     20  /* warn/error lines; the rest are counted, not written */
#define WORKER_BATCH       256 /* requests the worker takes per group commit */

/* ST_HELD: the request is with the worker thread (handler, then batch_end); the loop
 * does not touch the connection's reader or out until the worker hands it back. */
enum conn_state { ST_SNIFF, ST_HANDSHAKE, ST_READ, ST_HELD, ST_WRITE, ST_CLOSE_NOTIFY, ST_LINGER };

/* Result of one step of the state machine. */
enum step { STEP_AGAIN, STEP_BLOCKED, STEP_CLOSE };

enum counter {
    C_OPEN,
    C_TOTAL,
    C_REQUESTS,
    C_HS_FAIL,
    C_HS_TIMEOUT,
    C_REQ_TIMEOUT,
    C_IDLE,
    C_WRITE_TIMEOUT,
    C_REJ_CONN,
    C_REJ_TLS,
    C_REJ_HEADER,
    C_REJ_BODY,
    C_REJ_BAD,
    N_COUNTERS
};

typedef struct conn {
    struct conn *prev, *next; /* all connections, for timeouts and stop */
    int fd;
    enum conn_state state;
    uint32_t events;          /* epoll interest registered now */
    uint32_t want;            /* interest the last blocked step asked for */
    fsy__tls_io io;           /* what the TLS BIO reads and writes */
    mbedtls_ssl_context *ssl; /* NULL until the first byte says TLS (saves ~33 KiB) */
    fsy__http_reader reader;
    char *pending;           /* decrypted bytes after a complete request (pipelining) */
    size_t pending_off;      /* parsed bytes in pending */
    size_t pending_len;      /* bytes in pending */
    fsy__buf out;            /* bytes to send: TLS plaintext, or raw when is_plain */
    size_t out_off;          /* bytes of out already sent */
    int64_t accepted_ms;     /* monotonic ms */
    int64_t req_start_ms;    /* first raw byte of the request in progress; 0 = idle */
    int64_t idle_since_ms;   /* end of the last response (or handshake) */
    int64_t write_ms;        /* last write progress */
    int64_t linger_until_ms; /* LINGER deadline */
    bool is_plain;           /* answering non-TLS bytes: send out unencrypted */
    bool is_close_after_write;
    bool is_continue;        /* out holds "100 Continue"; the request is still being read */
    char peer[64];           /* "addr:port", "[v6addr]:port" */
    struct conn *held_next;  /* ST_HELD: next in the todo, queue or done list */
    fsy_http_response *resp; /* ST_HELD: what the handler answered (malloc'd) */
    bool is_batch_failed;    /* ST_HELD: batch_end failed: answer 503 instead */
    bool is_parked;          /* ST_HELD: taken out of epoll until the worker answers */
} conn;

struct fsy_net_server {
    fsy_net_opts opts; /* copied at listen; string members cleared */
    char bind_addr[64];
    fsy__tls_ctx tls;
    fsy__http_limits limits;
    int listen_fd;
    int epoll_fd;
    int stop_fd; /* eventfd written by fsy__net_server_stop */
    uint16_t port;
    bool is_listening;
    bool is_running;
    bool is_stopping;
    atomic_int stop_requested; /* lock-free, so setting it is async-signal-safe */
    int64_t stop_deadline_ms;
    int64_t next_scan_ms;     /* earliest connection deadline (may be stale-early) */
    int64_t accept_resume_ms; /* accepting paused until then (EMFILE); 0 = not paused */
    int64_t log_second;       /* rate limit for warn/error lines: current second */
    unsigned n_logged;        /* lines logged in it */
    uint64_t n_log_dropped;   /* lines dropped since the last one logged */
    conn *conns;
    size_t n_conns;
    /* The worker thread runs the handler and batch_end for each request, so the
     * store's work for one batch overlaps TLS, HTTP and gzip for the next. todo is the
     * loop's list of requests read this wake-up; queue (to the worker) and done (back
     * from it) are shared under mu. Lists keep arrival order. */
    conn *todo, *todo_tail;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    conn *queue, *queue_tail;
    conn *done, *done_tail;
    bool is_worker_quit; /* under mu: finish the queue, then exit */
    bool is_worker_started;
    pthread_t worker;
    int done_fd; /* eventfd the worker writes when done has entries */
    _Atomic uint64_t counters[N_COUNTERS];
    char listen_tag, stop_tag, done_tag; /* their addresses mark the special fds in epoll */
    char errmsg[ERRMSG_LEN];
    char rbuf[READ_CHUNK]; /* shared read buffer: only the loop thread reads sockets */
};

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void count(fsy_net_server *s, enum counter c)
{
    atomic_fetch_add_explicit(&s->counters[c], 1, memory_order_relaxed);
}

static void emit(fsy_net_server *s, const char *line)
{
    if (s->opts.log)
        s->opts.log(line, s->opts.log_userdata);
    else
        fprintf(stderr, "%s\n", line); /* one call: lines from threads do not interleave */
}

/* One line: "<UTC time> fieldsyncd net <level>: <message>". Warnings and errors are
 * limited to LOG_PER_SECOND so a scan or a flood cannot flood the log; how many were
 * dropped is reported with the next line that gets through. */
__attribute__((format(printf, 3, 4))) static void net_log(fsy_net_server *s, const char *level,
                                                          const char *fmt, ...)
{
    char line[LOG_LINE];
    struct timespec ts;
    struct tm tm;
    va_list ap;
    size_t n, i;

    if (strcmp(level, "info") != 0) {
        int64_t second = now_ms() / 1000;

        if (second != s->log_second) {
            s->log_second = second;
            s->n_logged = 0;
        }
        if (++s->n_logged > LOG_PER_SECOND) {
            s->n_log_dropped++;
            return;
        }
        if (s->n_log_dropped) {
            uint64_t dropped = s->n_log_dropped;

            s->n_log_dropped = 0;
            net_log(s, "warn", "%llu log lines dropped (more than %d a second)",
                    (unsigned long long)dropped, LOG_PER_SECOND);
        }
    }
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    n = (size_t)snprintf(
        line, sizeof(line),
        "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ fieldsyncd net %s: ", tm.tm_year + 1900,
        tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000, level);
    if (n >= sizeof(line))
        n = sizeof(line) - 1;
    va_start(ap, fmt);
    vsnprintf(line + n, sizeof(line) - n, fmt, ap);
    va_end(ap);
    for (i = n; line[i]; i++) /* peers choose paths: keep it one line, no escapes */
        if ((unsigned char)line[i] < 0x20 || line[i] == 0x7f)
            line[i] = '?';
    emit(s, line);
}

__attribute__((format(printf, 3, 4))) static int set_err(fsy_net_server *s, int code,
                                                         const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(s->errmsg, sizeof(s->errmsg), fmt, ap);
    va_end(ap);
    return code;
}

/* ---- Connections ------------------------------------------------------------------ */

static bool has_pending(const conn *c)
{
    return c->pending_off < c->pending_len;
}

static void drop_pending(conn *c)
{
    free(c->pending);
    c->pending = NULL;
    c->pending_off = 0;
    c->pending_len = 0;
}

/* A request is in flight once any byte of it has arrived (raw TLS bytes count). */
static bool is_in_flight(const conn *c)
{
    return c->req_start_ms != 0 || has_pending(c) || fsy__http_reader_is_started(&c->reader) ||
           (c->ssl && mbedtls_ssl_check_pending(c->ssl));
}

static int64_t conn_deadline(const fsy_net_server *s, const conn *c)
{
    const fsy_net_opts *o = &s->opts;

    switch (c->state) {
    case ST_SNIFF:
    case ST_HANDSHAKE:
        return c->accepted_ms + o->handshake_timeout_ms;
    case ST_READ:
        if (c->req_start_ms)
            return c->req_start_ms + o->request_timeout_ms;
        return c->idle_since_ms + o->idle_timeout_ms;
    case ST_HELD:
        return INT64_MAX; /* the worker owns it; a slow store answers 503 itself */
    case ST_WRITE:
    case ST_CLOSE_NOTIFY:
        return c->write_ms + o->write_timeout_ms;
    case ST_LINGER:
        return c->linger_until_ms;
    }
    return 0;
}

static void arm(fsy_net_server *s, const conn *c)
{
    int64_t d = conn_deadline(s, c);

    if (d < s->next_scan_ms)
        s->next_scan_ms = d;
}

static void conn_close(fsy_net_server *s, conn *c)
{
    epoll_ctl(s->epoll_fd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    fsy__tls_conn_free(c->ssl);
    fsy__http_reader_free(&c->reader);
    fsy__buf_free(&c->out);
    drop_pending(c);
    if (c->resp)
        free(c->resp->body);
    free(c->resp);
    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    s->n_conns--;
    atomic_fetch_sub_explicit(&s->counters[C_OPEN], 1, memory_order_relaxed);
    free(c);
}

static void format_peer(char *out, size_t out_len, const struct sockaddr *sa, socklen_t sa_len)
{
    char host[64], serv[16];

    if (getnameinfo(sa, sa_len, host, sizeof(host), serv, sizeof(serv),
                    NI_NUMERICHOST | NI_NUMERICSERV) != 0)
        snprintf(out, out_len, "?");
    else if (sa->sa_family == AF_INET6)
        snprintf(out, out_len, "[%.50s]:%.6s", host, serv);
    else
        snprintf(out, out_len, "%.50s:%.6s", host, serv);
}

static int conn_new(fsy_net_server *s, int fd, const struct sockaddr *sa, socklen_t sa_len)
{
    struct epoll_event ev;
    conn *c = calloc(1, sizeof(*c));
    int one = 1;

    if (!c)
        return FSY_ENOMEM;
    c->fd = fd;
    c->io.fd = fd;
    c->state = ST_SNIFF;
    c->accepted_ms = now_ms();
    format_peer(c->peer, sizeof(c->peer), sa, sa_len);
    fsy__http_reader_init(&c->reader, &s->limits);
    /* Responses go out whole; Nagle would hold back the tail of each one. */
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));

    memset(&ev, 0, sizeof(ev));
    ev.events = EPOLLIN;
    ev.data.ptr = c;
    if (epoll_ctl(s->epoll_fd, EPOLL_CTL_ADD, fd, &ev) != 0) {
        free(c);
        return FSY_ERROR;
    }
    c->events = EPOLLIN;
    c->want = EPOLLIN;
    c->next = s->conns;
    if (s->conns)
        s->conns->prev = c;
    s->conns = c;
    s->n_conns++;
    count(s, C_OPEN);
    arm(s, c);
    return FSY_OK;
}

/* Queue a JSON error response for a request the net layer refuses, then close. */
static enum step reject(fsy_net_server *s, conn *c, int status, const char *code,
                        const char *message)
{
    if (status == 431)
        count(s, C_REJ_HEADER);
    else if (status == 413)
        count(s, C_REJ_BODY);
    else if (status != 408 && status != 503)
        count(s, C_REJ_BAD);
    net_log(s, "warn", "%s: %d %s: %s", c->peer, status, code, message);
    drop_pending(c);
    fsy__buf_free(&c->out);
    c->out_off = 0;
    if (fsy__http_error_write(&c->out, status, code, message) != FSY_OK)
        return STEP_CLOSE;
    fsy__http_reader_next(&c->reader); /* after the write: message may live in the reader */
    c->is_close_after_write = true;
    c->is_continue = false;
    c->state = ST_WRITE;
    c->write_ms = now_ms();
    return STEP_AGAIN;
}

static enum step do_sniff(fsy_net_server *s, conn *c)
{
    unsigned char first;
    ssize_t n = recv(c->fd, &first, 1, MSG_PEEK);

    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
        c->want = EPOLLIN;
        return STEP_BLOCKED;
    }
    if (n <= 0)
        return STEP_CLOSE; /* a port probe or a reset: nothing to say */
    if (first != 0x16) {   /* not a TLS handshake record: most likely http:// */
        count(s, C_REJ_TLS);
        net_log(s, "warn", "%s: not TLS (first byte 0x%02x): 400 tls_required", c->peer, first);
        if (fsy__http_error_write(&c->out, 400, "tls_required",
                                  "this port speaks HTTPS only; use an https:// URL") != FSY_OK)
            return STEP_CLOSE;
        c->is_plain = true;
        c->is_close_after_write = true;
        c->state = ST_WRITE;
        c->write_ms = now_ms();
        return STEP_AGAIN;
    }
    if (fsy__tls_conn_new(&c->ssl, &s->tls, &c->io) != FSY_OK) {
        net_log(s, "error", "%s: out of memory for a TLS session", c->peer);
        return STEP_CLOSE;
    }
    c->state = ST_HANDSHAKE;
    return STEP_AGAIN;
}

static enum step do_handshake(fsy_net_server *s, conn *c)
{
    char why[160];
    int ret = mbedtls_ssl_handshake(c->ssl);

    if (ret == 0) {
        c->state = ST_READ;
        c->idle_since_ms = now_ms();
        c->req_start_ms = 0;
        return STEP_AGAIN;
    }
    if (ret == MBEDTLS_ERR_SSL_WANT_READ || ret == MBEDTLS_ERR_SSL_WANT_WRITE) {
        c->want = ret == MBEDTLS_ERR_SSL_WANT_READ ? EPOLLIN : EPOLLOUT;
        return STEP_BLOCKED;
    }
    count(s, C_HS_FAIL);
    fsy__tls_strerror(ret, why, sizeof(why));
    net_log(s, "warn", "%s: TLS handshake failed: %s", c->peer, why);
    return STEP_CLOSE;
}

/* Keep the bytes after a complete request for the next one (pipelining). */
static int keep_rest(conn *c, const char *rest, size_t rest_len, bool is_from_pending)
{
    if (is_from_pending) {
        c->pending_off = c->pending_len - rest_len;
        if (!rest_len)
            drop_pending(c);
        return FSY_OK;
    }
    if (!rest_len)
        return FSY_OK;
    c->pending = malloc(rest_len);
    if (!c->pending)
        return FSY_ENOMEM;
    memcpy(c->pending, rest, rest_len);
    c->pending_off = 0;
    c->pending_len = rest_len;
    return FSY_OK;
}

/* Append first..last (already linked through held_next) to a list kept with its tail. */
static void chain(conn **head, conn **tail, conn *first, conn *last)
{
    if (*tail)
        (*tail)->held_next = first;
    else
        *head = first;
    *tail = last;
}

/* Hand a complete request to the worker: queued at the end of this wake-up. */
static enum step respond(fsy_net_server *s, conn *c)
{
    fsy_http_request *req = fsy__http_reader_request(&c->reader);

    c->resp = calloc(1, sizeof(*c->resp));
    if (!c->resp) {
        net_log(s, "error", "%s: out of memory answering a request", c->peer);
        return STEP_CLOSE;
    }
    req->peer = c->peer;
    count(s, C_REQUESTS);
    c->is_batch_failed = false;
    c->held_next = NULL;
    chain(&s->todo, &s->todo_tail, c, c);
    c->state = ST_HELD;
    /* EPOLLIN stays armed: a client waits for its answer, so no event comes, and not
     * disarming here and re-arming after the write saves two epoll_ctl calls a request.
     * If anything does arrive (pipelining, a close, a reset), conn_drive parks it. */
    return STEP_BLOCKED;
}

/* The worker has answered: write the response (or 503 when its batch failed to
 * commit) and move on to ST_WRITE. */
static enum step finish(fsy_net_server *s, conn *c)
{
    fsy_http_request *req = fsy__http_reader_request(&c->reader);
    fsy_http_response *resp = c->resp;
    fsy__http_write_opts wo;
    size_t before;
    int rc;

    c->resp = NULL;
    if (c->is_batch_failed) {
        free(resp->body);
        memset(resp, 0, sizeof(*resp));
        fsy__http_response_set_error(resp, 503, "store_error",
                                     "the store could not commit this request's "
                                     "batch; nothing was applied: retry");
        fsy__http_response_add_header(resp, "Retry-After", "5");
    }
    c->is_close_after_write = !req->is_keep_alive || resp->is_close || s->is_stopping;
    memset(&wo, 0, sizeof(wo));
    wo.is_close = c->is_close_after_write;
    wo.is_head = strcmp(req->method, "HEAD") == 0;
    wo.accepts_gzip = req->accepts_gzip;
    wo.http_minor = req->http_minor;
    wo.gzip_min_bytes = s->opts.gzip_min_bytes;
    wo.gzip_level = s->opts.gzip_level;
    fsy__buf_free(&c->out);
    c->out_off = 0;
    before = resp->body_len;
    rc = fsy__http_response_write(&c->out, resp, &wo);
    if (s->opts.is_verbose)
        net_log(s, "info", "%s: %s %s -> %d (%zu bytes%s)", c->peer, req->method, req->path,
                resp->status, resp->body_len, resp->body_len != before ? ", gzip" : "");
    free(resp->body);
    free(resp);
    fsy__http_reader_next(&c->reader);
    if (rc != FSY_OK) {
        net_log(s, "error", "%s: out of memory writing a response", c->peer);
        return STEP_CLOSE;
    }
    if (c->is_close_after_write)
        drop_pending(c); /* pipelined requests after a close are not answered */
    c->write_ms = now_ms();
    c->state = ST_WRITE;
    return STEP_AGAIN;
}

/*
 * The worker thread. It takes every request queued since its last round, runs the
 * handler on each in arrival order, then batch_end once for those that deferred their
 * response (group commit: the batch shares one transaction and one fsync), and hands
 * them all back. Only this thread calls the handler and batch_end.
 */
static void *worker_main(void *arg)
{
    fsy_net_server *s = arg;
    uint64_t one = 1;

    for (;;) {
        conn *list, *last = NULL, *c;
        bool is_deferred = false;
        int rc = 0;

        pthread_mutex_lock(&s->mu);
        while (!s->queue && !s->is_worker_quit)
            pthread_cond_wait(&s->cv, &s->mu);
        list = s->queue;
        if (list) {
            /* At most WORKER_BATCH at once: a batch's responses wait for its commit, so a
             * bigger one holds more memory and delays its first answers longer. */
            last = list;
            for (int k = 1; k < WORKER_BATCH && last->held_next; k++)
                last = last->held_next;
            s->queue = last->held_next;
            if (!s->queue)
                s->queue_tail = NULL;
            last->held_next = NULL;
        }
        pthread_mutex_unlock(&s->mu);
        if (!list)
            break; /* told to quit, and nothing left */
        for (c = list; c; c = c->held_next) {
            s->opts.handler(fsy__http_reader_request(&c->reader), c->resp, s->opts.userdata);
            is_deferred = is_deferred || c->resp->is_deferred;
        }
        if (is_deferred && s->opts.batch_end)
            rc = s->opts.batch_end(s->opts.userdata);
        for (c = list; c; c = c->held_next)
            c->is_batch_failed = rc != 0 && c->resp->is_deferred;
        pthread_mutex_lock(&s->mu);
        chain(&s->done, &s->done_tail, list, last);
        pthread_mutex_unlock(&s->mu);
        if (write(s->done_fd, &one, sizeof(one)) < 0) {
            /* EAGAIN: a wake-up is already pending, which is all this asks for */
        }
    }
    return NULL;
}

/* End of a wake-up: what was read goes to the worker in one piece. */
static void submit_todo(fsy_net_server *s)
{
    if (!s->todo)
        return;
    pthread_mutex_lock(&s->mu);
    chain(&s->queue, &s->queue_tail, s->todo, s->todo_tail);
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
    s->todo = s->todo_tail = NULL;
}

static bool conn_drive(fsy_net_server *s, conn *c);

/* Answers from the worker: write each; driving a connection on may read a pipelined
 * request, which goes to todo again. */
static void take_done(fsy_net_server *s)
{
    conn *list;
    uint64_t v;

    if (read(s->done_fd, &v, sizeof(v)) < 0) { /* drained; the list decides */
    }
    pthread_mutex_lock(&s->mu);
    list = s->done;
    s->done = s->done_tail = NULL;
    pthread_mutex_unlock(&s->mu);
    while (list) {
        conn *c = list;

        list = c->held_next;
        c->held_next = NULL;
        if (finish(s, c) == STEP_CLOSE) {
            conn_close(s, c);
            continue;
        }
        conn_drive(s, c);
    }
}

/* Stop the worker after it has answered everything queued; then no other thread
 * touches a connection, and close_all may free them. */
static void stop_worker(fsy_net_server *s)
{
    if (!s->is_worker_started)
        return;
    submit_todo(s);
    pthread_mutex_lock(&s->mu);
    s->is_worker_quit = true;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->worker, NULL);
    s->is_worker_started = false;
}

static enum step do_read(fsy_net_server *s, conn *c)
{
    for (;;) {
        const char *data;
        size_t len, used = 0;
        bool is_from_pending = has_pending(c);
        int st;

        if (is_from_pending) {
            data = c->pending + c->pending_off;
            len = c->pending_len - c->pending_off;
        } else {
            uint64_t rx = c->io.n_rx;
            int ret;

            if (s->is_stopping && !is_in_flight(c)) {
                c->state = ST_CLOSE_NOTIFY;
                c->write_ms = now_ms();
                return STEP_AGAIN;
            }
            ret = mbedtls_ssl_read(c->ssl, (unsigned char *)s->rbuf, sizeof(s->rbuf));
            if (c->io.n_rx != rx && c->req_start_ms == 0)
                c->req_start_ms = now_ms(); /* the request timer starts at its first byte */
            if (ret == MBEDTLS_ERR_SSL_WANT_READ || ret == MBEDTLS_ERR_SSL_WANT_WRITE) {
                c->want = ret == MBEDTLS_ERR_SSL_WANT_READ ? EPOLLIN : EPOLLOUT;
                return STEP_BLOCKED;
            }
            if (ret <= 0) {
                if (ret < 0 && ret != MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY &&
                    ret != MBEDTLS_ERR_SSL_CONN_EOF && ret != MBEDTLS_ERR_NET_CONN_RESET) {
                    char why[160];

                    fsy__tls_strerror(ret, why, sizeof(why));
                    net_log(s, "warn", "%s: TLS read failed: %s", c->peer, why);
                }
                return STEP_CLOSE; /* the peer closed (possibly mid-request) */
            }
            data = s->rbuf;
            len = (size_t)ret;
        }

        st = fsy__http_reader_feed(&c->reader, data, len, &used);
        if (st == FSY__HTTP_FAIL)
            return reject(s, c, c->reader.err.status, c->reader.err.code, c->reader.err.message);
        if (st == FSY__HTTP_READY) {
            c->reader.is_continue_due = false; /* the body came anyway: no 100 needed */
            if (keep_rest(c, data + used, len - used, is_from_pending) != FSY_OK) {
                net_log(s, "error", "%s: out of memory keeping pipelined bytes", c->peer);
                return STEP_CLOSE;
            }
            return respond(s, c);
        }
        if (is_from_pending)
            drop_pending(c);
        if (c->reader.is_continue_due) {
            /* The client waits (curl: 1 s) for this before sending a large body. */
            static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";

            c->reader.is_continue_due = false;
            fsy__buf_free(&c->out);
            c->out_off = 0;
            if (fsy__buf_append(&c->out, cont, sizeof(cont) - 1, sizeof(cont)) != FSY_OK)
                return STEP_CLOSE;
            c->is_continue = true;
            c->state = ST_WRITE;
            c->write_ms = now_ms();
            return STEP_AGAIN;
        }
    }
}

static enum step do_write(fsy_net_server *s, conn *c)
{
    while (c->out_off < c->out.len) {
        size_t left = c->out.len - c->out_off;

        if (c->is_plain) {
            ssize_t n = send(c->fd, c->out.data + c->out_off, left, MSG_NOSIGNAL);

            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
                c->want = EPOLLOUT;
                return STEP_BLOCKED;
            }
            if (n < 0)
                return STEP_CLOSE;
            c->out_off += (size_t)n;
        } else {
            int n =
                mbedtls_ssl_write(c->ssl, (const unsigned char *)c->out.data + c->out_off, left);

            if (n == MBEDTLS_ERR_SSL_WANT_WRITE || n == MBEDTLS_ERR_SSL_WANT_READ) {
                c->want = n == MBEDTLS_ERR_SSL_WANT_READ ? EPOLLIN : EPOLLOUT;
                return STEP_BLOCKED;
            }
            if (n < 0) {
                if (n != MBEDTLS_ERR_NET_CONN_RESET) {
                    char why[160];

                    fsy__tls_strerror(n, why, sizeof(why));
                    net_log(s, "warn", "%s: TLS write failed: %s", c->peer, why);
                }
                return STEP_CLOSE;
            }
            c->out_off += (size_t)n;
        }
        c->write_ms = now_ms();
    }
    fsy__buf_free(&c->out);
    c->out_off = 0;

    if (c->is_plain) {
        shutdown(c->fd, SHUT_WR);
        c->state = ST_LINGER;
        c->linger_until_ms = now_ms() + s->opts.linger_ms;
        return STEP_AGAIN;
    }
    if (c->is_continue) { /* back to reading the same request's body */
        c->is_continue = false;
        c->state = ST_READ;
        return STEP_AGAIN;
    }
    if (c->is_close_after_write) {
        c->state = ST_CLOSE_NOTIFY;
        c->write_ms = now_ms();
        return STEP_AGAIN;
    }
    c->state = ST_READ;
    c->idle_since_ms = now_ms();
    /* Bytes of the next request may already be here (pipelined or buffered by TLS):
     * then its timer runs from now, otherwise the idle timer does. */
    c->req_start_ms = 0;
    if (is_in_flight(c))
        c->req_start_ms = c->idle_since_ms;
    return STEP_AGAIN;
}

static enum step do_close_notify(fsy_net_server *s, conn *c)
{
    int ret = c->ssl ? mbedtls_ssl_close_notify(c->ssl) : 0;

    if (ret == MBEDTLS_ERR_SSL_WANT_WRITE || ret == MBEDTLS_ERR_SSL_WANT_READ) {
        c->want = ret == MBEDTLS_ERR_SSL_WANT_READ ? EPOLLIN : EPOLLOUT;
        return STEP_BLOCKED;
    }
    if (!c->is_close_after_write)
        return STEP_CLOSE; /* idle close (timeout, stop): no response for the peer to read */
    /* After a final response: half-close, then drain what the client is still sending.
     * Closing a socket with unread input makes the kernel send a reset, which can destroy
     * the response the client has not read yet (a 413 in the middle of an upload). */
    shutdown(c->fd, SHUT_WR);
    c->state = ST_LINGER;
    c->linger_until_ms = now_ms() + s->opts.linger_ms;
    return STEP_AGAIN;
}

static enum step do_linger(fsy_net_server *s, conn *c)
{
    int i;

    for (i = 0; i < LINGER_READS; i++) {
        ssize_t n = recv(c->fd, s->rbuf, sizeof(s->rbuf), 0);

        if (n > 0)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
            break;
        return STEP_CLOSE; /* end of stream or error: the client is done */
    }
    c->want = EPOLLIN;
    return STEP_BLOCKED;
}

static void set_interest(fsy_net_server *s, conn *c)
{
    struct epoll_event ev;

    if (c->is_parked && c->state == ST_HELD)
        return;
    if (c->is_parked) {
        memset(&ev, 0, sizeof(ev));
        ev.events = c->want;
        ev.data.ptr = c;
        if (epoll_ctl(s->epoll_fd, EPOLL_CTL_ADD, c->fd, &ev) == 0) {
            c->is_parked = false;
            c->events = c->want;
        }
        return;
    }
    if (c->want == c->events)
        return;
    memset(&ev, 0, sizeof(ev));
    ev.events = c->want;
    ev.data.ptr = c;
    if (epoll_ctl(s->epoll_fd, EPOLL_CTL_MOD, c->fd, &ev) == 0)
        c->events = c->want;
}

/* Something arrived for a connection whose request is with the worker: more bytes (a
 * pipelined request), an end of stream or a reset. Nothing can be done before the
 * answer, and a reset is reported by epoll whatever the interest, so the connection
 * leaves epoll until then (set_interest puts it back); otherwise the loop would spin on
 * it for as long as the handler runs. A hang-up shows when the answer is written. */
static void park(fsy_net_server *s, conn *c)
{
    if (c->is_parked)
        return;
    if (epoll_ctl(s->epoll_fd, EPOLL_CTL_DEL, c->fd, NULL) == 0) {
        c->is_parked = true;
        c->events = 0;
    }
}

/* Run the connection's state machine until it waits for I/O or is closed. Returns
 * false when the connection was freed. */
static bool conn_drive(fsy_net_server *s, conn *c)
{
    for (;;) {
        enum step st = STEP_CLOSE;

        switch (c->state) {
        case ST_SNIFF:
            st = do_sniff(s, c);
            break;
        case ST_HANDSHAKE:
            st = do_handshake(s, c);
            break;
        case ST_READ:
            st = do_read(s, c);
            break;
        case ST_HELD:
            park(s, c);
            st = STEP_BLOCKED; /* take_done moves it on */
            break;
        case ST_WRITE:
            st = do_write(s, c);
            break;
        case ST_CLOSE_NOTIFY:
            st = do_close_notify(s, c);
            break;
        case ST_LINGER:
            st = do_linger(s, c);
            break;
        }
        if (st == STEP_AGAIN)
            continue;
        if (st == STEP_CLOSE) {
            conn_close(s, c);
            return false;
        }
        set_interest(s, c);
        arm(s, c);
        return true;
    }
}

static void on_timeout(fsy_net_server *s, conn *c)
{
    switch (c->state) {
    case ST_SNIFF:
    case ST_HANDSHAKE:
        count(s, C_HS_TIMEOUT);
        net_log(s, "warn", "%s: TLS handshake not done within %d ms: closed", c->peer,
                s->opts.handshake_timeout_ms);
        conn_close(s, c);
        return;
    case ST_READ:
        if (c->req_start_ms) {
            char msg[96];

            count(s, C_REQ_TIMEOUT);
            snprintf(msg, sizeof(msg), "request not complete within %d ms",
                     s->opts.request_timeout_ms);
            if (reject(s, c, 408, "timeout", msg) != STEP_AGAIN) {
                conn_close(s, c);
                return;
            }
        } else {
            count(s, C_IDLE);
            if (s->opts.is_verbose)
                net_log(s, "info", "%s: idle for %d ms: closed", c->peer, s->opts.idle_timeout_ms);
            c->state = ST_CLOSE_NOTIFY;
            c->write_ms = now_ms();
        }
        conn_drive(s, c);
        return;
    case ST_HELD:
    case ST_WRITE:
    case ST_CLOSE_NOTIFY:
        count(s, C_WRITE_TIMEOUT);
        net_log(s, "warn", "%s: no write progress for %d ms (client not reading): reset", c->peer,
                s->opts.write_timeout_ms);
        {
            /* Reset instead of close: otherwise the kernel keeps the unsent response
             * (megabytes of send buffer) for a peer that does not read. */
            struct linger lg = {1, 0};

            setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
        }
        conn_close(s, c);
        return;
    case ST_LINGER:
        conn_close(s, c);
        return;
    }
}

static void scan_timeouts(fsy_net_server *s, int64_t now)
{
    conn *c, *next;

    s->next_scan_ms = INT64_MAX;
    for (c = s->conns; c; c = next) {
        next = c->next; /* on_timeout may free c, never another connection */
        if (now >= conn_deadline(s, c))
            on_timeout(s, c);
        else
            arm(s, c);
    }
}

/* ---- Accept and stop -------------------------------------------------------------- */

static void pause_accept(fsy_net_server *s, int64_t until)
{
    struct epoll_event ev;

    memset(&ev, 0, sizeof(ev));
    ev.data.ptr = &s->listen_tag;
    epoll_ctl(s->epoll_fd, EPOLL_CTL_MOD, s->listen_fd, &ev); /* no events: paused */
    s->accept_resume_ms = until;
}

static void resume_accept(fsy_net_server *s)
{
    struct epoll_event ev;

    memset(&ev, 0, sizeof(ev));
    ev.events = EPOLLIN;
    ev.data.ptr = &s->listen_tag;
    if (s->listen_fd >= 0)
        epoll_ctl(s->epoll_fd, EPOLL_CTL_MOD, s->listen_fd, &ev);
    s->accept_resume_ms = 0;
}

static void refuse(fsy_net_server *s, int fd, const struct sockaddr *sa, socklen_t sa_len)
{
    char peer[64];

    count(s, C_REJ_CONN);
    close(fd); /* no TLS handshake is spent on a connection that cannot be served */
    format_peer(peer, sizeof(peer), sa, sa_len);
    net_log(s, "warn", "%s: refused: %zu connections open (max_connections %d)", peer, s->n_conns,
            s->opts.max_connections);
}

static void accept_ready(fsy_net_server *s)
{
    int i;

    for (i = 0; i < ACCEPTS_PER_WAKEUP; i++) {
        struct sockaddr_storage ss;
        socklen_t ss_len = sizeof(ss);
        int fd =
            accept4(s->listen_fd, (struct sockaddr *)&ss, &ss_len, SOCK_NONBLOCK | SOCK_CLOEXEC);

        if (fd < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return;
            if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO)
                continue;
            /* EMFILE and friends: the pending connection stays queued and the listener
             * stays readable, so back off instead of spinning. */
            net_log(s, "error", "accept: %s; pausing accepts for %d ms", strerror(errno),
                    ACCEPT_PAUSE_MS);
            pause_accept(s, now_ms() + ACCEPT_PAUSE_MS);
            return;
        }
        count(s, C_TOTAL);
        if (s->n_conns >= (size_t)s->opts.max_connections) {
            refuse(s, fd, (struct sockaddr *)&ss, ss_len);
            continue;
        }
        if (conn_new(s, fd, (struct sockaddr *)&ss, ss_len) != FSY_OK) {
            net_log(s, "error", "accept: cannot set up a connection (out of memory)");
            close(fd);
        }
    }
}

static void close_listener(fsy_net_server *s)
{
    if (s->listen_fd < 0)
        return;
    epoll_ctl(s->epoll_fd, EPOLL_CTL_DEL, s->listen_fd, NULL);
    close(s->listen_fd);
    s->listen_fd = -1;
    s->accept_resume_ms = 0;
}

static void begin_stop(fsy_net_server *s)
{
    conn *c, *next;
    size_t n_before = s->n_conns;

    s->is_stopping = true;
    s->stop_deadline_ms = now_ms() + s->opts.shutdown_timeout_ms;
    close_listener(s); /* new connections are now refused by the kernel */
    for (c = s->conns; c; c = next) {
        next = c->next;
        if (c->state == ST_SNIFF || c->state == ST_HANDSHAKE || c->state == ST_LINGER) {
            conn_close(s, c);
        } else if (c->state == ST_READ && !is_in_flight(c)) {
            c->state = ST_CLOSE_NOTIFY;
            c->write_ms = now_ms();
            conn_drive(s, c);
        }
    }
    if (s->opts.is_verbose || s->n_conns)
        net_log(s, "info", "stopping: %zu connections were open, %zu still finishing a request",
                n_before, s->n_conns);
}

static void close_all(fsy_net_server *s)
{
    while (s->conns)
        conn_close(s, s->conns);
}

static int loop_timeout(const fsy_net_server *s, int64_t now)
{
    int64_t next = s->next_scan_ms;

    if (s->is_stopping && s->stop_deadline_ms < next)
        next = s->stop_deadline_ms;
    if (s->accept_resume_ms && s->accept_resume_ms < next)
        next = s->accept_resume_ms;
    if (next == INT64_MAX)
        return -1;
    if (next <= now)
        return 0;
    return next - now > 60000 ? 60000 : (int)(next - now);
}

/* ---- Public ----------------------------------------------------------------------- */

int fsy__net_server_new(fsy_net_server **out)
{
    fsy_net_server *s;
    int i;

    if (!out)
        return FSY_EMISUSE;
    *out = NULL;
    s = calloc(1, sizeof(*s));
    if (!s)
        return FSY_ENOMEM;
    s->listen_fd = -1;
    s->epoll_fd = -1;
    s->stop_fd = -1;
    s->done_fd = -1;
    if (pthread_mutex_init(&s->mu, NULL) != 0) {
        free(s);
        return FSY_ENOMEM;
    }
    if (pthread_cond_init(&s->cv, NULL) != 0) {
        pthread_mutex_destroy(&s->mu);
        free(s);
        return FSY_ENOMEM;
    }
    atomic_init(&s->stop_requested, 0);
    for (i = 0; i < N_COUNTERS; i++)
        atomic_init(&s->counters[i], 0);
    *out = s;
    return FSY_OK;
}

/* Copy options, filling defaults for fields left 0 and refusing nonsense. */
static int take_opts(fsy_net_server *s, const fsy_net_opts *in)
{
    fsy_net_opts *o = &s->opts;

    if (in->version != FSY_NET_OPTS_VERSION)
        return set_err(s, FSY_EINVAL, "fsy_net_opts version %d is not %d", in->version,
                       FSY_NET_OPTS_VERSION);
    if (!in->handler || !in->cert_file || !in->key_file)
        return set_err(s, FSY_EINVAL, "handler, cert_file and key_file are required");
    *o = *in;
#define DEFAULT(field, value)                                                                      \
    do {                                                                                           \
        if (o->field == 0)                                                                         \
            o->field = (value);                                                                    \
    } while (0)
    DEFAULT(max_header_bytes, FSY_NET_DEFAULT_MAX_HEADER_BYTES);
    DEFAULT(max_body_bytes, FSY_NET_DEFAULT_MAX_BODY_BYTES);
    DEFAULT(max_inflated_body_bytes, FSY_NET_DEFAULT_MAX_INFLATED_BODY_BYTES);
    DEFAULT(max_connections, FSY_NET_DEFAULT_MAX_CONNECTIONS);
    DEFAULT(handshake_timeout_ms, FSY_NET_DEFAULT_HANDSHAKE_TIMEOUT_MS);
    DEFAULT(request_timeout_ms, FSY_NET_DEFAULT_REQUEST_TIMEOUT_MS);
    DEFAULT(idle_timeout_ms, FSY_NET_DEFAULT_IDLE_TIMEOUT_MS);
    DEFAULT(write_timeout_ms, FSY_NET_DEFAULT_WRITE_TIMEOUT_MS);
    DEFAULT(linger_ms, FSY_NET_DEFAULT_LINGER_MS);
    DEFAULT(shutdown_timeout_ms, FSY_NET_DEFAULT_SHUTDOWN_TIMEOUT_MS);
    DEFAULT(gzip_min_bytes, FSY_NET_DEFAULT_GZIP_MIN_BYTES);
    DEFAULT(gzip_level, FSY_NET_DEFAULT_GZIP_LEVEL);
#undef DEFAULT
    if (o->max_connections < 0 || o->handshake_timeout_ms < 0 || o->request_timeout_ms < 0 ||
        o->idle_timeout_ms < 0 || o->write_timeout_ms < 0 || o->linger_ms < 0 ||
        o->shutdown_timeout_ms < 0)
        return set_err(s, FSY_EINVAL, "limits and timeouts must not be negative");
    if (o->gzip_level < 1 || o->gzip_level > 9)
        return set_err(s, FSY_EINVAL, "gzip_level must be 1..9, not %d", o->gzip_level);
    if (snprintf(s->bind_addr, sizeof(s->bind_addr), "%s",
                 in->bind_addr ? in->bind_addr : "127.0.0.1") >= (int)sizeof(s->bind_addr))
        return set_err(s, FSY_EINVAL, "bind_addr is too long");
    o->bind_addr = s->bind_addr;
    o->cert_file = NULL; /* only needed during listen; never keep caller pointers */
    o->key_file = NULL;
    s->limits.max_header_bytes = o->max_header_bytes;
    s->limits.max_body_bytes = o->max_body_bytes;
    s->limits.max_inflated_body_bytes = o->max_inflated_body_bytes;
    return FSY_OK;
}

static void check_fd_limit(fsy_net_server *s)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
        rl.rlim_cur < (rlim_t)s->opts.max_connections + 64)
        net_log(s, "warn",
                "open-file limit %llu is below max_connections %d + 64; accepts will fail "
                "first (raise it with ulimit -n or LimitNOFILE=)",
                (unsigned long long)rl.rlim_cur, s->opts.max_connections);
}

int fsy__net_server_listen(fsy_net_server *s, const fsy_net_opts *opts)
{
    struct addrinfo hints, *ai = NULL;
    struct sockaddr_storage ss;
    socklen_t ss_len = sizeof(ss);
    struct epoll_event ev;
    char port_str[8];
    int fd = -1, one = 1, gai, rc;

    if (!s || !opts)
        return FSY_EMISUSE;
    if (s->is_listening || s->is_running)
        return set_err(s, FSY_EMISUSE, "server is already listening");
    s->errmsg[0] = '\0';
    rc = take_opts(s, opts);
    if (rc != FSY_OK)
        return rc;
    rc = fsy__tls_ctx_init(&s->tls, opts->cert_file, opts->key_file, s->errmsg, sizeof(s->errmsg));
    if (rc != FSY_OK)
        goto done;

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV;
    snprintf(port_str, sizeof(port_str), "%u", (unsigned)s->opts.port);
    gai = getaddrinfo(s->bind_addr, port_str, &hints, &ai);
    if (gai != 0) {
        rc = set_err(s, FSY_EINVAL, "bind address %s: %s", s->bind_addr, gai_strerror(gai));
        goto done;
    }
    fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0) {
        rc = set_err(s, FSY_ERROR, "socket: %s", strerror(errno));
        goto done;
    }
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, SOMAXCONN) != 0) {
        rc = set_err(s, FSY_ERROR, "cannot listen on %s port %u: %s", s->bind_addr,
                     (unsigned)s->opts.port, strerror(errno));
        goto done;
    }
    if (getsockname(fd, (struct sockaddr *)&ss, &ss_len) != 0) {
        rc = set_err(s, FSY_ERROR, "getsockname: %s", strerror(errno));
        goto done;
    }
    s->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                             : ((struct sockaddr_in *)&ss)->sin_port);

    s->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    s->stop_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    s->done_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (s->epoll_fd < 0 || s->stop_fd < 0 || s->done_fd < 0) {
        rc = set_err(s, FSY_ERROR, "epoll/eventfd: %s", strerror(errno));
        goto done;
    }
    memset(&ev, 0, sizeof(ev));
    ev.events = EPOLLIN;
    ev.data.ptr = &s->listen_tag;
    if (epoll_ctl(s->epoll_fd, EPOLL_CTL_ADD, fd, &ev) != 0) {
        rc = set_err(s, FSY_ERROR, "epoll_ctl: %s", strerror(errno));
        goto done;
    }
    ev.data.ptr = &s->stop_tag;
    if (epoll_ctl(s->epoll_fd, EPOLL_CTL_ADD, s->stop_fd, &ev) != 0) {
        rc = set_err(s, FSY_ERROR, "epoll_ctl: %s", strerror(errno));
        goto done;
    }
    ev.data.ptr = &s->done_tag;
    if (epoll_ctl(s->epoll_fd, EPOLL_CTL_ADD, s->done_fd, &ev) != 0) {
        rc = set_err(s, FSY_ERROR, "epoll_ctl: %s", strerror(errno));
        goto done;
    }
    s->listen_fd = fd;
    fd = -1;
    s->is_listening = true;
    check_fd_limit(s);
    if (s->opts.is_verbose)
        net_log(s, "info", "listening on %s port %u", s->bind_addr, (unsigned)s->port);
    rc = FSY_OK;

done:
    if (ai)
        freeaddrinfo(ai);
    if (fd >= 0)
        close(fd);
    if (rc != FSY_OK) {
        if (s->epoll_fd >= 0)
            close(s->epoll_fd);
        if (s->stop_fd >= 0)
            close(s->stop_fd);
        if (s->done_fd >= 0)
            close(s->done_fd);
        s->epoll_fd = -1;
        s->stop_fd = -1;
        s->done_fd = -1;
        fsy__tls_ctx_free(&s->tls);
    }
    return rc;
}

uint16_t fsy__net_server_port(const fsy_net_server *s)
{
    return s && s->is_listening ? s->port : 0;
}

int fsy__net_server_run(fsy_net_server *s)
{
    struct epoll_event evs[MAX_EVENTS];
    int rc = FSY_OK;

    if (!s)
        return FSY_EMISUSE;
    if (!s->is_listening || s->is_running)
        return set_err(s, FSY_EMISUSE, "server is not listening, or already running");
    s->is_running = true;
    s->next_scan_ms = INT64_MAX;
    {
        /* Signals stay with the loop thread (stop is async-signal-safe anyway). */
        sigset_t all, old;
        int prc;

        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &old);
        s->is_worker_quit = false;
        prc = pthread_create(&s->worker, NULL, worker_main, s);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        if (prc != 0) {
            s->is_running = false;
            return set_err(s, FSY_ERROR, "starting the worker thread: %s", strerror(prc));
        }
        s->is_worker_started = true;
    }
    for (;;) {
        int64_t now;
        int n, i;

        if (!s->is_stopping && atomic_load(&s->stop_requested))
            begin_stop(s);
        if (s->is_stopping && !s->conns)
            break;
        now = now_ms();
        if (s->is_stopping && now >= s->stop_deadline_ms) {
            net_log(s, "warn", "shutdown timeout (%d ms): closing %zu connections",
                    s->opts.shutdown_timeout_ms, s->n_conns);
            break;
        }
        n = epoll_wait(s->epoll_fd, evs, MAX_EVENTS, loop_timeout(s, now));
        if (n < 0 && errno == EINTR)
            continue; /* a signal: its handler may have called stop */
        if (n < 0) {
            rc = set_err(s, FSY_ERROR, "epoll_wait: %s", strerror(errno));
            net_log(s, "error", "%s", s->errmsg);
            break;
        }
        bool is_done_ready = false;
        for (i = 0; i < n; i++) {
            void *tag = evs[i].data.ptr;

            if (tag == &s->listen_tag) {
                accept_ready(s);
            } else if (tag == &s->done_tag) {
                is_done_ready = true;
            } else if (tag == &s->stop_tag) {
                uint64_t v;

                if (read(s->stop_fd, &v, sizeof(v)) < 0) { /* drained; the flag decides */
                }
            } else {
                conn_drive(s, tag); /* an fd appears once per batch: tag is live */
            }
        }
        /* Answers go out after this batch of events: writing one may close its
         * connection, whose own event may come later in evs[] (a client that hung up
         * while its request was held), and that tag must not be freed under it. */
        if (is_done_ready)
            take_done(s);
        submit_todo(s);
        now = now_ms();
        if (s->accept_resume_ms && now >= s->accept_resume_ms)
            resume_accept(s);
        if (now >= s->next_scan_ms)
            scan_timeouts(s, now);
    }
    stop_worker(s);
    close_all(s);
    s->done = s->done_tail = NULL; /* those connections were just closed */
    close_listener(s);
    fsy__gzip_thread_end();
    s->is_running = false;
    s->is_listening = false;
    return rc;
}

void fsy__net_server_stop(fsy_net_server *s)
{
    int saved_errno = errno; /* a signal handler must not clobber errno */
    uint64_t one = 1;

    if (!s)
        return;
    atomic_store(&s->stop_requested, 1);
    if (s->stop_fd >= 0 && write(s->stop_fd, &one, sizeof(one)) < 0) {
        /* EAGAIN means a wake-up is already pending; nothing else can be done here */
    }
    errno = saved_errno;
}

void fsy__net_server_stats(fsy_net_stats *out, const fsy_net_server *s)
{
    fsy_net_server *m = (fsy_net_server *)s; /* atomic loads need a non-const object */

    memset(out, 0, sizeof(*out));
    if (!s)
        return;
#define LOAD(i) atomic_load_explicit(&m->counters[i], memory_order_relaxed)
    out->connections_open = LOAD(C_OPEN);
    out->connections_total = LOAD(C_TOTAL);
    out->requests_total = LOAD(C_REQUESTS);
    out->handshake_failures = LOAD(C_HS_FAIL);
    out->handshake_timeouts = LOAD(C_HS_TIMEOUT);
    out->request_timeouts = LOAD(C_REQ_TIMEOUT);
    out->idle_closes = LOAD(C_IDLE);
    out->write_timeouts = LOAD(C_WRITE_TIMEOUT);
    out->rejected_connections = LOAD(C_REJ_CONN);
    out->rejected_tls_required = LOAD(C_REJ_TLS);
    out->rejected_header_too_large = LOAD(C_REJ_HEADER);
    out->rejected_body_too_large = LOAD(C_REJ_BODY);
    out->rejected_bad_request = LOAD(C_REJ_BAD);
#undef LOAD
    out->limit_rejections = out->rejected_connections + out->rejected_header_too_large +
                            out->rejected_body_too_large + out->handshake_timeouts +
                            out->request_timeouts + out->write_timeouts;
}

const char *fsy__net_server_errmsg(const fsy_net_server *s)
{
    return s ? s->errmsg : "no server";
}

void fsy__net_server_free(fsy_net_server *s)
{
    if (!s)
        return;
    if (s->epoll_fd >= 0) {
        close_all(s);
        close_listener(s);
        close(s->epoll_fd);
    }
    if (s->stop_fd >= 0)
        close(s->stop_fd);
    if (s->done_fd >= 0)
        close(s->done_fd);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    fsy__tls_ctx_free(&s->tls);
    free(s);
}
