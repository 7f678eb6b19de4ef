/*
 * test_shutdown.c — graceful stop (DESIGN §6): SIGTERM (or SIGINT) on an idle
 * daemon makes it exit 0 with "stopped cleanly" in its log, promptly, also with
 * an idle keep-alive client connected; it starts again on the same data
 * directory with nothing lost, and enrolled devices keep their tokens.
 */
#include "e2e_support.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>

static int count(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    return n;
}

static bool port_open(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool ok = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
    close(fd);
    return ok;
}

int main(int argc, char **argv)
{
    e2e_daemon *d = e2e_setup(argc, argv, "shutdown");
    e2e_user(d, "alice", "rep", "south");
    e2e_start(d);
    e2e_device a;
    e2e_enroll(d, "alice", &a);
    char cust[37];
    e2e_insert(&a, "customers", "{\"name\":\"Ende AG\",\"territory\":\"south\"}", cust);
    e2e_sync(d, &a);
    int64_t head = e2e_log_head(d);

    /* Idle: SIGTERM -> exit 0, "stopped cleanly", promptly; the port is closed. */
    int port = d->port;
    double t0 = e2e_now();
    ASSERT_EQ(e2e_stop(d, SIGTERM, 10000), 0);
    double took = e2e_now() - t0;
    char *log = e2e_log_text(d);
    ASSERT_EQ(count(log, "stopped cleanly"), 1);
    free(log);
    ASSERT_TRUE(took < 3.0);
    ASSERT_TRUE(!port_open(port));
    printf("ok   SIGTERM while idle: exit 0 after %.2f s, \"stopped cleanly\"\n", took);

    /* Start again on the same directory: nothing lost, the token still works. */
    e2e_start(d);
    ASSERT_EQ(e2e_log_head(d), head);
    e2e_update(&a, "customers", cust, "{\"phone\":\"+49 2\"}");
    e2e_sync(d, &a);
    ASSERT_EQ(e2e_pending(&a), 0);
    ASSERT_EQ(e2e_log_head(d), head + 1);
    printf("ok   restarted on the same data: the change log and the device's token survive\n");

    /* An idle client connection (connected, never spoke) does not hold up SIGINT. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)d->port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    e2e_sleep_ms(100);
    t0 = e2e_now();
    ASSERT_EQ(e2e_stop(d, SIGINT, 10000), 0);
    took = e2e_now() - t0;
    close(fd);
    log = e2e_log_text(d);
    ASSERT_EQ(count(log, "stopped cleanly"), 2);
    free(log);
    ASSERT_TRUE(took < 3.0);
    printf("ok   SIGINT with an idle client connected: exit 0 after %.2f s\n", took);

    /* And once more, to leave through the common path (SIGTERM, exit 0). */
    e2e_start(d);
    ASSERT_EQ(e2e_log_head(d), head + 1);
    e2e_finish(d);
    return 0;
}
