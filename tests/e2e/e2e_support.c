/*
 * e2e_support.c — see e2e_support.h. Linux only (fork/exec, PR_SET_PDEATHSIG,
 * nftw), like the daemon it drives.
 */
#include "e2e_support.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <libpq-fe.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#define START_TIMEOUT_MS 20000 /* sanitizer builds start slowly */
#define ADMIN_TIMEOUT_MS 30000
#define HTTP_TIMEOUT_MS  20000
#define MAX_DEVICES      32

static e2e_daemon g_daemon;
static e2e_daemon g_extra[4]; /* e2e_add_daemon */
static int g_n_extra;
static bool g_setup_done, g_passed;
static e2e_device *g_devices[MAX_DEVICES];
static int g_n_devices;

double e2e_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void e2e_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

const char *e2e_jstr(const cJSON *obj, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

char *e2e_read_file(const char *path, size_t *len_out)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    while (buf) {
        if (len + 1 >= cap) {
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
        size_t n = fread(buf + len, 1, cap - len - 1, f);
        if (n == 0)
            break;
        len += n;
    }
    fclose(f);
    if (!buf)
        return NULL;
    buf[len] = '\0';
    if (len_out)
        *len_out = len;
    return buf;
}

char *e2e_log_text(e2e_daemon *d)
{
    char *t = e2e_read_file(d->log, NULL);
    if (!t)
        t = calloc(1, 1);
    return t;
}

/* ---- cleanup ------------------------------------------------------------- */

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

static void print_log_tail(const e2e_daemon *d)
{
    char *t = e2e_read_file(d->log, NULL);
    if (!t)
        return;
    /* The last 40 lines. */
    size_t len = strlen(t);
    int lines = 0;
    size_t start = len;
    while (start > 0 && lines <= 40)
        if (t[--start] == '\n')
            lines++;
    fprintf(stderr, "--- fieldsyncd log (tail of %s):\n%s\n---\n", d->log, t + start);
    free(t);
}

/* ---- the PostgreSQL store ------------------------------------------------------ */

/* A connection to the throwaway server's administrative database. */
static void pg_quiet(void *arg, const char *msg)
{
    (void)arg;
    (void)msg;
}

static PGconn *pg_admin_connect(const char *conninfo)
{
    PGconn *c = PQconnectdb(conninfo);
    PQsetNoticeProcessor(c, pg_quiet, NULL);
    if (PQstatus(c) != CONNECTION_OK) {
        fprintf(stderr, "cannot connect to %s: %s", conninfo, PQerrorMessage(c));
        PQfinish(c);
        return NULL;
    }
    return c;
}

static char g_pg_admin[1024];

/* FSY_E2E_PG set: make this test's own database on the server. */
static void pg_create_database(e2e_daemon *d, const char *tag)
{
    const char *file = getenv("FSY_E2E_PG");
    if (!file || !*file)
        return;
    char *ci = e2e_read_file(file, NULL);
    if (!ci) {
        printf("SKIPPED: no PostgreSQL for the tests (%s is missing: see the pg.start test)\n",
               file);
        exit(77);
    }
    ci[strcspn(ci, "\r\n")] = '\0';
    snprintf(g_pg_admin, sizeof(g_pg_admin), "%s", ci);
    free(ci);
    int n = snprintf(d->pg_db, sizeof(d->pg_db), "fsy_e2e_%.30s_%ld", tag, (long)getpid());
    for (int i = 0; i < n; i++)
        if (!((d->pg_db[i] >= 'a' && d->pg_db[i] <= 'z') ||
              (d->pg_db[i] >= '0' && d->pg_db[i] <= '9')))
            d->pg_db[i] = '_';
    PGconn *c = pg_admin_connect(g_pg_admin);
    if (!c)
        FSY_FAIL("the PostgreSQL server of %s is not answering", file);
    char sql[200];
    snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s", d->pg_db);
    PQclear(PQexec(c, sql));
    snprintf(sql, sizeof(sql), "CREATE DATABASE %s", d->pg_db);
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK)
        FSY_FAIL("%s: %s", sql, PQresultErrorMessage(r));
    PQclear(r);
    PQfinish(c);
    /* In a conninfo string a later keyword wins. */
    snprintf(d->pg, sizeof(d->pg), "%s dbname=%s", g_pg_admin, d->pg_db);
}

static PGconn *g_pg_conn;

static void pg_drop_database(e2e_daemon *d)
{
    PQfinish(g_pg_conn);
    g_pg_conn = NULL;
    if (!d->pg_db[0])
        return;
    const char *keep = getenv("FSY_E2E_KEEP");
    if (keep && *keep == '1') {
        fprintf(stderr, "kept database %s\n", d->pg_db);
        return;
    }
    PGconn *c = pg_admin_connect(g_pg_admin);
    if (!c)
        return;
    char sql[200];
    snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s WITH (FORCE)", d->pg_db);
    PQclear(PQexec(c, sql));
    PQfinish(c);
    d->pg_db[0] = '\0';
}

bool e2e_is_pg(const e2e_daemon *d)
{
    return d->pg[0] != '\0';
}

static void cleanup(void)
{
    e2e_daemon *d = &g_daemon;
    for (int i = 0; i < g_n_extra; i++)
        if (g_extra[i].pid > 0) {
            kill(g_extra[i].pid, SIGKILL);
            waitpid(g_extra[i].pid, NULL, 0);
            g_extra[i].pid = 0;
            if (!g_passed)
                print_log_tail(&g_extra[i]);
        }
    if (d->pid > 0) {
        kill(d->pid, SIGKILL);
        waitpid(d->pid, NULL, 0);
        d->pid = 0;
    }
    if (!g_passed)
        print_log_tail(d);
    for (int i = 0; i < g_n_devices; i++) {
        fsy_replica_free(g_devices[i]->r);
        g_devices[i]->r = NULL;
    }
    g_n_devices = 0;
    pg_drop_database(d);
    const char *keep = getenv("FSY_E2E_KEEP");
    if (d->root[0] && !(keep && *keep == '1'))
        nftw(d->root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    else if (d->root[0])
        fprintf(stderr, "kept %s\n", d->root);
    curl_global_cleanup();
}

/* ---- child processes ----------------------------------------------------------- */

/* fork + exec argv with stdout into out_fd (or the log) and stderr into err_path.
 * The child dies with us. */
static pid_t spawn(char *const argv[], int out_fd, const char *err_path)
{
    pid_t parent = getpid();
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        FSY_FAIL("fork: %s", strerror(errno));
    if (pid == 0) {
        int err = open(err_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        if (err < 0)
            _exit(126);
        dup2(err, 2);
        dup2(out_fd >= 0 ? out_fd : err, 1);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        execv(argv[0], argv);
        _exit(127);
    }
    return pid;
}

/* Wait at most timeout_ms for pid; its wait status in *status. False on timeout. */
static bool wait_bounded(pid_t pid, int timeout_ms, int *status)
{
    double deadline = e2e_now() + timeout_ms / 1000.0;
    for (;;) {
        pid_t r = waitpid(pid, status, WNOHANG);
        if (r == pid)
            return true;
        if (r < 0 && errno != EINTR)
            FSY_FAIL("waitpid: %s", strerror(errno));
        if (e2e_now() > deadline)
            return false;
        e2e_sleep_ms(5);
    }
}

static int decode_status(int st)
{
    if (WIFEXITED(st))
        return WEXITSTATUS(st);
    if (WIFSIGNALED(st))
        return 128 + WTERMSIG(st);
    return -1;
}

int e2e_admin(e2e_daemon *d, char *out, size_t outlen, const char *cmd, ...)
{
    char *argv[16];
    int n = 0;
    argv[n++] = d->bin;
    argv[n++] = (char *)cmd;
    argv[n++] = d->dir;
    va_list ap;
    va_start(ap, cmd);
    const char *a;
    while ((a = va_arg(ap, const char *)) != NULL && n < 15)
        argv[n++] = (char *)a;
    va_end(ap);
    argv[n] = NULL;

    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0)
        FSY_FAIL("pipe: %s", strerror(errno));
    char errpath[700];
    snprintf(errpath, sizeof(errpath), "%s/admin.log", d->root);
    pid_t pid = spawn(argv, fds[1], errpath);
    close(fds[1]);
    size_t len = 0;
    double deadline = e2e_now() + ADMIN_TIMEOUT_MS / 1000.0;
    char sink[512];
    for (;;) {
        struct pollfd p = {fds[0], POLLIN, 0};
        int left = (int)((deadline - e2e_now()) * 1000);
        if (left <= 0) {
            kill(pid, SIGKILL);
            waitpid(pid, NULL, 0);
            close(fds[0]);
            FSY_FAIL("fieldsyncd %s took longer than %d ms", cmd, ADMIN_TIMEOUT_MS);
        }
        if (poll(&p, 1, left) <= 0)
            continue;
        char *dst = out && len + 1 < outlen ? out + len : sink;
        size_t room = out && len + 1 < outlen ? outlen - len - 1 : sizeof(sink);
        ssize_t r = read(fds[0], dst, room);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        if (dst != sink)
            len += (size_t)r;
    }
    close(fds[0]);
    if (out && outlen)
        out[len] = '\0';
    int st = 0;
    if (!wait_bounded(pid, ADMIN_TIMEOUT_MS, &st)) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        FSY_FAIL("fieldsyncd %s did not exit", cmd);
    }
    return decode_status(st);
}

static void path_join(char *out, size_t n, const char *dir, const char *name)
{
    int w = snprintf(out, n, "%s/%s", dir, name);
    if (w < 0 || (size_t)w >= n)
        FSY_FAIL("path too long: %s/%s", dir, name);
}

e2e_daemon *e2e_setup(int argc, char **argv, const char *tag)
{
    e2e_daemon *d = &g_daemon;
    if (argc < 2)
        FSY_FAIL("usage: %s PATH-TO-fieldsyncd", argv[0]);
    if (g_setup_done)
        FSY_FAIL("e2e_setup called twice");
    g_setup_done = true;
    setvbuf(stdout, NULL, _IONBF, 0);
    signal(SIGPIPE, SIG_IGN);
    memset(d, 0, sizeof(*d));
    snprintf(d->bin, sizeof(d->bin), "%s", argv[1]);
    if (access(d->bin, X_OK) != 0)
        FSY_FAIL("%s is not executable", d->bin);
    const char *tmp = getenv("TMPDIR");
    snprintf(d->root, sizeof(d->root), "%s/fsy-e2e-%s-XXXXXX", tmp && *tmp ? tmp : "/tmp", tag);
    if (!mkdtemp(d->root)) {
        d->root[0] = '\0';
        FSY_FAIL("mkdtemp: %s", strerror(errno));
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        FSY_FAIL("curl_global_init failed");
    atexit(cleanup);
    path_join(d->dir, sizeof(d->dir), d->root, "data");
    path_join(d->log, sizeof(d->log), d->root, "fieldsyncd.log");
    path_join(d->ca, sizeof(d->ca), d->dir, "ca.crt");
    path_join(d->store, sizeof(d->store), d->dir, "store.db");
    pg_create_database(d, tag);
    char out[2048];
    int rc = e2e_is_pg(d) ? e2e_admin(d, out, sizeof(out), "init", "--postgres", d->pg, NULL)
                          : e2e_admin(d, out, sizeof(out), "init", NULL);
    if (rc != 0)
        FSY_FAIL("fieldsyncd init %s exited %d: %s", d->dir, rc, out);
    e2e_config_set(d, "port", "0");
    printf("e2e %s: data dir %s, store %s%s\n", tag, d->dir,
           e2e_is_pg(d) ? "PostgreSQL " : "SQLite", e2e_is_pg(d) ? d->pg_db : "");
    return d;
}

void e2e_config_set(e2e_daemon *d, const char *key, const char *value)
{
    char path[700], line[600];
    snprintf(path, sizeof(path), "%s/fieldsyncd.conf", d->dir);
    char *old = e2e_read_file(path, NULL);
    if (!old)
        FSY_FAIL("cannot read %s", path);
    FILE *f = fopen(path, "w");
    if (!f)
        FSY_FAIL("cannot write %s", path);
    bool done = false;
    size_t klen = strlen(key);
    for (char *p = old, *nl; *p; p = nl) {
        nl = strchr(p, '\n');
        nl = nl ? nl + 1 : p + strlen(p);
        snprintf(line, sizeof(line), "%.*s", (int)(nl - p), p);
        if (strncmp(line, key, klen) == 0 && (line[klen] == ' ' || line[klen] == '=')) {
            fprintf(f, "%s = %s\n", key, value);
            done = true;
        } else {
            fputs(line, f);
        }
    }
    if (!done)
        fprintf(f, "%s = %s\n", key, value);
    fclose(f);
    free(old);
}

void e2e_user(e2e_daemon *d, const char *name, const char *role, const char *territory)
{
    char out[512];
    int rc = territory ? e2e_admin(d, out, sizeof(out), "user-add", name, "--role", role,
                                   "--territory", territory, NULL)
                       : e2e_admin(d, out, sizeof(out), "user-add", name, "--role", role, NULL);
    if (rc != 0)
        FSY_FAIL("user-add %s exited %d", name, rc);
}

void e2e_enroll_code(e2e_daemon *d, const char *user, char code[64])
{
    char out[512];
    int rc = e2e_admin(d, out, sizeof(out), "enroll-code", user, NULL);
    if (rc != 0)
        FSY_FAIL("enroll-code %s exited %d", user, rc);
    out[strcspn(out, "\r\n")] = '\0';
    if (strlen(out) < 8 || strlen(out) >= 64)
        FSY_FAIL("enroll-code printed \"%s\"", out);
    snprintf(code, 64, "%s", out);
}

e2e_daemon *e2e_add_daemon(e2e_daemon *d)
{
    if (g_n_extra == (int)(sizeof(g_extra) / sizeof(g_extra[0])))
        FSY_FAIL("too many daemons");
    e2e_daemon *x = &g_extra[g_n_extra++];
    *x = *d;
    x->pid = 0;
    x->port = 0;
    snprintf(x->dir, sizeof(x->dir), "%s/data%d", d->root, g_n_extra + 1);
    snprintf(x->log, sizeof(x->log), "%s/fieldsyncd%d.log", d->root, g_n_extra + 1);
    char cmd[2000];
    snprintf(cmd, sizeof(cmd), "cp -a '%s' '%s' && rm -f '%s/fieldsyncd.port'", d->dir, x->dir,
             x->dir);
    if (system(cmd) != 0)
        FSY_FAIL("cannot copy %s to %s", d->dir, x->dir);
    return x;
}

void e2e_start(e2e_daemon *d)
{
    char portfile[700];
    snprintf(portfile, sizeof(portfile), "%s/fieldsyncd.port", d->dir);
    remove(portfile);
    char *argv[] = {d->bin, "serve", d->dir, NULL};
    d->pid = spawn(argv, -1, d->log);
    double deadline = e2e_now() + START_TIMEOUT_MS / 1000.0;
    for (;;) {
        int st;
        if (waitpid(d->pid, &st, WNOHANG) == d->pid) {
            d->pid = 0;
            FSY_FAIL("fieldsyncd serve exited at start-up (status %d)", decode_status(st));
        }
        char *t = e2e_read_file(portfile, NULL);
        if (t && strchr(t, '\n')) {
            d->port = atoi(t);
            free(t);
            break;
        }
        free(t);
        if (e2e_now() > deadline)
            FSY_FAIL("fieldsyncd did not write %s within %d ms", portfile, START_TIMEOUT_MS);
        e2e_sleep_ms(10);
    }
    if (d->port <= 0 || d->port > 65535)
        FSY_FAIL("bad port %d in %s", d->port, portfile);
}

int e2e_stop(e2e_daemon *d, int sig, int timeout_ms)
{
    if (d->pid <= 0)
        FSY_FAIL("the daemon is not running");
    kill(d->pid, sig);
    int st = 0;
    bool exited = wait_bounded(d->pid, timeout_ms, &st);
    if (!exited) {
        kill(d->pid, SIGKILL);
        waitpid(d->pid, NULL, 0);
    }
    d->pid = 0;
    return exited ? decode_status(st) : -1;
}

void e2e_finish(e2e_daemon *d)
{
    if (d->pid > 0) {
        int rc = e2e_stop(d, SIGTERM, 20000);
        if (rc != 0)
            FSY_FAIL("fieldsyncd exited %d on SIGTERM (expected 0)", rc);
        char *log = e2e_log_text(d);
        bool clean = strstr(log, "stopped cleanly") != NULL;
        bool sanitizer = strstr(log, "Sanitizer") != NULL || strstr(log, "runtime error") != NULL;
        free(log);
        if (!clean)
            FSY_FAIL("the daemon's log lacks \"stopped cleanly\"");
        if (sanitizer)
            FSY_FAIL("the daemon's log has a sanitizer report");
    }
    /* The devices usually live in main's frame: close them while it exists. */
    for (int i = 0; i < g_n_devices; i++) {
        fsy_replica_free(g_devices[i]->r);
        g_devices[i]->r = NULL;
    }
    g_n_devices = 0;
    g_passed = true;
    printf("PASS\n");
}

/* ---- HTTP ------------------------------------------------------------------ */

typedef struct growbuf {
    char *data;
    size_t len, cap;
} growbuf;

static size_t on_body(char *ptr, size_t size, size_t n, void *ud)
{
    growbuf *b = ud;
    size_t add = size * n;
    if (b->len + add + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + add + 1)
            cap *= 2;
        char *nd = realloc(b->data, cap);
        if (!nd)
            return 0;
        b->data = nd;
        b->cap = cap;
    }
    memcpy(b->data + b->len, ptr, add);
    b->len += add;
    b->data[b->len] = '\0';
    return add;
}

static size_t on_header(char *ptr, size_t size, size_t n, void *ud)
{
    e2e_resp *out = ud;
    size_t len = size * n;
    if (len > 12 && strncasecmp(ptr, "Retry-After:", 12) == 0) {
        const char *v = ptr + 12;
        size_t vl = len - 12;
        while (vl && (*v == ' ' || *v == '\t'))
            v++, vl--;
        while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' '))
            vl--;
        snprintf(out->retry_after, sizeof(out->retry_after), "%.*s", (int)vl, v);
    }
    return len;
}

void e2e_http(e2e_daemon *d, const e2e_req *req, e2e_resp *out)
{
    memset(out, 0, sizeof(*out));
    CURL *c = curl_easy_init();
    if (!c)
        FSY_FAIL("curl_easy_init failed");
    char url[1200], auth[200];
    snprintf(url, sizeof(url), "%s://127.0.0.1:%d%s", req->plain_http ? "http" : "https", d->port,
             req->path);
    growbuf b = {NULL, 0, 0};
    struct curl_slist *hdrs = NULL;
    hdrs = curl_slist_append(hdrs, "Expect:");
    if (req->token) {
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", req->token);
        hdrs = curl_slist_append(hdrs, auth);
    }
    if (req->body)
        hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
    if (req->header)
        hdrs = curl_slist_append(hdrs, req->header);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CAINFO, d->ca);
    curl_easy_setopt(c, CURLOPT_CAPATH, NULL);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(c, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)HTTP_TIMEOUT_MS);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, out);
    curl_easy_setopt(c, CURLOPT_PROXY, "");
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    if (strcmp(req->method, "POST") == 0) {
        curl_easy_setopt(c, CURLOPT_POST, 1L);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, req->body ? req->body : "");
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(req->body ? req->len : 0));
    } else if (strcmp(req->method, "GET") != 0) {
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, req->method);
    }
    out->curl_rc = (int)curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
    const char *ct = NULL;
    curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct);
    snprintf(out->content_type, sizeof(out->content_type), "%s", ct ? ct : "");
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(c);
    out->body = b.data ? b.data : calloc(1, 1);
    out->len = b.len;
    out->json = cJSON_ParseWithLength(out->body, out->len);
}

void e2e_get(e2e_daemon *d, const char *path, const char *token, e2e_resp *out)
{
    e2e_req r = {"GET", path, token, NULL, 0, false, NULL};
    e2e_http(d, &r, out);
}

void e2e_post(e2e_daemon *d, const char *path, const char *token, const char *body, size_t len,
              e2e_resp *out)
{
    e2e_req r = {"POST", path, token, body, len, false, NULL};
    e2e_http(d, &r, out);
}

void e2e_resp_free(e2e_resp *r)
{
    free(r->body);
    cJSON_Delete(r->json);
    memset(r, 0, sizeof(*r));
}

void e2e_expect_error_at(const char *file, int line, const e2e_resp *r, long status,
                         const char *code)
{
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(r->json, "error");
    const char *got = e2e_jstr(e, "code"), *msg = e2e_jstr(e, "message");
    if (r->status != status || !got || strcmp(got, code) != 0 || !msg || !*msg ||
        strncmp(r->content_type, "application/json", 16) != 0) {
        fprintf(stderr,
                "%s:%d: expected %ld {\"error\":{\"code\":\"%s\",\"message\":...}} as JSON;\n"
                "  got %ld (%s, curl %d): %.600s\n",
                file, line, status, code, r->status, r->content_type, r->curl_rc,
                r->body ? r->body : "(no body)");
        exit(1);
    }
}

int64_t e2e_log_head(e2e_daemon *d)
{
    e2e_resp r;
    e2e_get(d, "/healthz", NULL, &r);
    const cJSON *h = cJSON_GetObjectItemCaseSensitive(r.json, "log_head");
    if (r.status != 200 || !cJSON_IsNumber(h))
        FSY_FAIL("/healthz answered %ld: %s", r.status, r.body);
    int64_t v = (int64_t)h->valuedouble;
    e2e_resp_free(&r);
    return v;
}

/* ---- devices ---------------------------------------------------------------- */

void e2e_enroll(e2e_daemon *d, const char *user, e2e_device *dev)
{
    char code[64], body[256];
    memset(dev, 0, sizeof(*dev));
    e2e_enroll_code(d, user, code);
    snprintf(body, sizeof(body), "{\"user\":\"%s\",\"code\":\"%s\"}", user, code);
    e2e_resp r;
    e2e_post(d, "/v1/enroll", NULL, body, strlen(body), &r);
    if (r.status != 200 || !e2e_jstr(r.json, "device_id") || !e2e_jstr(r.json, "token"))
        FSY_FAIL("enrolling %s: %ld %s", user, r.status, r.body);
    snprintf(dev->user, sizeof(dev->user), "%s", user);
    snprintf(dev->id, sizeof(dev->id), "%s", e2e_jstr(r.json, "device_id"));
    snprintf(dev->token, sizeof(dev->token), "%s", e2e_jstr(r.json, "token"));
    e2e_resp_free(&r);
    if (g_n_devices >= MAX_DEVICES)
        FSY_FAIL("too many devices");
    snprintf(dev->path, sizeof(dev->path), "%s/replica-%s-%d.db", d->root, user, g_n_devices);
    ASSERT_EQ(fsy_replica_new(&dev->r), FSY_OK);
    g_devices[g_n_devices++] = dev;
    fsy_replica_opts o = FSY_REPLICA_OPTS_INIT;
    o.synchronous = FSY_SYNC_NORMAL;
    ASSERT_OK(dev->r, fsy_replica_open(dev->r, dev->path, &o));
    ASSERT_OK(dev->r, fsy_replica_set_identity(dev->r, dev->id, dev->user));
}

int e2e_push(e2e_daemon *d, e2e_device *dev)
{
    int batches = 0;
    for (;;) {
        char *body = NULL;
        size_t len = 0;
        int n = 0;
        ASSERT_OK(dev->r, fsy_push_export(dev->r, 0, 0, &body, &len, &n));
        if (!body)
            return batches;
        if (++batches > 1000)
            FSY_FAIL("%s: push does not terminate", dev->user);
        e2e_resp r;
        e2e_post(d, "/v1/push", dev->token, body, len, &r);
        fsy_free(body);
        if (r.status != 200)
            FSY_FAIL("%s: push answered %ld: %s", dev->user, r.status, r.body);
        ASSERT_OK(dev->r, fsy_push_apply_ack(dev->r, r.body, r.len));
        e2e_resp_free(&r);
    }
}

cJSON *e2e_push_batch(e2e_daemon *d, e2e_device *dev)
{
    char *body = NULL;
    size_t len = 0;
    ASSERT_OK(dev->r, fsy_push_export(dev->r, 0, 0, &body, &len, NULL));
    if (!body)
        return NULL;
    e2e_resp r;
    e2e_post(d, "/v1/push", dev->token, body, len, &r);
    fsy_free(body);
    if (r.status != 200 || !r.json)
        FSY_FAIL("%s: push answered %ld: %s", dev->user, r.status, r.body);
    ASSERT_OK(dev->r, fsy_push_apply_ack(dev->r, r.body, r.len));
    cJSON *ack = r.json;
    r.json = NULL;
    e2e_resp_free(&r);
    return ack;
}

int e2e_pull(e2e_daemon *d, e2e_device *dev, char **raw)
{
    int changes = 0;
    size_t rawlen = 0;
    if (raw)
        *raw = calloc(1, 1);
    for (int round = 0;; round++) {
        if (round > 1000)
            FSY_FAIL("%s: pull does not terminate", dev->user);
        int64_t cur = 0;
        ASSERT_OK(dev->r, fsy_pull_cursor(dev->r, &cur));
        char path[128];
        snprintf(path, sizeof(path), "/v1/pull?after=%lld", (long long)cur);
        e2e_resp r;
        e2e_get(d, path, dev->token, &r);
        if (r.status != 200)
            FSY_FAIL("%s: pull answered %ld: %s", dev->user, r.status, r.body);
        changes += cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(r.json, "changes"));
        if (raw) {
            char *nr = realloc(*raw, rawlen + r.len + 2);
            if (!nr)
                FSY_FAIL("out of memory");
            memcpy(nr + rawlen, r.body, r.len);
            rawlen += r.len;
            nr[rawlen++] = '\n';
            nr[rawlen] = '\0';
            *raw = nr;
        }
        bool more = false;
        ASSERT_OK(dev->r, fsy_pull_apply(dev->r, r.body, r.len, &more));
        e2e_resp_free(&r);
        if (!more)
            return changes;
    }
}

void e2e_sync(e2e_daemon *d, e2e_device *dev)
{
    e2e_push(d, dev);
    e2e_pull(d, dev, NULL);
}

cJSON *e2e_row(e2e_device *dev, const char *table, const char *id)
{
    char *out = NULL;
    int rc = fsy_replica_get(dev->r, table, id, &out);
    if (rc == FSY_ENOTFOUND)
        return NULL;
    ASSERT_OK(dev->r, rc);
    cJSON *j = cJSON_Parse(out);
    fsy_free(out);
    if (!j)
        FSY_FAIL("fsy_replica_get returned bad JSON");
    return j;
}

char *e2e_field(e2e_device *dev, const char *table, const char *id, const char *field)
{
    cJSON *row = e2e_row(dev, table, id);
    if (!row)
        return NULL;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(row, field);
    char *t = v ? cJSON_PrintUnformatted(v) : NULL;
    cJSON_Delete(row);
    return t;
}

void e2e_insert(e2e_device *dev, const char *table, const char *fields, char id_out[37])
{
    ASSERT_OK(dev->r, fsy_replica_insert(dev->r, table, fields, id_out));
}

void e2e_update(e2e_device *dev, const char *table, const char *id, const char *fields)
{
    ASSERT_OK(dev->r, fsy_replica_update(dev->r, table, id, fields));
}

int64_t e2e_pending(e2e_device *dev)
{
    int64_t n = -1;
    ASSERT_OK(dev->r, fsy_pending_count(dev->r, &n));
    return n;
}

/* ---- the store -------------------------------------------------------------- */

static sqlite3_stmt *store_query(e2e_daemon *d, sqlite3 **db, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));
static sqlite3_stmt *store_query(e2e_daemon *d, sqlite3 **db, const char *fmt, va_list ap)
{
    char sql[4096];
    vsnprintf(sql, sizeof(sql), fmt, ap);
    /* Read-write only because a WAL reader needs the -shm file; nothing is written. */
    if (sqlite3_open_v2(d->store, db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK)
        FSY_FAIL("cannot open %s: %s", d->store, sqlite3_errmsg(*db));
    sqlite3_busy_timeout(*db, 5000);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(*db, sql, -1, &st, NULL) != SQLITE_OK)
        FSY_FAIL("%s: %s", sql, sqlite3_errmsg(*db));
    int rc = sqlite3_step(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        FSY_FAIL("%s: %s", sql, sqlite3_errmsg(*db));
    if (rc == SQLITE_DONE) {
        sqlite3_finalize(st);
        return NULL;
    }
    return st;
}

/* PostgreSQL: run the query on the test's connection (made once, re-made after the
 * server restarted); NULL when there is no row. */

static PGresult *pg_query(e2e_daemon *d, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
static PGresult *pg_query(e2e_daemon *d, const char *fmt, va_list ap)
{
    char sql[4096];
    vsnprintf(sql, sizeof(sql), fmt, ap);
    PGresult *r = NULL;
    for (int attempt = 0; attempt < 2; attempt++) {
        if (g_pg_conn && PQstatus(g_pg_conn) != CONNECTION_OK) {
            PQfinish(g_pg_conn);
            g_pg_conn = NULL;
        }
        if (!g_pg_conn) {
            g_pg_conn = PQconnectdb(d->pg);
            if (PQstatus(g_pg_conn) != CONNECTION_OK)
                FSY_FAIL("cannot connect to %s: %s", d->pg, PQerrorMessage(g_pg_conn));
        }
        r = PQexec(g_pg_conn, sql);
        if (PQresultStatus(r) == PGRES_TUPLES_OK || PQstatus(g_pg_conn) == CONNECTION_OK)
            break;
        PQclear(r);
        r = NULL;
    }
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        FSY_FAIL("%s: %s", sql, r ? PQresultErrorMessage(r) : PQerrorMessage(g_pg_conn));
    if (PQntuples(r) == 0) {
        PQclear(r);
        return NULL;
    }
    return r;
}

int64_t e2e_sql_int(e2e_daemon *d, const char *fmt, ...)
{
    sqlite3 *db = NULL;
    va_list ap;
    va_start(ap, fmt);
    if (e2e_is_pg(d)) {
        PGresult *r = pg_query(d, fmt, ap);
        va_end(ap);
        int64_t v = 0;
        if (r && !PQgetisnull(r, 0, 0)) {
            const char *t = PQgetvalue(r, 0, 0);
            v = t[0] == 't' ? 1 : t[0] == 'f' ? 0 : strtoll(t, NULL, 10);
        }
        PQclear(r);
        return v;
    }
    sqlite3_stmt *st = store_query(d, &db, fmt, ap);
    va_end(ap);
    int64_t v = st ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

char *e2e_sql_text(e2e_daemon *d, const char *fmt, ...)
{
    sqlite3 *db = NULL;
    va_list ap;
    va_start(ap, fmt);
    if (e2e_is_pg(d)) {
        PGresult *r = pg_query(d, fmt, ap);
        va_end(ap);
        char *v = r && !PQgetisnull(r, 0, 0) ? strdup(PQgetvalue(r, 0, 0)) : NULL;
        PQclear(r);
        return v;
    }
    sqlite3_stmt *st = store_query(d, &db, fmt, ap);
    va_end(ap);
    char *v = NULL;
    if (st && sqlite3_column_type(st, 0) != SQLITE_NULL) {
        const char *t = (const char *)sqlite3_column_text(st, 0);
        v = strdup(t ? t : "");
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

static bool file_has(const char *path, const void *needle, size_t nlen)
{
    size_t len = 0;
    char *t = e2e_read_file(path, &len);
    bool found = t && memmem(t, len, needle, nlen) != NULL;
    free(t);
    return found;
}

bool e2e_store_contains(e2e_daemon *d, const void *needle, size_t len)
{
    if (!e2e_is_pg(d)) {
        char p[700];
        const char *suffix[] = {"", "-wal", "-shm"};
        bool found = false;
        for (int i = 0; i < 3; i++) {
            snprintf(p, sizeof(p), "%s%s", d->store, suffix[i]);
            found = found || file_has(p, needle, len);
        }
        return found;
    }
    char hex[2 * 256 + 1], text[257];
    const unsigned char *b = needle;
    bool is_text = len < sizeof(text);
    if (len > 256)
        FSY_FAIL("e2e_store_contains: needle longer than 256 bytes");
    for (size_t i = 0; i < len; i++) {
        snprintf(hex + 2 * i, 3, "%02x", b[i]);
        is_text = is_text && b[i] >= 0x20 && b[i] < 0x7f && b[i] != '\'' && b[i] != '\\';
    }
    hex[2 * len] = '\0';
    snprintf(text, sizeof(text), "%.*s", (int)len, is_text ? (const char *)needle : "");
    /* Every table of the store, each row as text (bytea shows as \x and hex). */
    return e2e_sql_int(
               d,
               "SELECT count(*) FROM (SELECT t::text AS j FROM users t"
               " UNION ALL SELECT t::text FROM enroll_codes t"
               " UNION ALL SELECT t::text FROM devices t"
               " UNION ALL SELECT t::text FROM push_results t"
               " UNION ALL SELECT t::text FROM rows t"
               " UNION ALL SELECT t::text FROM changes t"
               " UNION ALL SELECT t::text FROM conflicts t"
               " UNION ALL SELECT t::text FROM events t"
               " UNION ALL SELECT t::text FROM device_reports t"
               " UNION ALL SELECT t::text FROM fsy_meta t) a"
               " WHERE position('%s' IN a.j) > 0 OR ('%s' <> '' AND position('%s' IN a.j) > 0)",
               hex, text, text) > 0;
}

double e2e_metric(const char *text, const char *series)
{
    size_t n = strlen(series);
    for (const char *p = text; p && *p;) {
        if (strncmp(p, series, n) == 0 && p[n] == ' ')
            return strtod(p + n + 1, NULL);
        p = strchr(p, '\n');
        if (p)
            p++;
    }
    return -1;
}
