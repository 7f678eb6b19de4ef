/*
 * fault_proxy.c — see fault_proxy.h. Linux/POSIX sockets and pthreads; only the
 * torture tests use it.
 */
#include "fault_proxy.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define REPLAY_MAX    (64 * 1024)
#define IDLE_LIMIT_MS 30000 /* a connection with no traffic this long is closed */
#define STOP_WAIT_MS  5000

enum { PLAN_PASS, PLAN_DROP, PLAN_CUT_REQUEST, PLAN_CUT_RESPONSE, PLAN_DELAY, PLAN_REPLAY };

struct fault_proxy {
    int lfd, port;
    pthread_t acceptor;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int upstream_port, rate, active;
    bool stop;
    uint64_t rng;
    fault_stats st;
};

typedef struct conn {
    fault_proxy *p;
    int cfd, ufd, plan, delay_ms;
    long cut_at;
    uint64_t rng;
    unsigned char *rec; /* the client's bytes, for PLAN_REPLAY */
    size_t rec_len;
} conn;

static uint64_t next_rand(uint64_t *s)
{
    uint64_t x = *s ? *s : 0x9e3779b97f4a7c15ull;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545f4914f6cdd1dull;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static bool stopping(fault_proxy *p)
{
    pthread_mutex_lock(&p->mu);
    bool s = p->stop;
    pthread_mutex_unlock(&p->mu);
    return s;
}

static int connect_upstream(fault_proxy *p)
{
    pthread_mutex_lock(&p->mu);
    int port = p->upstream_port;
    pthread_mutex_unlock(&p->mu);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in a;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        close(fd);
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return fd;
}

/* Write all of buf, bounded by poll timeouts. False when the peer is gone. */
static bool send_all(int fd, const unsigned char *buf, size_t len)
{
    while (len > 0) {
        ssize_t w = send(fd, buf, len, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            struct pollfd pf = {fd, POLLOUT, 0};
            if (poll(&pf, 1, 5000) <= 0)
                return false;
            continue;
        }
        if (w <= 0)
            return false;
        buf += w;
        len -= (size_t)w;
    }
    return true;
}

/* Send the client's recorded bytes on a new connection and read whatever comes back. */
static void replay(conn *c)
{
    int fd = connect_upstream(c->p);
    if (fd < 0)
        return;
    send_all(fd, c->rec, c->rec_len);
    unsigned char sink[4096];
    for (int i = 0; i < 20; i++) { /* at most about 1 s */
        struct pollfd pf = {fd, POLLIN, 0};
        if (poll(&pf, 1, 50) < 0 && errno != EINTR)
            break;
        if (pf.revents) {
            ssize_t r = recv(fd, sink, sizeof(sink), 0);
            if (r <= 0)
                break;
        }
    }
    close(fd);
    pthread_mutex_lock(&c->p->mu);
    c->p->st.raw_replays++;
    pthread_mutex_unlock(&c->p->mu);
}

static void count(fault_proxy *p, long *field)
{
    pthread_mutex_lock(&p->mu);
    (*field)++;
    pthread_mutex_unlock(&p->mu);
}

static void pump(conn *c)
{
    unsigned char buf[16384];
    long up = 0, down = 0; /* bytes forwarded each way */
    int idle_ms = 0;
    bool delayed = false;
    for (;;) {
        if (stopping(c->p))
            return;
        struct pollfd pf[2] = {{c->cfd, POLLIN, 0}, {c->ufd, POLLIN, 0}};
        int n = poll(pf, 2, 100);
        if (n < 0 && errno != EINTR)
            return;
        if (n <= 0) {
            idle_ms += 100;
            if (idle_ms > IDLE_LIMIT_MS)
                return;
            continue;
        }
        idle_ms = 0;
        for (int side = 0; side < 2; side++) {
            if (!pf[side].revents)
                continue;
            int from = side == 0 ? c->cfd : c->ufd, to = side == 0 ? c->ufd : c->cfd;
            ssize_t r = recv(from, buf, sizeof(buf), 0);
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0)
                return; /* either side closed: close both */
            size_t len = (size_t)r;
            if (side == 0 && c->rec && c->rec_len < REPLAY_MAX) {
                size_t take = len < REPLAY_MAX - c->rec_len ? len : REPLAY_MAX - c->rec_len;
                memcpy(c->rec + c->rec_len, buf, take);
                c->rec_len += take;
            }
            long *done = side == 0 ? &up : &down;
            int cut_plan = side == 0 ? PLAN_CUT_REQUEST : PLAN_CUT_RESPONSE;
            if (c->plan == cut_plan && *done + (long)len >= c->cut_at) {
                size_t part = (size_t)(c->cut_at - *done);
                send_all(to, buf, part);
                count(c->p, side == 0 ? &c->p->st.cut_requests : &c->p->st.cut_responses);
                return;
            }
            if (c->plan == PLAN_DELAY && next_rand(&c->rng) % 3 == 0) {
                if (!delayed)
                    count(c->p, &c->p->st.delayed);
                delayed = true;
                sleep_ms(c->delay_ms);
            }
            if (!send_all(to, buf, len))
                return;
            *done += (long)len;
        }
    }
}

static void *conn_main(void *ud)
{
    conn *c = ud;
    fault_proxy *p = c->p;
    if (c->plan == PLAN_DROP) {
        count(p, &p->st.dropped);
    } else if ((c->ufd = connect_upstream(p)) >= 0) {
        pump(c);
        close(c->ufd);
        /* Close the client first, so it is not kept waiting for the replay. */
        close(c->cfd);
        c->cfd = -1;
        if (c->plan == PLAN_REPLAY && c->rec_len > 0 && !stopping(p))
            replay(c);
    }
    if (c->cfd >= 0)
        close(c->cfd);
    free(c->rec);
    free(c);
    pthread_mutex_lock(&p->mu);
    p->active--;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

static void *accept_main(void *ud)
{
    fault_proxy *p = ud;
    for (;;) {
        struct pollfd pf = {p->lfd, POLLIN, 0};
        int n = poll(&pf, 1, 100);
        if (stopping(p))
            return NULL;
        if (n <= 0)
            continue;
        int cfd = accept4(p->lfd, NULL, NULL, SOCK_CLOEXEC);
        if (cfd < 0)
            continue;
        int one = 1;
        setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        conn *c = calloc(1, sizeof(*c));
        if (!c) {
            close(cfd);
            continue;
        }
        c->p = p;
        c->cfd = cfd;
        c->ufd = -1;
        pthread_mutex_lock(&p->mu);
        p->st.connections++;
        uint64_t r = next_rand(&p->rng);
        c->rng = next_rand(&p->rng);
        int rate = p->rate;
        pthread_mutex_unlock(&p->mu);
        c->plan = (int)(r % 100) < rate ? 1 + (int)((r >> 8) % 5) : PLAN_PASS;
        /* Cuts land anywhere from the TLS handshake to deep inside a body. */
        c->cut_at = 1 + (long)((r >> 16) % 3 == 0 ? (r >> 24) % 1500 : (r >> 24) % 6000);
        c->delay_ms = 20 + (int)((r >> 40) % 300);
        if (c->plan == PLAN_REPLAY && !(c->rec = malloc(REPLAY_MAX)))
            c->plan = PLAN_PASS;
        pthread_t th;
        pthread_attr_t at;
        pthread_attr_init(&at);
        pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
        pthread_mutex_lock(&p->mu);
        p->active++;
        pthread_mutex_unlock(&p->mu);
        if (pthread_create(&th, &at, conn_main, c) != 0) {
            pthread_mutex_lock(&p->mu);
            p->active--;
            pthread_mutex_unlock(&p->mu);
            close(cfd);
            free(c->rec);
            free(c);
        }
        pthread_attr_destroy(&at);
    }
}

fault_proxy *fault_proxy_start(int upstream_port, uint64_t seed)
{
    fault_proxy *p = calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    p->upstream_port = upstream_port;
    p->rng = seed ? seed : 1;
    p->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a;
    socklen_t alen = sizeof(a);
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (p->lfd < 0 || bind(p->lfd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
        listen(p->lfd, 64) != 0 || getsockname(p->lfd, (struct sockaddr *)&a, &alen) != 0) {
        if (p->lfd >= 0)
            close(p->lfd);
        free(p);
        return NULL;
    }
    p->port = ntohs(a.sin_port);
    if (pthread_create(&p->acceptor, NULL, accept_main, p) != 0) {
        close(p->lfd);
        free(p);
        return NULL;
    }
    return p;
}

int fault_proxy_port(const fault_proxy *p)
{
    return p->port;
}

void fault_proxy_set_upstream(fault_proxy *p, int upstream_port)
{
    pthread_mutex_lock(&p->mu);
    p->upstream_port = upstream_port;
    pthread_mutex_unlock(&p->mu);
}

void fault_proxy_set_rate(fault_proxy *p, int percent)
{
    pthread_mutex_lock(&p->mu);
    p->rate = percent;
    pthread_mutex_unlock(&p->mu);
}

void fault_proxy_stats(fault_proxy *p, fault_stats *out)
{
    pthread_mutex_lock(&p->mu);
    *out = p->st;
    pthread_mutex_unlock(&p->mu);
}

void fault_proxy_stop(fault_proxy *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    p->stop = true;
    pthread_mutex_unlock(&p->mu);
    pthread_join(p->acceptor, NULL);
    close(p->lfd);
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += STOP_WAIT_MS / 1000;
    pthread_mutex_lock(&p->mu);
    while (p->active > 0)
        if (pthread_cond_timedwait(&p->cv, &p->mu, &until) != 0)
            break;
    int left = p->active;
    pthread_mutex_unlock(&p->mu);
    if (left > 0)
        return; /* a thread is stuck: leak the proxy rather than free it under it */
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    free(p);
}
