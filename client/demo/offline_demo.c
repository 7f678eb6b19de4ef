/*
 * offline_demo.c — a rep's morning with no signal, through the core API only:
 * customers, a contact, visits planned, checked in and out, a note, a refused
 * bad value, and at the end the pending journal that will sync when the tablet
 * is back online (the push batch, exactly as it would go on the wire).
 */
#include "fieldsync.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static fsy_replica *r;

static void check(int rc, const char *what)
{
    if (rc != FSY_OK) {
        fprintf(stderr, "demo: %s failed: %s (%s)\n", what, fsy_strerror(rc),
                fsy_replica_errmsg(r));
        exit(1);
    }
}

static void show(const char *title, char *json)
{
    cJSON *v = cJSON_Parse(json);
    char *pretty = v ? cJSON_Print(v) : NULL;
    printf("\n## %s\n%s\n", title, pretty ? pretty : json);
    free(pretty);
    cJSON_Delete(v);
    fsy_free(json);
}

int main(int argc, char **argv)
{
    const char *path = argc > 1 ? argv[1] : "fieldsync-demo.db";
    char acme[FSY_ID_LEN + 1], kauf[FSY_ID_LEN + 1], contact[FSY_ID_LEN + 1];
    char v1[FSY_ID_LEN + 1], v2[FSY_ID_LEN + 1], note[FSY_ID_LEN + 1];
    char fields[512], *out = NULL;

    remove(path);
    check(fsy_replica_new(&r), "allocating the replica");
    check(fsy_replica_open(r, path, NULL), "opening the replica");
    check(fsy_replica_set_identity(r, "demo-tablet-alice", "alice"), "enrolling");
    printf("fieldsync %s — replica %s (schema %d), rep alice, no network\n", fsy_version(), path,
           FSY_SCHEMA_VERSION);

    check(fsy_replica_insert(r, "customers",
                             "{\"name\":\"Acme Wholesale\",\"territory\":\"south\","
                             "\"tier\":\"A\",\"status\":\"loyal\",\"category\":\"industry\","
                             "\"relationship\":\"partnership\",\"phone\":\"+49 89 555 0100\"}",
                             acme),
          "adding a customer");
    check(
        fsy_replica_insert(r, "customers",
                           "{\"name\":\"Kaufhaus Sonne\",\"territory\":\"south\","
                           "\"tier\":\"B\",\"status\":\"fast-growing\",\"category\":\"regional\"}",
                           kauf),
        "adding a customer");
    snprintf(fields, sizeof(fields),
             "{\"customer_id\":\"%s\",\"name\":\"Dana Berg\",\"role\":\"decision maker\","
             "\"personality\":\"driver\",\"birthday\":\"1979-04-12\"}",
             acme);
    check(fsy_replica_insert(r, "contacts", fields, contact), "adding a contact");

    snprintf(fields, sizeof(fields),
             "{\"customer_id\":\"%s\",\"kind\":\"existing-customer\","
             "\"planned_at\":\"2026-11-23T09:00:00Z\",\"purpose\":\"Q1 shelf listing\"}",
             acme);
    check(fsy_replica_insert(r, "visits", fields, v1), "planning a visit");
    snprintf(fields, sizeof(fields),
             "{\"customer_id\":\"%s\",\"kind\":\"cold\",\"planned_at\":\"2026-11-23T14:00:00Z\","
             "\"purpose\":\"Introduce the spring range\"}",
             kauf);
    check(fsy_replica_insert(r, "visits", fields, v2), "planning a visit");

    check(fsy_visit_check_in(r, v1, 48.1374, 11.5755), "checking in");
    check(fsy_replica_update(r, "visits", v1, "{\"purpose\":\"Q1 shelf listing + promo\"}"),
          "editing the purpose");
    check(fsy_replica_update(r, "visits", v1, "{\"purpose\":\"Q1 shelf listing + end-cap promo\"}"),
          "editing the purpose again");
    check(fsy_visit_check_out(r, v1, 48.1375, 11.5757,
                              "{\"outcome\":\"Listing agreed for 12 SKUs\","
                              "\"next_steps\":\"Send contract draft\","
                              "\"follow_up\":\"2026-11-30\",\"satisfaction\":5}"),
          "checking out");
    snprintf(fields, sizeof(fields),
             "{\"customer_id\":\"%s\",\"body\":\"Dana mentioned a new category manager from "
             "January.\",\"info_level\":3}",
             acme);
    check(fsy_replica_insert(r, "notes", fields, note), "adding a note");

    int rc = fsy_replica_update(r, "visits", v2, "{\"satisfaction\":9}");
    printf("\nA bad value is refused and nothing is written: %s — %s\n", fsy_strerror(rc),
           fsy_replica_errmsg(r));
    rc = fsy_replica_update(r, "customers", kauf, "{\"tier\":\"Z\"}");
    printf("Another: %s — %s\n", fsy_strerror(rc), fsy_replica_errmsg(r));

    check(fsy_query_customers(r, "south", NULL, 0, 0, &out), "listing customers");
    show("Customers in territory south", out);
    check(fsy_query_visits(r, acme, NULL, NULL, 0, 0, &out), "listing visits");
    show("Visits at Acme Wholesale", out);

    int64_t pending = 0;
    check(fsy_pending_count(r, &pending), "counting pending changes");
    size_t len = 0;
    int n = 0;
    check(fsy_push_export(r, 0, 0, &out, &len, &n), "exporting the journal");
    printf("\n%lld changes are waiting for a signal. The two purpose edits compacted into the "
           "visit's create; the whole batch is %zu bytes before gzip:\n",
           (long long)pending, len);
    show("Pending journal (the push batch that will sync)", out);
    check(fsy_sync_status(r, &out), "reading the sync status");
    show("Sync status", out);

    fsy_replica_free(r);
    return 0;
}
