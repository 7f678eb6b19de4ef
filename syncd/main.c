/*
 * main.c — the `fieldsyncd` command: init a data directory, serve it, and the
 * admin commands (users, enrolment codes, devices, revoke). The admin commands
 * open the same store as a running daemon; SQLite's WAL lets them run side by
 * side. docs/operations.md is the operator's manual for all of it.
 */
#include "api/api.h"
#include "config.h"
#include "fieldsync.h"
#include "net.h"
#include "pki.h"
#include "review/review.h"
#include "store/pg_internal.h"
#include "store/migrate.h"
#include "store/store.h"

#include <errno.h>
#include <malloc.h>
#include <mbedtls/md.h>
#include <mbedtls/pkcs5.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define PBKDF2_ITERATIONS 200000

static fsy_net_server *g_server; /* for the signal handler only */

static void on_signal(int sig)
{
    (void)sig;
    if (g_server)
        fsy__net_server_stop(g_server);
}

static void logline(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void logline(const char *fmt, ...)
{
    char ts[32];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
    fprintf(stderr, "%s fieldsyncd: ", ts);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

static int usage(void)
{
    fprintf(stderr,
            "usage: fieldsyncd COMMAND DIR [options]\n"
            "\n"
            "  init DIR [--admin NAME] [--host NAME]... [--postgres CONNINFO]\n"
            "                                             create a data directory: store, CA,\n"
            "                                             server certificate, config, admin;\n"
            "                                             --postgres: the store is PostgreSQL\n"
            "  serve DIR                                  run the daemon (foreground)\n"
            "  user-add DIR NAME --role rep|supervisor|admin [--territory T]\n"
            "           [--supervisor S] [--password P]   add or update a user\n"
            "  enroll-code DIR USER [--ttl-hours H]       issue a one-time enrolment code\n"
            "  devices DIR                                list devices and their sync state\n"
            "  revoke DIR DEVICE_ID                       revoke a device (lost tablet)\n"
            "  migrate-store DIR CONNINFO                 move DIR's SQLite store into an empty\n"
            "                                             PostgreSQL database (daemon stopped)\n"
            "\n"
            "The config file DIR/fieldsyncd.conf sets the address, port, every limit and\n"
            "the store: `store = sqlite` (DIR/store.db) or `store = postgresql` with\n"
            "`postgres = <libpq connection string>` (docs/operations.md).\n");
    return 2;
}

static const char *opt(int argc, char **argv, const char *name)
{
    for (int i = 0; i + 1 < argc; i++)
        if (strcmp(argv[i], name) == 0)
            return argv[i + 1];
    return NULL;
}

int fsy_password_hash(fsy_api *api, const char *pw, char *out, size_t n)
{
    unsigned char salt[16], dk[32];
    char salt_hex[33], dk_hex[65];
    static const char hex[] = "0123456789abcdef";
    mbedtls_md_context_t md;
    if (mbedtls_ctr_drbg_random(&api->drbg, salt, sizeof(salt)) != 0)
        return FSY_ERROR;
    mbedtls_md_init(&md);
    int rc = mbedtls_md_setup(&md, mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), 1);
    if (rc == 0)
        rc = mbedtls_pkcs5_pbkdf2_hmac(&md, (const unsigned char *)pw, strlen(pw), salt,
                                       sizeof(salt), PBKDF2_ITERATIONS, sizeof(dk), dk);
    mbedtls_md_free(&md);
    if (rc != 0)
        return FSY_ERROR;
    for (int i = 0; i < 16; i++) {
        salt_hex[2 * i] = hex[salt[i] >> 4];
        salt_hex[2 * i + 1] = hex[salt[i] & 0xf];
    }
    for (int i = 0; i < 32; i++) {
        dk_hex[2 * i] = hex[dk[i] >> 4];
        dk_hex[2 * i + 1] = hex[dk[i] & 0xf];
    }
    salt_hex[32] = dk_hex[64] = '\0';
    snprintf(out, n, "pbkdf2-sha256$%d$%s$%s", PBKDF2_ITERATIONS, salt_hex, dk_hex);
    return FSY_OK;
}

/* An opened data directory: config, store, API state for randomness and hashing. */
typedef struct daemon_ctx {
    fsy_config cfg;
    const fsy_store_ops *ops;
    void *store;
    fsy_api api;
} daemon_ctx;

static int open_dir(daemon_ctx *d, const char *dir)
{
    char err[300];
    memset(d, 0, sizeof(*d));
    if (fsy_config_load(&d->cfg, dir, err, sizeof(err)) != FSY_OK) {
        logline("%s", err);
        return 1;
    }
    /* serve and every admin command open the store the config names. */
    d->ops = d->cfg.is_postgres ? &fsy_store_pg : &fsy_store_sqlite;
    if (d->ops->open(&d->store, d->cfg.is_postgres ? d->cfg.postgres : d->cfg.store_path, err,
                     sizeof(err)) != FSY_OK) {
        logline("%s", err);
        d->store = NULL;
        return 1;
    }
    if (fsy_api_init(&d->api, d->ops, d->store, &d->cfg.sync) != FSY_OK) {
        logline("cannot seed the random generator");
        return 1;
    }
    return 0;
}

static void close_dir(daemon_ctx *d)
{
    fsy_api_free(&d->api);
    if (d->store)
        d->ops->close(d->store);
}

static int put_user(daemon_ctx *d, const char *name, int role, const char *territory,
                    const char *supervisor, const char *password)
{
    fsy_user u;
    memset(&u, 0, sizeof(u));
    if (!name[0] || strlen(name) > 100 || strpbrk(name, " \t\n/\\\"")) {
        logline("user name must be 1-100 characters without spaces, quotes or slashes");
        return 1;
    }
    snprintf(u.name, sizeof(u.name), "%s", name);
    u.role = role;
    snprintf(u.territory, sizeof(u.territory), "%s", territory ? territory : "");
    snprintf(u.supervisor, sizeof(u.supervisor), "%s", supervisor ? supervisor : "");
    if (role == FSY_ROLE_REP && !u.territory[0]) {
        logline("a rep needs --territory");
        return 1;
    }
    if (password && fsy_password_hash(&d->api, password, u.pw_hash, sizeof(u.pw_hash)) != FSY_OK) {
        logline("cannot hash the password");
        return 1;
    }
    fsy_user old;
    if (d->ops->user_get(d->store, name, &old) == FSY_OK) {
        u.created_ms = old.created_ms;
        if (!password)
            snprintf(u.pw_hash, sizeof(u.pw_hash), "%s", old.pw_hash);
    } else {
        u.created_ms = fsy_sync_wall_ms();
    }
    int rc = d->ops->begin(d->store);
    if (rc == FSY_OK)
        rc = d->ops->user_put(d->store, &u);
    if (rc == FSY_OK)
        rc = d->ops->commit(d->store);
    if (rc != FSY_OK) {
        d->ops->rollback(d->store);
        logline("%s", d->ops->errmsg(d->store));
        return 1;
    }
    return 0;
}

static int cmd_init(int argc, char **argv)
{
    const char *dir = argv[2];
    const char *admin = opt(argc, argv, "--admin");
    char err[300], path[1100];
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        logline("cannot create %s: %s", dir, strerror(errno));
        return 1;
    }
    snprintf(path, sizeof(path), "%s/fieldsyncd.conf", dir);
    if (access(path, F_OK) == 0) {
        logline("%s is already initialised (%s exists)", dir, path);
        return 1;
    }
    /* --postgres: reach the database (and create its schema) before writing anything,
     * so an unreachable server leaves no half-made data directory behind. */
    const char *pg = opt(argc, argv, "--postgres");
    if (pg) {
        void *probe = NULL;
        if (fsy_store_pg.open(&probe, pg, err, sizeof(err)) != FSY_OK) {
            logline("%s", err);
            return 1;
        }
        fsy_store_pg.close(probe);
    }
    const char *dns[9] = {0};
    int n_dns = 0;
    for (int i = 3; i + 1 < argc && n_dns < 8; i++)
        if (strcmp(argv[i], "--host") == 0)
            dns[n_dns++] = argv[++i];
    if (fsy__pki_create(dir, n_dns ? dns : NULL, NULL, err, sizeof(err)) != FSY_OK) {
        logline("%s", err);
        return 1;
    }
    if (fsy_config_write_default(dir, err, sizeof(err)) != FSY_OK) {
        logline("%s", err);
        return 1;
    }
    /* --postgres: a fresh install straight on PostgreSQL (the schema is made on open, the
     * admin account in it). An existing SQLite store moves with migrate-store. */
    if (pg && fsy_config_set_postgres(dir, pg, err, sizeof(err)) != FSY_OK) {
        logline("%s", err);
        return 1;
    }
    daemon_ctx d;
    if (open_dir(&d, dir)) {
        close_dir(&d);
        return 1;
    }
    char pw[33];
    fsy_api_random_token(&d.api, pw, 12);
    int rc = put_user(&d, admin ? admin : "admin", FSY_ROLE_ADMIN, NULL, NULL, pw);
    /* review.key signs review sessions; every daemon of one store needs the same file. */
    if (!rc && fsy_review_load_key(d.api.review, dir, err, sizeof(err)) != FSY_OK) {
        logline("%s", err);
        rc = 1;
    }
    close_dir(&d);
    if (rc)
        return rc;
    printf("initialised %s\n", dir);
    if (pg)
        printf("  store        PostgreSQL (%s)\n", pg);
    else
        printf("  store        %s/store.db (SQLite, WAL)\n", dir);
    printf("  CA           %s/ca.crt   (devices pin this certificate)\n"
           "  server cert  %s/server.crt\n"
           "  config       %s/fieldsyncd.conf\n"
           "  admin user   %s, password %s (shown once; used by the review page)\n",
           dir, dir, dir, admin ? admin : "admin", pw);
    return 0;
}

static int cmd_serve(const char *dir)
{
    /* An arena each for the loop and the worker thread, and no more: sharing one made
     * the two threads queue on its lock (closed loop at 1,000 devices: 4,560 against
     * 5,260 requests/s), while peak RSS is the same 60 MB either way since push bodies
     * no longer take 128 KiB blocks (docs/performance.md). */
    mallopt(M_ARENA_MAX, 2);
    daemon_ctx d;
    char cert[1100], key[1100];
    if (open_dir(&d, dir)) {
        close_dir(&d);
        return 1;
    }
    if (fsy_review_load_key(d.api.review, dir, key, sizeof(key)) != FSY_OK) {
        logline("%s", key);
        close_dir(&d);
        return 1;
    }
    snprintf(cert, sizeof(cert), "%s/server.crt", dir);
    snprintf(key, sizeof(key), "%s/server.key", dir);
    fsy_net_opts o = d.cfg.net;
    o.cert_file = cert;
    o.key_file = key;
    o.handler = fsy_api_handle;
    o.batch_end = fsy_api_batch_end;
    o.userdata = &d.api;
    d.api.log_requests = d.cfg.log_requests;
    fsy_net_server *s = NULL;
    int rc = fsy__net_server_new(&s);
    if (rc == FSY_OK)
        rc = fsy__net_server_listen(s, &o);
    if (rc != FSY_OK) {
        logline("cannot listen on %s:%u: %s", o.bind_addr, o.port,
                s ? fsy__net_server_errmsg(s) : "out of memory");
        fsy__net_server_free(s);
        close_dir(&d);
        return 1;
    }
    d.api.net = s;
    g_server = s;
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    logline("serving %s on https://%s:%u (store %s, pid %d)", dir, o.bind_addr,
            fsy__net_server_port(s), d.ops->name, (int)getpid());
    /* Tests and supervisors read the port from here when the config asks for port 0. */
    char portfile[1100];
    snprintf(portfile, sizeof(portfile), "%s/fieldsyncd.port", dir);
    FILE *pf = fopen(portfile, "w");
    if (pf) {
        fprintf(pf, "%u\n", fsy__net_server_port(s));
        fclose(pf);
    }
    rc = fsy__net_server_run(s);
    /* Back to the default handlers before the server goes away, so a late signal
     * cannot reach a freed server. */
    signal(SIGTERM, SIG_DFL);
    signal(SIGINT, SIG_DFL);
    g_server = NULL;
    if (rc != FSY_OK)
        logline("stopped with an error: %s", fsy__net_server_errmsg(s));
    else
        logline("stopped cleanly");
    fsy__net_server_free(s);
    close_dir(&d);
    return rc == FSY_OK ? 0 : 1;
}

static int cmd_user_add(int argc, char **argv)
{
    if (argc < 4)
        return usage();
    const char *role_s = opt(argc, argv, "--role");
    int role = !role_s                             ? -1
               : strcmp(role_s, "rep") == 0        ? FSY_ROLE_REP
               : strcmp(role_s, "supervisor") == 0 ? FSY_ROLE_SUPERVISOR
               : strcmp(role_s, "admin") == 0      ? FSY_ROLE_ADMIN
                                                   : -1;
    if (role < 0) {
        logline("--role must be rep, supervisor or admin");
        return 2;
    }
    daemon_ctx d;
    int rc = open_dir(&d, argv[2]);
    if (!rc)
        rc = put_user(&d, argv[3], role, opt(argc, argv, "--territory"),
                      opt(argc, argv, "--supervisor"), opt(argc, argv, "--password"));
    if (!rc)
        printf("user %s (%s) saved\n", argv[3], role_s);
    close_dir(&d);
    return rc;
}

static int cmd_enroll_code(int argc, char **argv)
{
    if (argc < 4)
        return usage();
    const char *ttl_s = opt(argc, argv, "--ttl-hours");
    long ttl = ttl_s ? strtol(ttl_s, NULL, 10) : 24;
    if (ttl <= 0 || ttl > 24 * 30) {
        logline("--ttl-hours must be 1 to 720");
        return 2;
    }
    daemon_ctx d;
    int rc = open_dir(&d, argv[2]);
    fsy_user u;
    if (!rc && d.ops->user_get(d.store, argv[3], &u) != FSY_OK) {
        logline("no user %s", argv[3]);
        rc = 1;
    }
    char code[21];
    if (!rc) {
        fsy_api_random_token(&d.api, code, 10);
        unsigned char hash[32];
        fsy_api_sha256(code, strlen(code), hash);
        int64_t expires = fsy_sync_wall_ms() + (int64_t)ttl * 3600 * 1000;
        if (d.ops->begin(d.store) != FSY_OK ||
            d.ops->code_put(d.store, hash, argv[3], expires) != FSY_OK ||
            d.ops->commit(d.store) != FSY_OK) {
            d.ops->rollback(d.store);
            logline("%s", d.ops->errmsg(d.store));
            rc = 1;
        }
    }
    if (!rc)
        printf("%s\n", code);
    close_dir(&d);
    return rc;
}

static int print_device(const fsy_device *dv, void *ud)
{
    (void)ud;
    char last[32] = "never";
    if (dv->last_sync_ms) {
        time_t t = (time_t)(dv->last_sync_ms / 1000);
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(last, sizeof(last), "%Y-%m-%dT%H:%M:%SZ", &tm);
    }
    printf("%-36s  %-16s  %-8s  hwm %-8lld cursor %-8lld last sync %s  skew %+lld ms  app %s\n",
           dv->id, dv->user, dv->revoked_ms ? "REVOKED" : "active", (long long)dv->hwm,
           (long long)dv->cursor, last, (long long)dv->skew_ms,
           dv->app_version[0] ? dv->app_version : "-");
    return 0;
}

static int cmd_devices(const char *dir)
{
    daemon_ctx d;
    int rc = open_dir(&d, dir);
    if (!rc && d.ops->device_list(d.store, print_device, NULL) != FSY_OK) {
        logline("%s", d.ops->errmsg(d.store));
        rc = 1;
    }
    close_dir(&d);
    return rc;
}

static int cmd_revoke(const char *dir, const char *id)
{
    daemon_ctx d;
    fsy_device dv;
    int rc = open_dir(&d, dir);
    if (!rc && (d.ops->begin(d.store) != FSY_OK || d.ops->device_get(d.store, id, &dv) != FSY_OK)) {
        d.ops->rollback(d.store);
        logline("no device %s", id);
        rc = 1;
    }
    if (!rc) {
        if (!dv.revoked_ms)
            dv.revoked_ms = fsy_sync_wall_ms();
        if (d.ops->device_put(d.store, &dv) != FSY_OK ||
            d.ops->event_put(d.store, "device_revoked", id, "by an administrator", dv.revoked_ms) !=
                FSY_OK ||
            d.ops->commit(d.store) != FSY_OK) {
            d.ops->rollback(d.store);
            logline("%s", d.ops->errmsg(d.store));
            rc = 1;
        }
    }
    if (!rc)
        printf("device %s revoked; its next sync is refused and told to wipe\n", id);
    close_dir(&d);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 3 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)
        return usage();
    const char *cmd = argv[1];
    if (strcmp(cmd, "init") == 0)
        return cmd_init(argc, argv);
    if (strcmp(cmd, "serve") == 0)
        return cmd_serve(argv[2]);
    if (strcmp(cmd, "user-add") == 0)
        return cmd_user_add(argc, argv);
    if (strcmp(cmd, "enroll-code") == 0)
        return cmd_enroll_code(argc, argv);
    if (strcmp(cmd, "devices") == 0)
        return cmd_devices(argv[2]);
    if (strcmp(cmd, "revoke") == 0 && argc >= 4)
        return cmd_revoke(argv[2], argv[3]);
    if (strcmp(cmd, "migrate-store") == 0 && argc >= 4)
        return fsy_migrate_store(argv[2], argv[3], stdout);
    return usage();
}
