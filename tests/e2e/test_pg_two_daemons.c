/*
 * test_pg_two_daemons.c — two fieldsyncd daemons on one PostgreSQL database (issue 8),
 * the way a TCP load balancer would use them, with every promise of DESIGN §4 kept:
 *
 *   1. exactly once: a batch applied through daemon A and retried through daemon B
 *      gets the identical acknowledgement and changes nothing;
 *   2. conflict detection: two devices editing one field from the same base, pushing
 *      at the same time through different daemons, leave one conflict record and
 *      converge;
 *   3. random: devices on threads edit shared rows and sync through a random daemon at
 *      once (503 store_busy answers are retried, as a device would); in the end every
 *      device holds the same rows, nothing is pending, and the change log is complete
 *      (every entry numbered, each position once).
 *
 * PostgreSQL only (FSY_E2E_PG): exits 77 on SQLite. FSY_TEST_SEED replays a run.
 */
#include "e2e_support.h"

#include <pthread.h>
#include <signal.h>

#define N_CUST    3
#define N_DEVICES 3
#define ROUNDS    12

static e2e_daemon *g_d[2];
static char g_cust[N_CUST][37];
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static int g_busy; /* 503 answers seen (and retried) */

/* One push of the pending changes; false on 503 (nothing acknowledged). */
static bool try_push(e2e_daemon *d, e2e_device *dev)
{
    for (;;) {
        char *body = NULL;
        size_t len = 0;
        ASSERT_OK(dev->r, fsy_push_export(dev->r, 0, 0, &body, &len, NULL));
        if (!body)
            return true;
        e2e_resp r;
        e2e_post(d, "/v1/push", dev->token, body, len, &r);
        fsy_free(body);
        if (r.status == 503) {
            ASSERT_TRUE(r.retry_after[0] != '\0');
            e2e_resp_free(&r);
            return false;
        }
        if (r.status != 200)
            FSY_FAIL("%s: push answered %ld: %s", dev->user, r.status, r.body);
        ASSERT_OK(dev->r, fsy_push_apply_ack(dev->r, r.body, r.len));
        e2e_resp_free(&r);
    }
}

static bool try_pull(e2e_daemon *d, e2e_device *dev)
{
    for (int round = 0; round < 1000; round++) {
        int64_t cur = 0;
        ASSERT_OK(dev->r, fsy_pull_cursor(dev->r, &cur));
        char path[128];
        snprintf(path, sizeof(path), "/v1/pull?after=%lld", (long long)cur);
        e2e_resp r;
        e2e_get(d, path, dev->token, &r);
        if (r.status == 503) {
            e2e_resp_free(&r);
            return false;
        }
        if (r.status != 200)
            FSY_FAIL("%s: pull answered %ld: %s", dev->user, r.status, r.body);
        bool more = false;
        ASSERT_OK(dev->r, fsy_pull_apply(dev->r, r.body, r.len, &more));
        e2e_resp_free(&r);
        if (!more)
            return true;
    }
    FSY_FAIL("%s: pull does not terminate", dev->user);
}

/* Push then pull through d, retrying 503s with a short pause, bounded. */
static void sync_via(e2e_daemon *d, e2e_device *dev)
{
    for (int attempt = 0; attempt < 100; attempt++) {
        if (try_push(d, dev) && try_pull(d, dev))
            return;
        pthread_mutex_lock(&g_lock);
        g_busy++;
        pthread_mutex_unlock(&g_lock);
        e2e_sleep_ms(50);
    }
    FSY_FAIL("%s: still 503 after 100 attempts", dev->user);
}

typedef struct worker {
    e2e_device *dev;
    unsigned seed;
    int n;
} worker;

static void *work(void *arg)
{
    worker *w = arg;
    char fields[200];
    for (int i = 0; i < ROUNDS; i++) {
        const char *id = g_cust[rand_r(&w->seed) % N_CUST];
        if (rand_r(&w->seed) % 2)
            snprintf(fields, sizeof(fields), "{\"phone\":\"+49 %s %d\"}", w->dev->user, i);
        else
            snprintf(fields, sizeof(fields), "{\"name\":\"Kunde %s %d\"}", w->dev->user, i);
        e2e_update(w->dev, "customers", id, fields);
        if (rand_r(&w->seed) % 3 == 0) {
            char vid[37];
            snprintf(fields, sizeof(fields), "{\"customer_id\":\"%s\",\"purpose\":\"r%d\"}", id, i);
            e2e_insert(w->dev, "visits", fields, vid);
            w->n++;
        }
        sync_via(g_d[rand_r(&w->seed) % 2], w->dev);
    }
    return NULL;
}

/* The pushes of two devices at the same time. */
typedef struct pusher {
    e2e_daemon *d;
    e2e_device *dev;
} pusher;

static void *push_now(void *arg)
{
    pusher *p = arg;
    sync_via(p->d, p->dev);
    return NULL;
}

static char *row_text(e2e_device *dev, const char *table, const char *id)
{
    cJSON *row = e2e_row(dev, table, id);
    char *t = row ? cJSON_PrintUnformatted(row) : NULL;
    cJSON_Delete(row);
    return t;
}

int main(int argc, char **argv)
{
    const char *pg = getenv("FSY_E2E_PG");
    if (!pg || !*pg) {
        printf("SKIPPED: two daemons need the PostgreSQL store (FSY_E2E_PG)\n");
        return 77;
    }
    const char *seed_s = getenv("FSY_TEST_SEED");
    unsigned seed = seed_s ? (unsigned)strtoul(seed_s, NULL, 10) : (unsigned)time(NULL);
    printf("seed %u (FSY_TEST_SEED=%u replays it)\n", seed, seed);

    e2e_daemon *a = e2e_setup(argc, argv, "pg_two_daemons");
    ASSERT_TRUE(e2e_is_pg(a));
    const char *users[N_DEVICES] = {"alice", "bob", "carol"};
    for (int i = 0; i < N_DEVICES; i++)
        e2e_user(a, users[i], "rep", "south");
    e2e_daemon *b = e2e_add_daemon(a);
    e2e_start(a);
    e2e_start(b);
    ASSERT_TRUE(a->port != b->port);
    g_d[0] = a;
    g_d[1] = b;
    e2e_device dev[N_DEVICES];
    for (int i = 0; i < N_DEVICES; i++)
        e2e_enroll(g_d[i % 2], users[i], &dev[i]);

    /* 1. Exactly once across daemons. */
    char visit[37], fields[256];
    for (int i = 0; i < N_CUST; i++) {
        snprintf(fields, sizeof(fields), "{\"name\":\"Kunde %d\",\"territory\":\"south\"}", i);
        e2e_insert(&dev[0], "customers", fields, g_cust[i]);
    }
    snprintf(fields, sizeof(fields), "{\"customer_id\":\"%s\",\"purpose\":\"intro\"}", g_cust[0]);
    e2e_insert(&dev[0], "visits", fields, visit);
    char *body = NULL;
    size_t len = 0;
    ASSERT_OK(dev[0].r, fsy_push_export(dev[0].r, 0, 0, &body, &len, NULL));
    e2e_resp r1, r2;
    e2e_post(a, "/v1/push", dev[0].token, body, len, &r1);
    ASSERT_EQ(r1.status, 200);
    int64_t changes = e2e_sql_int(a, "SELECT count(*) FROM changes");
    int64_t hwm = e2e_sql_int(a, "SELECT hwm FROM devices WHERE id = '%s'", dev[0].id);
    e2e_post(b, "/v1/push", dev[0].token, body, len, &r2);
    ASSERT_EQ(r2.status, 200);
    ASSERT_EQ(r2.len, r1.len);
    ASSERT_TRUE(memcmp(r1.body, r2.body, r1.len) == 0);
    ASSERT_EQ(e2e_sql_int(a, "SELECT count(*) FROM changes"), changes);
    ASSERT_EQ(e2e_sql_int(a, "SELECT hwm FROM devices WHERE id = '%s'", dev[0].id), hwm);
    ASSERT_EQ(e2e_sql_int(a, "SELECT count(*) FROM rows"), N_CUST + 1);
    ASSERT_OK(dev[0].r, fsy_push_apply_ack(dev[0].r, r2.body, r2.len));
    e2e_resp_free(&r1);
    e2e_resp_free(&r2);
    fsy_free(body);
    printf("ok   a batch retried through the other daemon is applied once, same ack\n");

    /* 2. One field edited on two devices from the same base, pushed at once through
     *    different daemons: one conflict, and both converge. */
    for (int i = 0; i < N_DEVICES; i++)
        sync_via(g_d[i % 2], &dev[i]);
    e2e_update(&dev[0], "customers", g_cust[1], "{\"phone\":\"+49 alice\"}");
    e2e_update(&dev[1], "customers", g_cust[1], "{\"phone\":\"+49 bob\"}");
    pusher p0 = {a, &dev[0]}, p1 = {b, &dev[1]};
    pthread_t t0, t1;
    ASSERT_EQ(pthread_create(&t0, NULL, push_now, &p0), 0);
    ASSERT_EQ(pthread_create(&t1, NULL, push_now, &p1), 0);
    pthread_join(t0, NULL);
    pthread_join(t1, NULL);
    ASSERT_EQ(e2e_sql_int(a, "SELECT count(*) FROM conflicts WHERE id = '%s' AND field = 'phone'",
                          g_cust[1]),
              1);
    sync_via(a, &dev[0]);
    sync_via(b, &dev[1]);
    char *pa = e2e_field(&dev[0], "customers", g_cust[1], "phone");
    char *pb = e2e_field(&dev[1], "customers", g_cust[1], "phone");
    ASSERT_TRUE(pa && pb);
    ASSERT_STREQ(pa, pb);
    free(pa);
    free(pb);
    printf("ok   concurrent edits of one field through two daemons: one conflict record\n");

    /* 3. Everyone at once, through either daemon. */
    worker w[N_DEVICES];
    pthread_t t[N_DEVICES];
    for (int i = 0; i < N_DEVICES; i++) {
        w[i] = (worker){&dev[i], seed + (unsigned)i * 7919u, 0};
        ASSERT_EQ(pthread_create(&t[i], NULL, work, &w[i]), 0);
    }
    for (int i = 0; i < N_DEVICES; i++)
        pthread_join(t[i], NULL);
    for (int round = 0; round < 2; round++)
        for (int i = 0; i < N_DEVICES; i++)
            sync_via(g_d[(i + round) % 2], &dev[i]);
    for (int i = 0; i < N_DEVICES; i++)
        ASSERT_EQ(e2e_pending(&dev[i]), 0);
    for (int c = 0; c < N_CUST; c++) {
        char *first = row_text(&dev[0], "customers", g_cust[c]);
        ASSERT_TRUE(first != NULL);
        for (int i = 1; i < N_DEVICES; i++) {
            char *other = row_text(&dev[i], "customers", g_cust[c]);
            ASSERT_STREQ(other, first);
            free(other);
        }
        free(first);
    }
    int visits = 1;
    for (int i = 0; i < N_DEVICES; i++)
        visits += w[i].n;
    ASSERT_EQ(e2e_sql_int(a, "SELECT count(*) FROM rows WHERE tbl = 2"), visits);
    ASSERT_EQ(e2e_sql_int(a, "SELECT count(*) FROM changes WHERE pos IS NULL"), 0);
    ASSERT_EQ(e2e_sql_int(a, "SELECT count(DISTINCT pos) = count(*) FROM changes"), 1);
    int64_t head = e2e_log_head(a);
    ASSERT_EQ(e2e_log_head(b), head);
    for (int i = 0; i < N_DEVICES; i++) {
        int64_t cur = 0;
        ASSERT_OK(dev[i].r, fsy_pull_cursor(dev[i].r, &cur));
        ASSERT_EQ(cur, head);
    }
    printf("ok   %d devices syncing at random through two daemons converge (%d busy answers "
           "retried)\n",
           N_DEVICES, g_busy);

    ASSERT_EQ(e2e_stop(b, SIGTERM, 20000), 0);
    e2e_finish(a);
    return 0;
}
