/*
 * main.c — `fieldsync`, the rep's command line: every data command works with
 * the server down (it only touches the local replica); `sync` and `agent` talk
 * to fieldsyncd. Uses only fieldsync.h and the client/agent layer. Exit codes:
 * 0 ok, 1 error, 2 usage, 3 offline (sync could not reach the server).
 */
#include "agent.h"
#include "client.h"
#include "fieldsync.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

typedef struct args {
    int argc;
    char **argv; /* after the command words */
    bool json;
    bool help;
} args;

static const char *g_replica_path;
static fsy_replica *g_r;

/* ---- argument helpers -------------------------------------------------- */

static const char *opt(const args *a, const char *name)
{
    for (int i = 0; i + 1 < a->argc; i++)
        if (strcmp(a->argv[i], name) == 0)
            return a->argv[i + 1];
    return NULL;
}

/* The n-th positional argument (not an option or an option's value). */
static const char *pos(const args *a, int n)
{
    for (int i = 0; i < a->argc; i++) {
        if (strncmp(a->argv[i], "--", 2) == 0) {
            if (strcmp(a->argv[i], "--json") != 0 && strcmp(a->argv[i], "--help") != 0)
                i++;
            continue;
        }
        if (n-- == 0)
            return a->argv[i];
    }
    return NULL;
}

static int fail(const char *what, const char *detail)
{
    fprintf(stderr, "fieldsync: %s%s\n", what, detail);
    return 1;
}

static int usage_error(const char *what, const char *help)
{
    fprintf(stderr, "fieldsync: %s\n%s", what, help);
    return 2;
}

static int api_fail(int rc)
{
    fprintf(stderr, "fieldsync: %s: %s\n", fsy_strerror(rc), fsy_replica_errmsg(g_r));
    return 1;
}

/* Fields whose values are numbers; every other field is text. */
static bool numeric_field(const char *f)
{
    return strcmp(f, "satisfaction") == 0 || strcmp(f, "info_level") == 0 || strstr(f, "_lat") ||
           strstr(f, "_lon");
}

/*
 * Collect `--field value` options into a JSON object, skipping the ones a command
 * handles itself. `--clear field` sets null. Dashes become underscores.
 */
static int collect_fields(const args *a, const char *const *skip, cJSON **out)
{
    cJSON *o = cJSON_CreateObject();
    for (int i = 0; i < a->argc; i++) {
        const char *k = a->argv[i];
        if (strncmp(k, "--", 2) != 0 || strcmp(k, "--json") == 0 || strcmp(k, "--help") == 0)
            continue;
        if (i + 1 >= a->argc) {
            cJSON_Delete(o);
            return usage_error("an option needs a value", "");
        }
        const char *v = a->argv[++i];
        bool skipped = false;
        for (const char *const *s = skip; s && *s; s++)
            skipped |= strcmp(k + 2, *s) == 0;
        if (skipped)
            continue;
        char name[64];
        snprintf(name, sizeof(name), "%s", strcmp(k, "--clear") == 0 ? v : k + 2);
        for (char *p = name; *p; p++)
            if (*p == '-')
                *p = '_';
        if (strcmp(name, "level") == 0)
            snprintf(name, sizeof(name), "info_level");
        if (strcmp(k, "--clear") == 0) {
            cJSON_AddNullToObject(o, name);
        } else if (numeric_field(name)) {
            char *end = NULL;
            double d = strtod(v, &end);
            if (!end || *end || end == v) {
                fprintf(stderr, "fieldsync: --%s needs a number, not \"%s\"\n", k + 2, v);
                cJSON_Delete(o);
                return 2;
            }
            cJSON_AddNumberToObject(o, name, d);
        } else {
            cJSON_AddStringToObject(o, name, v);
        }
    }
    *out = o;
    return 0;
}

/* ---- output -------------------------------------------------------------- */

static const char *s(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : "-";
}

static void print_row(const cJSON *row)
{
    const cJSON *v;
    cJSON_ArrayForEach(v, row)
    {
        if (cJSON_IsNull(v))
            continue;
        if (cJSON_IsString(v))
            printf("  %-13s %s\n", v->string, v->valuestring);
        else {
            char *t = cJSON_PrintUnformatted(v);
            printf("  %-13s %s\n", v->string, t);
            free(t);
        }
    }
}

/* Print a JSON array from the core: as is with --json, else one line per row. */
static int print_list(const args *a, char *json, const char *const *cols)
{
    if (a->json) {
        printf("%s\n", json);
        fsy_free(json);
        return 0;
    }
    cJSON *arr = cJSON_Parse(json), *row;
    int n = 0;
    cJSON_ArrayForEach(row, arr)
    {
        for (const char *const *c = cols; *c; c++) {
            const cJSON *v = cJSON_GetObjectItemCaseSensitive(row, *c);
            if (cJSON_IsNumber(v))
                printf("%s%g", c == cols ? "" : "  ", v->valuedouble);
            else
                printf("%s%s", c == cols ? "" : "  ", s(row, *c));
        }
        putchar('\n');
        n++;
    }
    if (n == 0)
        printf("(none)\n");
    cJSON_Delete(arr);
    fsy_free(json);
    return 0;
}

static int show(const args *a, const char *table, const char *id)
{
    char *json = NULL;
    int rc = fsy_replica_get(g_r, table, id, &json);
    if (rc != FSY_OK)
        return api_fail(rc);
    if (a->json) {
        printf("%s\n", json);
    } else {
        cJSON *row = cJSON_Parse(json);
        printf("%s %s\n", table, id);
        print_row(row);
        cJSON_Delete(row);
    }
    fsy_free(json);
    return 0;
}

static int after_write(int rc, const char *what, const char *id)
{
    if (rc != FSY_OK)
        return api_fail(rc);
    if (id)
        printf("%s\n", id);
    else
        printf("%s\n", what);
    fsy_agent_notify_write(g_replica_path);
    return 0;
}

static int insert(const args *a, const char *table, const char *const *skip, cJSON *extra)
{
    cJSON *f = NULL;
    int rc = collect_fields(a, skip, &f);
    if (rc) {
        cJSON_Delete(extra);
        return rc;
    }
    for (cJSON *e = extra ? extra->child : NULL; e; e = e->next)
        cJSON_AddItemToObject(f, e->string, cJSON_Duplicate(e, true));
    cJSON_Delete(extra);
    char *body = cJSON_PrintUnformatted(f), id[FSY_ID_LEN + 1];
    cJSON_Delete(f);
    rc = fsy_replica_insert(g_r, table, body, id);
    free(body);
    return after_write(rc, NULL, id);
}

static int edit(const args *a, const char *table, const char *id)
{
    cJSON *f = NULL;
    int rc = collect_fields(a, NULL, &f);
    if (rc)
        return rc;
    char *body = cJSON_PrintUnformatted(f);
    cJSON_Delete(f);
    rc = fsy_replica_update(g_r, table, id, body);
    free(body);
    return after_write(rc, "saved", NULL);
}

/* ---- commands -------------------------------------------------------------- */

static const char help_customer[] =
    "usage: fieldsync customer add --name NAME --territory T [--address A] [--phone P]\n"
    "                              [--owner REP] [--category industry|regional|potential]\n"
    "                              [--tier A|B|C] [--status "
    "loyal|fast-growing|dormant|to-nurture]\n"
    "                              [--relationship transactional|familiar|partnership]\n"
    "       fieldsync customer list [--territory T] [--name PREFIX] [--limit N] [--json]\n"
    "       fieldsync customer show ID [--json]\n"
    "       fieldsync customer edit ID [--FIELD VALUE]... [--clear FIELD]\n";

static int cmd_customer(const char *sub, const args *a)
{
    static const char *const cols[] = {"id", "name", "territory", "tier", "status", NULL};
    if (a->help || !sub)
        return printf("%s", help_customer), a->help ? 0 : 2;
    if (strcmp(sub, "add") == 0)
        return insert(a, "customers", NULL, NULL);
    if (strcmp(sub, "list") == 0) {
        char *json = NULL;
        const char *lim = opt(a, "--limit");
        int rc = fsy_query_customers(g_r, opt(a, "--territory"), opt(a, "--name"),
                                     lim ? atoi(lim) : 0, 0, &json);
        return rc == FSY_OK ? print_list(a, json, cols) : api_fail(rc);
    }
    if (!pos(a, 0))
        return usage_error("which customer? give its id", help_customer);
    if (strcmp(sub, "show") == 0)
        return show(a, "customers", pos(a, 0));
    if (strcmp(sub, "edit") == 0)
        return edit(a, "customers", pos(a, 0));
    return usage_error("unknown customer command", help_customer);
}

static const char help_contact[] =
    "usage: fieldsync contact add --customer ID --name NAME [--role R] [--phone P] [--email E]\n"
    "                             [--birthday YYYY-MM-DD] [--care-dates TEXT]\n"
    "                             [--personality expressive|driver|analytical|amiable] [--notes "
    "T]\n"
    "       fieldsync contact list --customer ID [--json]\n";

static int cmd_contact(const char *sub, const args *a)
{
    static const char *const cols[] = {"id", "name", "role", "phone", "email", NULL};
    static const char *const skip[] = {"customer", NULL};
    if (a->help || !sub)
        return printf("%s", help_contact), a->help ? 0 : 2;
    if (!opt(a, "--customer"))
        return usage_error("--customer ID is required", help_contact);
    if (strcmp(sub, "add") == 0) {
        cJSON *x = cJSON_CreateObject();
        cJSON_AddStringToObject(x, "customer_id", opt(a, "--customer"));
        return insert(a, "contacts", skip, x);
    }
    if (strcmp(sub, "list") == 0) {
        char *json = NULL;
        int rc = fsy_query_contacts(g_r, opt(a, "--customer"), &json);
        return rc == FSY_OK ? print_list(a, json, cols) : api_fail(rc);
    }
    return usage_error("unknown contact command", help_contact);
}

static const char help_visit[] =
    "usage: fieldsync visit plan --customer ID [--at TIME] [--kind "
    "cold|referral|existing-customer]\n"
    "                            [--purpose TEXT]\n"
    "       fieldsync visit start ID [--lat DEG --lon DEG]        check in\n"
    "       fieldsync visit end ID [--lat DEG --lon DEG] [--outcome T] [--next-steps T]\n"
    "                              [--follow-up YYYY-MM-DD] [--satisfaction 1-5]   check out\n"
    "       fieldsync visit edit ID [--FIELD VALUE]...\n"
    "       fieldsync visit list [--customer ID] [--from DATE|TIME] [--to DATE|TIME] [--json]\n"
    "       fieldsync visit show ID [--json]\n"
    "TIME is UTC: 2026-11-23T09:00:00Z\n";

static int position(const args *a, double *lat, double *lon)
{
    const char *la = opt(a, "--lat"), *lo = opt(a, "--lon");
    *lat = *lon = NAN;
    if (!la && !lo)
        return 0;
    char *e1 = NULL, *e2 = NULL;
    if (!la || !lo || (*lat = strtod(la, &e1), *e1) || (*lon = strtod(lo, &e2), *e2))
        return usage_error("--lat and --lon go together and are numbers", help_visit);
    return 0;
}

static int cmd_visit(const char *sub, const args *a)
{
    static const char *const cols[] = {"id", "planned_at", "status", "purpose", NULL};
    if (a->help || !sub)
        return printf("%s", help_visit), a->help ? 0 : 2;
    if (strcmp(sub, "plan") == 0) {
        static const char *const skip[] = {"customer", "at", NULL};
        if (!opt(a, "--customer"))
            return usage_error("--customer ID is required", help_visit);
        cJSON *x = cJSON_CreateObject();
        cJSON_AddStringToObject(x, "customer_id", opt(a, "--customer"));
        if (opt(a, "--at"))
            cJSON_AddStringToObject(x, "planned_at", opt(a, "--at"));
        cJSON_AddStringToObject(x, "status", "planned");
        return insert(a, "visits", skip, x);
    }
    if (strcmp(sub, "list") == 0) {
        char *json = NULL;
        const char *lim = opt(a, "--limit");
        int rc = fsy_query_visits(g_r, opt(a, "--customer"), opt(a, "--from"), opt(a, "--to"),
                                  lim ? atoi(lim) : 0, 0, &json);
        return rc == FSY_OK ? print_list(a, json, cols) : api_fail(rc);
    }
    const char *id = pos(a, 0);
    if (!id)
        return usage_error("which visit? give its id", help_visit);
    if (strcmp(sub, "show") == 0)
        return show(a, "visits", id);
    if (strcmp(sub, "edit") == 0)
        return edit(a, "visits", id);
    double lat, lon;
    int prc = position(a, &lat, &lon);
    if (prc)
        return prc;
    if (strcmp(sub, "start") == 0)
        return after_write(fsy_visit_check_in(g_r, id, lat, lon), "checked in", NULL);
    if (strcmp(sub, "end") == 0) {
        static const char *const skip[] = {"lat", "lon", NULL};
        cJSON *f = NULL;
        int rc = collect_fields(a, skip, &f);
        if (rc)
            return rc;
        char *body = f->child ? cJSON_PrintUnformatted(f) : NULL;
        cJSON_Delete(f);
        rc = fsy_visit_check_out(g_r, id, lat, lon, body);
        free(body);
        return after_write(rc, "checked out", NULL);
    }
    return usage_error("unknown visit command", help_visit);
}

static const char help_note[] =
    "usage: fieldsync note add --customer ID --body TEXT [--level 1-4]\n"
    "       fieldsync note list --customer ID [--json]\n"
    "Level: 1-2 public sources, 3 from contacts, 4 from the customer's leadership (restricted).\n";

static int cmd_note(const char *sub, const args *a)
{
    static const char *const cols[] = {"id", "author", "info_level", "body", NULL};
    static const char *const skip[] = {"customer", NULL};
    if (a->help || !sub)
        return printf("%s", help_note), a->help ? 0 : 2;
    if (!opt(a, "--customer"))
        return usage_error("--customer ID is required", help_note);
    if (strcmp(sub, "add") == 0) {
        cJSON *x = cJSON_CreateObject();
        cJSON_AddStringToObject(x, "customer_id", opt(a, "--customer"));
        if (!opt(a, "--level"))
            cJSON_AddNumberToObject(x, "info_level", 1);
        return insert(a, "notes", skip, x);
    }
    if (strcmp(sub, "list") == 0) {
        char *json = NULL;
        int rc = fsy_query_notes(g_r, opt(a, "--customer"), &json);
        return rc == FSY_OK ? print_list(a, json, cols) : api_fail(rc);
    }
    return usage_error("unknown note command", help_note);
}

static const char help_init[] =
    "usage: fieldsync init --server https://HOST:PORT --ca CA.crt [--pin sha256//KEY]\n"
    "Creates the replica and pins the daemon's CA (and optionally its public key).\n";

static int cmd_init(const args *a)
{
    if (a->help)
        return printf("%s", help_init), 0;
    const char *server = opt(a, "--server"), *ca = opt(a, "--ca");
    if (!server || !ca)
        return usage_error("--server and --ca are required", help_init);
    if (strncmp(server, "https://", 8) != 0)
        return usage_error("the server URL must start with https://", help_init);
    /* Keep a copy of the CA next to the replica: the pin must not vanish with a download. */
    char copy[1100];
    snprintf(copy, sizeof(copy), "%s.ca.crt", g_replica_path);
    FILE *in = fopen(ca, "rb"), *out = NULL;
    if (!in)
        return fail("cannot read the CA certificate ", ca);
    out = fopen(copy, "wb");
    if (!out) {
        fclose(in);
        return fail("cannot write ", copy);
    }
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
        fwrite(buf, 1, n, out);
    fclose(in);
    if (fclose(out) != 0)
        return fail("cannot write ", copy);
    int rc = fsy_replica_config_set(g_r, FSY_CFG_SERVER, server);
    if (rc == FSY_OK)
        rc = fsy_replica_config_set(g_r, FSY_CFG_CA, copy);
    if (rc == FSY_OK)
        rc = fsy_replica_config_set(g_r, FSY_CFG_PIN, opt(a, "--pin"));
    if (rc != FSY_OK)
        return api_fail(rc);
    printf("replica %s will sync with %s\n", g_replica_path, server);
    return 0;
}

static int cmd_enroll(const args *a)
{
    static const char help[] = "usage: fieldsync enroll USER CODE\n"
                               "Enrols this device with a one-time code from an administrator.\n";
    if (a->help)
        return printf("%s", help), 0;
    if (!pos(a, 0) || !pos(a, 1))
        return usage_error("give the user and the one-time code", help);
    char err[300];
    if (fsy_client_enroll(g_r, pos(a, 0), pos(a, 1), err, sizeof(err)) != 0)
        return fail("enrolment failed: ", err);
    printf("enrolled as %s\n", pos(a, 0));
    return 0;
}

static void sync_progress(const fsy_sync_report *r, void *ud)
{
    bool *tty = ud;
    if (*tty)
        fprintf(stderr, "\rsyncing: %lld up, %lld down, %zu KiB   ", (long long)r->changes_up,
                (long long)r->changes_down, (r->bytes_up + r->bytes_down) / 1024);
}

static int cmd_sync(const args *a)
{
    if (a->help)
        return printf("usage: fieldsync sync\nPushes pending changes, then pulls.\n"), 0;
    fsy_transport *t = NULL;
    char err[300];
    if (fsy_client_transport(g_r, &t, err, sizeof(err)) != 0)
        return fail("", err);
    bool tty = isatty(2);
    fsy_sync_report rep;
    fsy_sync_outcome out = fsy_client_sync(g_r, t, NULL, sync_progress, &tty, &rep);
    fsy_transport_free(t);
    if (tty)
        fprintf(stderr, "\r%60s\r", "");
    printf("%s\n", rep.message);
    if (out == FSY_SYNC_WIPED) {
        printf("this device was revoked by an administrator; its replica has been wiped\n");
        return 1;
    }
    return out == FSY_SYNC_DONE ? 0 : out == FSY_SYNC_OFFLINE ? 3 : 1;
}

static int cmd_status(const args *a)
{
    if (a->help)
        return printf("usage: fieldsync status [--json]\nPending and parked changes, conflicts, "
                      "cursor, last sync and last error,\nand whether the agent runs.\n"),
               0;
    char *json = NULL;
    int rc = fsy_sync_status(g_r, &json);
    if (rc != FSY_OK)
        return api_fail(rc);
    if (a->json) {
        printf("%s\n", json);
        fsy_free(json);
        return 0;
    }
    cJSON *st = cJSON_Parse(json);
    fsy_free(json);
    char *server = NULL;
    fsy_replica_config_get(g_r, FSY_CFG_SERVER, &server);
    const cJSON *last = cJSON_GetObjectItemCaseSensitive(st, "last_sync_ms");
    long pid = fsy_agent_running(g_replica_path);
    printf("replica      %s\nserver       %s\nuser         %s\ndevice       %s\n", g_replica_path,
           server ? server : "(not set)", s(st, "user"), s(st, "device_id"));
    printf("pending      %g changes\nparked       %g refused changes\nconflicts    %g\n",
           cJSON_GetObjectItemCaseSensitive(st, "pending")->valuedouble,
           cJSON_GetObjectItemCaseSensitive(st, "parked")->valuedouble,
           cJSON_GetObjectItemCaseSensitive(st, "conflicts")->valuedouble);
    printf("cursor       %g\n", cJSON_GetObjectItemCaseSensitive(st, "cursor")->valuedouble);
    if (last && last->valuedouble > 0) {
        time_t t = (time_t)(last->valuedouble / 1000);
        struct tm tm;
        char ts[32];
        gmtime_r(&t, &tm);
        strftime(ts, sizeof(ts), "%Y-%m-%d %H:%M:%S UTC", &tm);
        printf("last sync    %s\n", ts);
    } else {
        printf("last sync    never\n");
    }
    printf("last error   %s\n", s(st, "last_error"));
    printf("agent        %s\n", pid ? "running" : "not running");
    fsy_free(server);
    cJSON_Delete(st);
    return 0;
}

static int cmd_conflicts(const args *a)
{
    if (a->help)
        return printf("usage: fieldsync conflicts [--json]\nConcurrent edits of this rep's "
                      "fields and which value the server kept.\n"),
               0;
    char *json = NULL;
    int rc = fsy_query_conflicts(g_r, &json);
    if (rc != FSY_OK)
        return api_fail(rc);
    if (a->json) {
        printf("%s\n", json);
        fsy_free(json);
        return 0;
    }
    cJSON *arr = cJSON_Parse(json), *c;
    fsy_free(json);
    if (!cJSON_GetArraySize(arr))
        printf("(none)\n");
    cJSON_ArrayForEach(c, arr)
    {
        char *mine = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(c, "mine"));
        char *theirs = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(c, "theirs"));
        bool won = strcmp(s(c, "winner"), "mine") == 0;
        printf("%s %s.%s: yours %s, %s's %s -> %s kept\n", s(c, "table"), s(c, "id"), s(c, "field"),
               mine ? mine : "null", s(c, "their_user"), theirs ? theirs : "null",
               won ? "yours" : "theirs");
        free(mine);
        free(theirs);
    }
    cJSON_Delete(arr);
    return 0;
}

static int cmd_rejections(const char *sub, const args *a)
{
    static const char help[] = "usage: fieldsync rejections [--json]\n"
                               "       fieldsync rejections retry SEQ\n"
                               "       fieldsync rejections discard SEQ\n";
    if (a->help)
        return printf("%s", help), 0;
    if (sub && (strcmp(sub, "retry") == 0 || strcmp(sub, "discard") == 0)) {
        const char *seq = pos(a, 0);
        if (!seq)
            return usage_error("give the SEQ shown by `fieldsync rejections`", help);
        long long n = strtoll(seq, NULL, 10);
        int rc = strcmp(sub, "retry") == 0 ? fsy_parked_retry(g_r, n) : fsy_parked_discard(g_r, n);
        return after_write(rc, strcmp(sub, "retry") == 0 ? "queued again" : "discarded", NULL);
    }
    if (sub)
        return usage_error("unknown rejections command", help);
    char *json = NULL;
    int rc = fsy_query_parked(g_r, &json);
    if (rc != FSY_OK)
        return api_fail(rc);
    if (a->json) {
        printf("%s\n", json);
        fsy_free(json);
        return 0;
    }
    cJSON *arr = cJSON_Parse(json), *c;
    fsy_free(json);
    if (!cJSON_GetArraySize(arr))
        printf("(none)\n");
    cJSON_ArrayForEach(c, arr)
    {
        char *f = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(c, "fields"));
        printf("#%g %s %s %s %s\n    refused (%s): %s\n",
               cJSON_GetObjectItemCaseSensitive(c, "seq")->valuedouble, s(c, "op"), s(c, "table"),
               s(c, "id"), f ? f : "", s(c, "code"), s(c, "reason"));
        free(f);
    }
    cJSON_Delete(arr);
    return 0;
}

static int cmd_export(const args *a)
{
    if (a->help)
        return printf("usage: fieldsync export\nPrints every row of the replica as JSON.\n"), 0;
    char *json = NULL;
    int rc = fsy_replica_export(g_r, &json);
    if (rc != FSY_OK)
        return api_fail(rc);
    printf("%s\n", json);
    fsy_free(json);
    return 0;
}

static int cmd_agent(const args *a)
{
    static const char help[] =
        "usage: fieldsync agent [--interval SECONDS] [--debounce-ms MS] [--once]\n"
        "Syncs in the background: soon after each local write, every --interval seconds\n"
        "(default 300), with backoff while offline; SIGUSR2 means the network is back.\n";
    if (a->help)
        return printf("%s", help), 0;
    fsy_agent_opts o = FSY_AGENT_OPTS_INIT;
    if (opt(a, "--interval"))
        o.interval_s = atoi(opt(a, "--interval"));
    if (opt(a, "--debounce-ms"))
        o.debounce_ms = atoi(opt(a, "--debounce-ms"));
    if (opt(a, "--backoff-min-ms"))
        o.backoff_min_ms = atoi(opt(a, "--backoff-min-ms"));
    if (opt(a, "--backoff-max-ms"))
        o.backoff_max_ms = atoi(opt(a, "--backoff-max-ms"));
    for (int i = 0; i < a->argc; i++)
        o.once |= strcmp(a->argv[i], "--once") == 0;
    if (o.interval_s <= 0 || o.debounce_ms < 0 || o.backoff_min_ms <= 0 || o.backoff_max_ms <= 0)
        return usage_error("intervals must be positive", help);
    /* The agent opens its own handle; ours is closed first so nothing is shared. */
    fsy_replica_free(g_r);
    g_r = NULL;
    return fsy_agent_run(g_replica_path, &o);
}

static const char help_main[] =
    "usage: fieldsync [--replica PATH] COMMAND ...\n"
    "\n"
    "Every command except sync, enroll and agent works with the server down.\n"
    "  init --server URL --ca FILE     point the replica at a fieldsyncd and pin its CA\n"
    "  enroll USER CODE                enrol this device with a one-time code\n"
    "  customer add|list|show|edit     customers (accounts, stores)\n"
    "  contact add|list                key people at a customer\n"
    "  visit plan|start|end|edit|list|show   visits, check-in and check-out\n"
    "  note add|list                   notes on a customer\n"
    "  sync                            one sync round now\n"
    "  status                          pending changes, last sync, last error, cursor\n"
    "  conflicts                       how the server resolved concurrent edits\n"
    "  rejections [retry|discard SEQ]  changes the server refused, and what to do\n"
    "  export                          the replica's rows as JSON\n"
    "  agent                           sync in the background\n"
    "\n"
    "The replica is --replica PATH, else $FIELDSYNC_REPLICA, else ~/.fieldsync/replica.db.\n"
    "Listings take --json; every command takes --help.\n";

int main(int argc, char **argv)
{
    int i = 1;
    static char def_path[1024];
    g_replica_path = getenv("FIELDSYNC_REPLICA");
    if (i + 1 < argc && strcmp(argv[i], "--replica") == 0) {
        g_replica_path = argv[i + 1];
        i += 2;
    }
    if (i >= argc || strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "help") == 0) {
        printf("%s", help_main);
        return i >= argc ? 2 : 0;
    }
    if (!g_replica_path) {
        const char *home = getenv("HOME");
        snprintf(def_path, sizeof(def_path), "%s/.fieldsync", home ? home : ".");
        mkdir(def_path, 0700);
        snprintf(def_path, sizeof(def_path), "%s/.fieldsync/replica.db", home ? home : ".");
        g_replica_path = def_path;
    }
    const char *cmd = argv[i++];
    static const char *const grouped[] = {"customer", "contact",    "visit",
                                          "note",     "rejections", NULL};
    const char *sub = NULL;
    for (const char *const *g = grouped; *g; g++)
        if (strcmp(cmd, *g) == 0 && i < argc && strncmp(argv[i], "--", 2) != 0 &&
            !(strcmp(cmd, "rejections") == 0 && strcmp(argv[i], "retry") != 0 &&
              strcmp(argv[i], "discard") != 0))
            sub = argv[i++];
    args a = {argc - i, argv + i, false, false};
    for (int k = 0; k < a.argc; k++) {
        a.json |= strcmp(a.argv[k], "--json") == 0;
        a.help |= strcmp(a.argv[k], "--help") == 0;
    }

    /* Replicas hold customer data: owner-only files from the start. */
    umask(077);
    int rc = fsy_replica_new(&g_r);
    if (rc == FSY_OK)
        rc = fsy_replica_open(g_r, g_replica_path, NULL);
    if (rc != FSY_OK) {
        fprintf(stderr, "fieldsync: cannot open the replica %s: %s\n", g_replica_path,
                fsy_replica_errmsg(g_r));
        fsy_replica_free(g_r);
        return 1;
    }
    if (strcmp(cmd, "init") == 0)
        rc = cmd_init(&a);
    else if (strcmp(cmd, "enroll") == 0)
        rc = cmd_enroll(&a);
    else if (strcmp(cmd, "customer") == 0)
        rc = cmd_customer(sub, &a);
    else if (strcmp(cmd, "contact") == 0)
        rc = cmd_contact(sub, &a);
    else if (strcmp(cmd, "visit") == 0)
        rc = cmd_visit(sub, &a);
    else if (strcmp(cmd, "note") == 0)
        rc = cmd_note(sub, &a);
    else if (strcmp(cmd, "sync") == 0)
        rc = cmd_sync(&a);
    else if (strcmp(cmd, "status") == 0)
        rc = cmd_status(&a);
    else if (strcmp(cmd, "conflicts") == 0)
        rc = cmd_conflicts(&a);
    else if (strcmp(cmd, "rejections") == 0)
        rc = cmd_rejections(sub, &a);
    else if (strcmp(cmd, "export") == 0)
        rc = cmd_export(&a);
    else if (strcmp(cmd, "agent") == 0)
        rc = cmd_agent(&a);
    else
        rc = usage_error("unknown command", help_main);
    fsy_replica_free(g_r);
    return rc;
}
