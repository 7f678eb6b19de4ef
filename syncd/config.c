/*
 * config.c — reading and writing DIR/fieldsyncd.conf (see config.h).
 */
#include "config.h"
#include "fieldsync.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char default_conf[] =
    "# fieldsyncd configuration. Every limit is enforced; see docs/operations.md.\n"
    "# Address and port to listen on (TLS only). Port 0 picks a free port and writes\n"
    "# it to fieldsyncd.port.\n"
    "listen = 127.0.0.1\n"
    "port = 8443\n"
    "\n"
    "# Request limits\n"
    "max_header_bytes = 16384\n"
    "max_body_bytes = 8388608\n"
    "max_inflated_body_bytes = 16777216\n"
    "max_connections = 2048\n"
    "\n"
    "# Timeouts (milliseconds). A request must arrive whole within request_timeout_ms\n"
    "# of its first byte: a client sending one byte a second is dropped.\n"
    "handshake_timeout_ms = 10000\n"
    "request_timeout_ms = 10000\n"
    "idle_timeout_ms = 60000\n"
    "write_timeout_ms = 30000\n"
    "shutdown_timeout_ms = 15000\n"
    "\n"
    "# Sync limits\n"
    "max_push_changes = 1000\n"
    "pull_default = 1000\n"
    "pull_max = 5000\n"
    "pull_max_bytes = 4194304\n"
    "# A device clock more than this far ahead of the server is bounded (and recorded).\n"
    "max_clock_ahead_ms = 300000\n"
    "\n"
    "# libdeflate level for response bodies (1-9): 1 compresses a pull page twice as\n"
    "# fast as 6 for about 7% more bytes.\n"
    "gzip_level = 1\n"
    "\n"
    "# One log line per request.\n"
    "log_requests = false\n"
    "\n"
    "# The store: sqlite (DIR/store.db, the default) or postgresql, which several daemons\n"
    "# can share; then postgres is a libpq connection string, e.g.\n"
    "#   postgres = host=127.0.0.1 port=5432 dbname=fieldsync user=fieldsync\n"
    "# The daemon creates and migrates the PostgreSQL schema itself. To move an existing\n"
    "# store there, use `fieldsyncd migrate-store` (docs/operations.md).\n"
    "store = sqlite\n";

int fsy_config_write_default(const char *dir, char *err, size_t errlen)
{
    char path[1100];
    snprintf(path, sizeof(path), "%s/fieldsyncd.conf", dir);
    FILE *f = fopen(path, "wx");
    if (!f) {
        snprintf(err, errlen, "cannot create %s: %s", path, strerror(errno));
        return FSY_ERROR;
    }
    fputs(default_conf, f);
    if (fclose(f) != 0) {
        snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
        return FSY_ERROR;
    }
    return FSY_OK;
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    char *e = s + strlen(s);
    while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n' || e[-1] == '\r'))
        *--e = '\0';
    return s;
}

static bool parse_long(const char *v, long long min, long long max, long long *out)
{
    char *end = NULL;
    errno = 0;
    long long n = strtoll(v, &end, 10);
    if (errno || !end || *end || end == v || n < min || n > max)
        return false;
    *out = n;
    return true;
}

int fsy_config_load(fsy_config *c, const char *dir, char *err, size_t errlen)
{
    fsy_net_opts net = FSY_NET_OPTS_INIT;
    fsy_sync_limits lim = FSY_SYNC_LIMITS_DEFAULT;
    char path[1100], line[1280];
    memset(c, 0, sizeof(*c));
    c->net = net;
    c->sync = lim;
    snprintf(c->dir, sizeof(c->dir), "%s", dir);
    snprintf(c->store_path, sizeof(c->store_path), "%s/store.db", dir);
    snprintf(c->bind_addr, sizeof(c->bind_addr), "127.0.0.1");
    c->net.port = 8443;
    snprintf(path, sizeof(path), "%s/fieldsyncd.conf", dir);
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "cannot read %s: %s (run `fieldsyncd init %s` first)", path,
                 strerror(errno), dir);
        return FSY_ERROR;
    }
    int lineno = 0, rc = FSY_OK;
    while (fgets(line, sizeof(line), f)) {
        lineno++;
        char *s = trim(line);
        if (!*s || *s == '#')
            continue;
        char *eq = strchr(s, '=');
        if (!eq) {
            snprintf(err, errlen, "%s:%d: expected key = value", path, lineno);
            rc = FSY_EINVAL;
            break;
        }
        *eq = '\0';
        char *k = trim(s), *v = trim(eq + 1);
        long long n = 0;
        bool ok = true;
#define INTKEY(name, lo, hi, dst)                                                                  \
    else if (strcmp(k, name) == 0)                                                                 \
    {                                                                                              \
        ok = parse_long(v, lo, hi, &n);                                                            \
        if (ok)                                                                                    \
            dst = n;                                                                               \
    }
        if (strcmp(k, "listen") == 0) {
            ok = strlen(v) > 0 && strlen(v) < sizeof(c->bind_addr);
            if (ok)
                snprintf(c->bind_addr, sizeof(c->bind_addr), "%s", v);
        } else if (strcmp(k, "store") == 0) {
            ok = strcmp(v, "sqlite") == 0 || strcmp(v, "postgresql") == 0;
            c->is_postgres = strcmp(v, "postgresql") == 0;
        } else if (strcmp(k, "postgres") == 0) {
            ok = strlen(v) > 0 && strlen(v) < sizeof(c->postgres);
            if (ok)
                snprintf(c->postgres, sizeof(c->postgres), "%s", v);
        } else if (strcmp(k, "log_requests") == 0) {
            ok = strcmp(v, "true") == 0 || strcmp(v, "false") == 0;
            c->log_requests = strcmp(v, "true") == 0;
        }
        INTKEY("port", 0, 65535, c->net.port)
        INTKEY("max_header_bytes", 1024, 80 * 1024, c->net.max_header_bytes)
        INTKEY("max_body_bytes", 1024, 1LL << 30, c->net.max_body_bytes)
        INTKEY("max_inflated_body_bytes", 1024, 1LL << 30, c->net.max_inflated_body_bytes)
        INTKEY("max_connections", 1, 100000, c->net.max_connections)
        INTKEY("handshake_timeout_ms", 100, 600000, c->net.handshake_timeout_ms)
        INTKEY("request_timeout_ms", 100, 600000, c->net.request_timeout_ms)
        INTKEY("idle_timeout_ms", 100, 3600000, c->net.idle_timeout_ms)
        INTKEY("write_timeout_ms", 100, 600000, c->net.write_timeout_ms)
        INTKEY("shutdown_timeout_ms", 1, 600000, c->net.shutdown_timeout_ms)
        INTKEY("max_push_changes", 1, 100000, c->sync.max_push_changes)
        INTKEY("pull_default", 1, 100000, c->sync.pull_default)
        INTKEY("pull_max", 1, 100000, c->sync.pull_max)
        INTKEY("pull_max_bytes", 4096, 1LL << 30, c->sync.pull_max_bytes)
        INTKEY("gzip_level", 1, 9, c->net.gzip_level)
        INTKEY("max_clock_ahead_ms", 0, 7LL * 24 * 3600 * 1000, c->sync.max_clock_ahead_ms)
        else
        {
            snprintf(err, errlen, "%s:%d: unknown setting \"%s\"", path, lineno, k);
            rc = FSY_EINVAL;
            break;
        }
#undef INTKEY
        if (!ok) {
            snprintf(err, errlen, "%s:%d: bad value \"%s\" for %s", path, lineno, v, k);
            rc = FSY_EINVAL;
            break;
        }
    }
    fclose(f);
    c->net.bind_addr = c->bind_addr;
    if (rc == FSY_OK && c->is_postgres && !c->postgres[0]) {
        snprintf(err, errlen, "%s: store = postgresql needs postgres = <libpq connection string>",
                 path);
        rc = FSY_EINVAL;
    }
    if (!c->is_postgres)
        c->postgres[0] = '\0';
    return rc;
}

int fsy_config_set_postgres(const char *dir, const char *conninfo, char *err, size_t errlen)
{
    char path[1100], tmp[1120], line[1280];
    if (!conninfo[0] || strlen(conninfo) >= sizeof(((fsy_config *)0)->postgres) ||
        strpbrk(conninfo, "\n\r")) {
        snprintf(err, errlen, "the PostgreSQL connection string must be one line of 1-1023 bytes");
        return FSY_EINVAL;
    }
    snprintf(path, sizeof(path), "%s/fieldsyncd.conf", dir);
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    /* The connection string may hold a password: the file is private, and it reaches the
     * disk before it replaces the old one. */
    FILE *in = fopen(path, "r"), *out = NULL;
    int fd = in ? open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600) : -1;
    if (fd >= 0 && !(out = fdopen(fd, "w")))
        close(fd);
    if (!in || !out) {
        snprintf(err, errlen, "cannot rewrite %s: %s", path, strerror(errno));
        if (in)
            fclose(in);
        return FSY_ERROR;
    }
    while (fgets(line, sizeof(line), in)) {
        const char *s = line;
        while (*s == ' ' || *s == '\t')
            s++;
        bool is_store = strncmp(s, "store", 5) == 0 && strchr(" \t=", s[5]);
        bool is_pg = strncmp(s, "postgres", 8) == 0 && strchr(" \t=", s[8]);
        if (!is_store && !is_pg)
            fputs(line, out);
    }
    fprintf(out, "store = postgresql\npostgres = %s\n", conninfo);
    fclose(in);
    bool is_synced = fflush(out) == 0 && fsync(fileno(out)) == 0;
    if (fclose(out) != 0 || !is_synced || rename(tmp, path) != 0) {
        snprintf(err, errlen, "cannot rewrite %s: %s", path, strerror(errno));
        unlink(tmp);
        return FSY_ERROR;
    }
    return FSY_OK;
}
