/*
 * bench_support.h — what the daemon benchmarks (bench_syncd.c, bench_client.c)
 * share: a private temp directory holding a real `fieldsyncd init` data
 * directory, the real daemon as a child process on 127.0.0.1 (port 0), its
 * admin commands (several at once), HTTPS through libcurl with the data
 * directory's CA pinned and gzip request bodies, readings from /proc (peak RSS,
 * CPU, context switches), generated rows with realistic values, percentiles.
 *
 * Everything is bounded: bs_init() arms a watchdog that kills the children and
 * exits if the program overruns its budget. Children die with the benchmark
 * (PR_SET_PDEATHSIG); the temp directory is removed at exit unless
 * FSY_BENCH_KEEP=1. Linux only, like the daemon.
 */
#ifndef FSY_BENCH_SUPPORT_H
#define FSY_BENCH_SUPPORT_H

#include <curl/curl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* ---- process, time, progress ------------------------------------------------ */

/* Name for messages, the watchdog (budget_s), curl_global_init, cleanup at exit,
 * SIGPIPE ignored, RLIMIT_NOFILE raised to its hard limit. Call first. */
void bs_init(const char *prog, int budget_s);
/* Print "prog: message", kill every child, remove the temp dirs, exit 1. */
void bs_die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
/* One progress line on stderr, prefixed with the seconds since bs_init. */
void bs_progress(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
double bs_now(void);      /* monotonic seconds */
double bs_elapsed(void);  /* seconds since bs_init */
int64_t bs_wall_ms(void); /* Unix ms, UTC */
void bs_sleep_ms(int ms);
/* A fresh directory "<parent or $TMPDIR or /tmp>/fsy-bench-<tag>-XXXXXX", removed at exit. */
const char *bs_temp_root(const char *tag, const char *parent);
/* "ext4 on /dev/vda" for the file system holding path. */
void bs_describe_fs(const char *path, char *out, size_t n);

/* fork + exec argv; stdout into out_fd (-1: /dev/null), stderr appended to err_path
 * (NULL: /dev/null). The child gets SIGKILL if we die and is killed by bs_die. */
pid_t bs_spawn(char *const argv[], int out_fd, const char *err_path);
/* Forget a child that has been waited for. */
void bs_forget(pid_t pid);
/* Wait for pid at most timeout_ms; true with its status when it exited. */
bool bs_wait(pid_t pid, int timeout_ms, int *status);

/* ---- /proc ---------------------------------------------------------------- */

/* "load 1.02 0.80 0.55, other processes 35% of the CPUs" — the machine's state; the
 * second part compares /proc/stat with our own and our children's CPU since the last call. */
void bs_machine_note(char *out, size_t n);

/* A "Name:  value" line of /proc/PID/status (VmHWM, VmRSS in kB; context switches). */
long bs_proc_status(pid_t pid, const char *name);
/* utime + stime from /proc/PID/stat, in seconds (clock-tick resolution). */
double bs_proc_cpu_s(pid_t pid);
/* Reset VmHWM to the current RSS (writes 5 to /proc/PID/clear_refs); false if refused. */
bool bs_proc_reset_hwm(pid_t pid);
/* Time on CPU from /proc/PID/schedstat, in seconds (ns resolution). */
double bs_proc_sched_s(pid_t pid);

/* ---- the daemon -------------------------------------------------------------- */

typedef struct bs_daemon {
    char bin[1024]; /* the fieldsyncd executable */
    char dir[700];  /* the data directory */
    char log[800];  /* the daemon's stderr */
    char ca[800];   /* the CA devices pin */
    pid_t pid;      /* 0 when not running */
    int port;
} bs_daemon;

/* `fieldsyncd init ROOT/NAME` and `port = 0`. */
void bs_daemon_init(bs_daemon *d, const char *bin, const char *root, const char *name);
/* Set `key = value` in fieldsyncd.conf. */
void bs_daemon_conf(bs_daemon *d, const char *key, const char *value);
/* `fieldsyncd serve`, waiting (bounded) for the port file. */
void bs_daemon_start(bs_daemon *d);
/* SIGTERM, bounded wait; dies if the daemon does not stop cleanly. */
void bs_daemon_stop(bs_daemon *d);

/* One admin command: args[0] is the command, DIR is inserted after it. */
typedef struct bs_job {
    const char *args[10]; /* NULL-terminated */
    char out[128];        /* its stdout, first line */
} bs_job;

/* Run the jobs, at most `parallel` at a time; dies if one fails. */
void bs_admin_run(bs_daemon *d, bs_job *jobs, int n, int parallel);

/* ---- HTTPS ----------------------------------------------------------------- */

typedef struct bs_buf {
    char *data; /* NUL-terminated */
    size_t len, cap;
} bs_buf;

void bs_buf_add(bs_buf *b, const void *p, size_t n);
void bs_buf_printf(bs_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void bs_buf_free(bs_buf *b);

typedef struct bs_resp {
    long status;
    bs_buf body;             /* decoded */
    size_t up, down;         /* request and response body bytes on the wire */
    size_t hdr_up, hdr_down; /* request and response header bytes */
    double secs;             /* the round trip */
} bs_resp;

/* Options every benchmark handle gets: CA pinned, TLS 1.2+, https only, keep-alive,
 * Accept-Encoding: gzip, no proxy, bounded timeouts. */
void bs_easy_setup(CURL *c, const bs_daemon *d);

typedef struct bs_http {
    CURL *c;
    const bs_daemon *d; /* the URL follows the daemon's current port */
} bs_http;

void bs_http_open(bs_http *h, const bs_daemon *d);
void bs_http_close(bs_http *h);
/* One request on the kept-alive connection. body may be NULL (GET); is_gzip marks it
 * as already gzipped. Dies on a transport error; any HTTP status is returned. */
void bs_http_req(bs_http *h, const char *method, const char *path, const char *token,
                 const void *body, size_t len, bool is_gzip, bs_resp *out);
void bs_resp_free(bs_resp *r);

/* gzip (RFC 1952) of a buffer, malloc'd. */
unsigned char *bs_gzip(const void *in, size_t len, int level, size_t *out_len);

/* POST /v1/enroll. */
void bs_enroll(bs_http *h, const char *user, const char *code, char id[37], char token[65]);
/* GET /healthz: the change-log head. */
int64_t bs_log_head(bs_http *h);
/* A sample of the daemon's /metrics (exact series name with labels); -1 if absent. */
double bs_metric(bs_http *h, const char *series);

/* ---- generated rows ------------------------------------------------------------ */

typedef struct bs_rng {
    uint64_t s;
} bs_rng;

uint64_t bs_rand(bs_rng *r);
unsigned bs_randn(bs_rng *r, unsigned n); /* 0 .. n-1 */

/* A UUIDv7 for time ms. */
void bs_uuid7(bs_rng *r, int64_t ms, char out[37]);
/* A hybrid clock value, 16 hex digits. */
void bs_hlc_hex(int64_t ms, unsigned counter, char out[17]);

typedef struct bs_customer {
    char id[37];
    double lat, lon; /* where it is: visits check in near it */
} bs_customer;

/* The fields of a customer as a JSON object (9 fields); c->lat/lon are set. */
void bs_gen_customer(bs_rng *r, bs_buf *out, bs_customer *c, const char *territory,
                     const char *owner);
/* The fields of a checked-in visit as a JSON object: customer_id, rep, kind,
 * planned_at, checkin_at, checkin_lat, checkin_lon, purpose, outcome, next_steps,
 * follow_up, satisfaction, status (13). Free text is composed from phrase pools
 * with names, products and numbers, 250-450 bytes a visit. */
void bs_gen_visit(bs_rng *r, bs_buf *out, const bs_customer *c, const char *rep);
/* A two-field edit of a visit: a new outcome and satisfaction. */
void bs_gen_edit(bs_rng *r, bs_buf *out);

/* ---- figures ----------------------------------------------------------------- */

/* The p-th percentile (0..100, nearest rank) of v; sorts v. 0 when n is 0. */
double bs_pct(double *v, size_t n, double p);

#endif
