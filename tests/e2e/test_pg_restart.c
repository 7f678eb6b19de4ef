/*
 * test_pg_restart.c — the PostgreSQL store when the database goes away (issue 8,
 * DESIGN §4 "Interruption"): the daemon keeps serving a syncing device across a
 * database restart (its connection is re-made on the next request), and while the
 * database is down a push and a pull get 503 store_busy with Retry-After and nothing
 * is acknowledged; once it is back the device's retry completes and nothing is lost
 * or applied twice. Runs its own throwaway server (argv[2] is pg-throwaway.sh), so
 * stopping it disturbs no other test.
 */
#include "e2e_support.h"

#include <errno.h>
#include <sys/wait.h>

static char g_script[1024], g_pgdir[600];

static int pg_script(const char *cmd)
{
    char line[2000];
    snprintf(line, sizeof(line), "timeout 60 '%s' %s '%s' >/dev/null", g_script, cmd, g_pgdir);
    int st = system(line);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void stop_server(void)
{
    if (g_pgdir[0])
        pg_script("stop");
}

static int64_t server_rows(e2e_daemon *d)
{
    return e2e_sql_int(d, "SELECT count(*) FROM rows");
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s PATH-TO-fieldsyncd PATH-TO-pg-throwaway.sh\n", argv[0]);
        return 2;
    }
    snprintf(g_script, sizeof(g_script), "%s", argv[2]);
    const char *tmp = getenv("TMPDIR");
    snprintf(g_pgdir, sizeof(g_pgdir), "%s/fsy-pg-restart-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(g_pgdir))
        FSY_FAIL("mkdtemp: %s", strerror(errno));
    int rc = pg_script("start");
    if (rc == 77) {
        rmdir(g_pgdir);
        printf("SKIPPED: no throwaway PostgreSQL server here\n");
        return 77;
    }
    atexit(stop_server); /* runs after e2e's own cleanup, which drops the database */
    if (rc != 0)
        FSY_FAIL("pg-throwaway.sh start exited %d", rc);
    char env[700];
    snprintf(env, sizeof(env), "%s/conninfo", g_pgdir);
    setenv("FSY_E2E_PG", env, 1);

    e2e_daemon *d = e2e_setup(argc, argv, "pg_restart");
    ASSERT_TRUE(e2e_is_pg(d));
    e2e_user(d, "alice", "rep", "south");
    e2e_user(d, "bob", "rep", "south");
    e2e_start(d);
    e2e_device a, b;
    e2e_enroll(d, "alice", &a);
    e2e_enroll(d, "bob", &b);

    char cust[37], id[37], fields[256];
    e2e_insert(&a, "customers", "{\"name\":\"Baumarkt Ost\",\"territory\":\"south\"}", cust);
    e2e_sync(d, &a);
    ASSERT_EQ(server_rows(d), 1);

    /* 1. A restart between requests: the daemon's connection is dead; the next
     *    request re-makes it and succeeds. */
    ASSERT_EQ(pg_script("restart"), 0);
    snprintf(fields, sizeof(fields), "{\"customer_id\":\"%s\",\"purpose\":\"after restart\"}",
             cust);
    e2e_insert(&a, "visits", fields, id);
    e2e_sync(d, &a);
    ASSERT_EQ(e2e_pending(&a), 0);
    ASSERT_EQ(server_rows(d), 2);
    printf("ok   a database restart between requests is invisible to devices\n");

    /* 2. Down: requests are refused with 503 + Retry-After, nothing acknowledged. */
    for (int i = 0; i < 3; i++) {
        snprintf(fields, sizeof(fields), "{\"customer_id\":\"%s\",\"purpose\":\"while down %d\"}",
                 cust, i);
        e2e_insert(&a, "visits", fields, id);
    }
    e2e_update(&a, "customers", cust, "{\"phone\":\"+49 1\"}");
    int64_t pending = e2e_pending(&a);
    ASSERT_EQ(pending, 4);
    int64_t hwm = e2e_sql_int(d, "SELECT hwm FROM devices WHERE id = '%s'", a.id);
    int64_t changes = e2e_sql_int(d, "SELECT count(*) FROM changes");
    ASSERT_EQ(pg_script("pause"), 0);

    char *body = NULL;
    size_t len = 0;
    ASSERT_OK(a.r, fsy_push_export(a.r, 0, 0, &body, &len, NULL));
    ASSERT_TRUE(body != NULL);
    e2e_resp r;
    e2e_post(d, "/v1/push", a.token, body, len, &r);
    ASSERT_EQ(r.status, 503);
    ASSERT_TRUE(r.retry_after[0] != '\0');
    ASSERT_TRUE(r.json != NULL);
    e2e_resp_free(&r);
    e2e_get(d, "/v1/pull?after=0", a.token, &r);
    ASSERT_EQ(r.status, 503);
    ASSERT_TRUE(r.retry_after[0] != '\0');
    e2e_resp_free(&r);
    ASSERT_EQ(e2e_pending(&a), pending); /* nothing acknowledged */
    e2e_get(d, "/healthz", NULL, &r);    /* a load balancer takes this daemon out */
    ASSERT_EQ(r.status, 503);
    ASSERT_TRUE(r.retry_after[0] != '\0');
    e2e_resp_free(&r);
    printf("ok   while the database is down, push, pull and /healthz answer 503 with "
           "Retry-After\n");

    /* 3. Back: the same batch is retried and applied exactly once. */
    ASSERT_EQ(pg_script("resume"), 0);
    double deadline = e2e_now() + 20;
    for (;;) {
        e2e_post(d, "/v1/push", a.token, body, len, &r);
        if (r.status == 200)
            break;
        ASSERT_EQ(r.status, 503);
        e2e_resp_free(&r);
        if (e2e_now() > deadline)
            FSY_FAIL("the daemon did not recover after the database came back");
        e2e_sleep_ms(200);
    }
    ASSERT_OK(a.r, fsy_push_apply_ack(a.r, r.body, r.len));
    e2e_resp_free(&r);
    /* The acknowledgement was "lost" too: sending it once more changes nothing. */
    e2e_post(d, "/v1/push", a.token, body, len, &r);
    ASSERT_EQ(r.status, 200);
    e2e_resp_free(&r);
    fsy_free(body);
    e2e_sync(d, &a);
    ASSERT_EQ(e2e_pending(&a), 0);
    ASSERT_EQ(e2e_sql_int(d, "SELECT hwm FROM devices WHERE id = '%s'", a.id), hwm + 4);
    ASSERT_EQ(e2e_sql_int(d, "SELECT count(*) FROM changes"), changes + 4);
    ASSERT_EQ(server_rows(d), 5);
    ASSERT_EQ(e2e_sql_int(d, "SELECT count(*) FROM changes WHERE pos IS NULL"), 0);
    ASSERT_EQ(e2e_sql_int(d, "SELECT count(DISTINCT pos) = count(*) FROM changes"), 1);

    /* Another device sees every change once. */
    e2e_pull(d, &b, NULL);
    char *phone = e2e_field(&b, "customers", cust, "phone");
    ASSERT_STREQ(phone, "\"+49 1\"");
    free(phone);
    e2e_pull(d, &a, NULL);
    printf("ok   after the database is back the retry completes: nothing lost or doubled\n");

    e2e_finish(d);
    return 0;
}
