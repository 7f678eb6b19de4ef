/*
 * test_query.c — the reads behind the tablet's screens: customers by territory
 * and name prefix with paging, visits by customer and time range, contacts,
 * notes and reviews of a row, the pending count, the sync status and
 * fsy_sync_record(), and the whole-replica export. Queries show local edits
 * immediately (DESIGN §8.5, offline first).
 */
#include "unit_helpers.h"

#define T0 1714557600000 /* 2024-05-01T10:00:00.000Z */

/* Run a query returning a JSON array; the caller deletes the result. */
static cJSON *list_customers(fsy_replica *r, const char *territory, const char *prefix, int limit,
                             int offset)
{
    char *text = NULL;
    ASSERT_OK(r, fsy_query_customers(r, territory, prefix, limit, offset, &text));
    cJSON *a = t_json(text);
    ASSERT_TRUE(cJSON_IsArray(a));
    fsy_free(text);
    return a;
}

static cJSON *list_visits(fsy_replica *r, const char *customer, const char *from, const char *to)
{
    char *text = NULL;
    ASSERT_OK(r, fsy_query_visits(r, customer, from, to, 0, 0, &text));
    cJSON *a = t_json(text);
    ASSERT_TRUE(cJSON_IsArray(a));
    fsy_free(text);
    return a;
}

/* The given field of every element, joined with '|'. */
static const char *joined(const cJSON *a, const char *field)
{
    static char buf[2048];
    size_t o = 0;
    buf[0] = '\0';
    const cJSON *it;
    cJSON_ArrayForEach(it, a)
    {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(it, field);
        o += (size_t)snprintf(buf + o, sizeof(buf) - o, "%s%s", o ? "|" : "",
                              cJSON_IsString(v) ? v->valuestring : "?");
    }
    return buf;
}

static void test_query__customers_filter_by_territory_and_sort_by_name(void)
{
    char path[512];
    fsy_replica *r = t_open(path, sizeof(path), "territory", NULL);
    t_customer(r, "zeta Markt", "north", NULL);
    t_customer(r, "Alpha Handel", "north", NULL);
    t_customer(r, "Beta Kauf", "south", NULL);
    t_customer(r, "beta Nord", "north", NULL);
    cJSON *a = list_customers(r, "north", NULL, 0, 0);
    ASSERT_STREQ(joined(a, "name"), "Alpha Handel|beta Nord|zeta Markt");
    /* Each element is a whole row with its id. */
    const cJSON *first = cJSON_GetArrayItem(a, 0);
    ASSERT_EQ(strlen(t_str(first, "id")), FSY_ID_LEN);
    ASSERT_STREQ(t_str(first, "territory"), "north");
    ASSERT_TRUE(t_is_null(first, "tier"));
    cJSON_Delete(a);
    a = list_customers(r, NULL, NULL, 0, 0);
    ASSERT_STREQ(joined(a, "name"), "Alpha Handel|Beta Kauf|beta Nord|zeta Markt");
    cJSON_Delete(a);
    a = list_customers(r, "west", NULL, 0, 0);
    ASSERT_EQ(cJSON_GetArraySize(a), 0);
    cJSON_Delete(a);
    /* Territory is an exact match, not a prefix or case-folded. */
    a = list_customers(r, "North", NULL, 0, 0);
    ASSERT_EQ(cJSON_GetArraySize(a), 0);
    cJSON_Delete(a);
    t_close(r, path);
}

static void test_query__name_prefix_ignores_case(void)
{
    char path[512];
    fsy_replica *r = t_open(path, sizeof(path), "prefix", NULL);
    t_customer(r, "Kaufhaus Nord", "north", NULL);
    t_customer(r, "KAUFLAND Mitte", "north", NULL);
    t_customer(r, "Einkauf GmbH", "north", NULL);
    t_customer(r, "kaufmann", "south", NULL);
    cJSON *a = list_customers(r, NULL, "kauf", 0, 0);
    ASSERT_STREQ(joined(a, "name"), "Kaufhaus Nord|KAUFLAND Mitte|kaufmann");
    cJSON_Delete(a);
    a = list_customers(r, "north", "KAUFH", 0, 0);
    ASSERT_STREQ(joined(a, "name"), "Kaufhaus Nord");
    cJSON_Delete(a);
    a = list_customers(r, NULL, "", 0, 0);
    ASSERT_EQ(cJSON_GetArraySize(a), 4);
    cJSON_Delete(a);
    t_close(r, path);
}

static void test_query__wildcard_characters_in_the_prefix_match_literally(void)
{
    char path[512];
    fsy_replica *r = t_open(path, sizeof(path), "wildcard", NULL);
    t_customer(r, "100% Bio", "north", NULL);
    t_customer(r, "1000 Waren", "north", NULL);
    t_customer(r, "A_B Markt", "north", NULL);
    t_customer(r, "AxB Markt", "north", NULL);
    t_customer(r, "C\\\\D Laden", "north", NULL); /* the name is C\D Laden */
    t_customer(r, "CxD Laden", "north", NULL);
    cJSON *a = list_customers(r, NULL, "100%", 0, 0);
    ASSERT_STREQ(joined(a, "name"), "100% Bio");
    cJSON_Delete(a);
    a = list_customers(r, NULL, "A_", 0, 0);
    ASSERT_STREQ(joined(a, "name"), "A_B Markt");
    cJSON_Delete(a);
    a = list_customers(r, NULL, "C\\", 0, 0);
    ASSERT_STREQ(joined(a, "name"), "C\\D Laden");
    cJSON_Delete(a);
    a = list_customers(r, NULL, "%", 0, 0);
    ASSERT_EQ(cJSON_GetArraySize(a), 0);
    cJSON_Delete(a);
    /* Quotes cannot break out of the query. */
    a = list_customers(r, "north' OR '1'='1", "x' OR '1'='1", 0, 0);
    ASSERT_EQ(cJSON_GetArraySize(a), 0);
    cJSON_Delete(a);
    t_close(r, path);
}

static void test_query__customers_page_through_in_a_stable_order(void)
{
    enum { N = 25 };
    char path[512], name[32];
    fsy_replica *r = t_open(path, sizeof(path), "paging", NULL);
    for (int i = 0; i < N; i++) {
        snprintf(name, sizeof(name), "Kunde %02d", (i * 7) % N);
        t_customer(r, name, "north", NULL);
    }
    t_customer(r, "Kunde 00", "north", NULL); /* same name: the id breaks the tie */
    int seen = 0;
    for (int page = 0; page < 3; page++) {
        cJSON *a = list_customers(r, "north", NULL, 10, page * 10);
        ASSERT_EQ(cJSON_GetArraySize(a), page < 2 ? 10 : 6);
        const cJSON *it;
        cJSON_ArrayForEach(it, a)
        {
            snprintf(name, sizeof(name), "Kunde %02d", seen == 0 ? 0 : seen - 1);
            ASSERT_STREQ(t_str(it, "name"), name);
            seen++;
        }
        cJSON_Delete(a);
    }
    ASSERT_EQ(seen, N + 1);
    cJSON *a = list_customers(r, "north", NULL, 10, 30);
    ASSERT_EQ(cJSON_GetArraySize(a), 0);
    cJSON_Delete(a);
    a = list_customers(r, NULL, NULL, 1, 0);
    ASSERT_EQ(cJSON_GetArraySize(a), 1);
    cJSON_Delete(a);
    t_close(r, path);
}

static void test_query__limit_zero_means_one_hundred(void)
{
    char path[512];
    fsy_replica *r = t_open(path, sizeof(path), "limit", NULL);
    for (int i = 0; i < 105; i++)
        t_customer(r, "K", "north", NULL);
    cJSON *a = list_customers(r, NULL, NULL, 0, 0);
    ASSERT_EQ(cJSON_GetArraySize(a), 100);
    cJSON_Delete(a);
    a = list_customers(r, NULL, NULL, 10000, 0);
    ASSERT_EQ(cJSON_GetArraySize(a), 105);
    cJSON_Delete(a);
    t_close(r, path);
}

static void test_query__bad_paging_and_filters_are_invalid(void)
{
    char path[512], *out = NULL, prefix[202];
    fsy_replica *r = t_open(path, sizeof(path), "badq", NULL);
    ASSERT_EQ(fsy_query_customers(r, NULL, NULL, -1, 0, &out), FSY_EINVAL);
    ASSERT_EQ(fsy_query_customers(r, NULL, NULL, 10, -1, &out), FSY_EINVAL);
    ASSERT_EQ(fsy_query_customers(r, NULL, NULL, 10001, 0, &out), FSY_EINVAL);
    memset(prefix, 'p', 201);
    prefix[201] = '\0';
    ASSERT_EQ(fsy_query_customers(r, NULL, prefix, 0, 0, &out), FSY_EINVAL);
    ASSERT_EQ(fsy_query_visits(r, "nope", NULL, NULL, 0, 0, &out), FSY_EINVAL);
    ASSERT_EQ(fsy_query_visits(r, NULL, "yesterday", NULL, 0, 0, &out), FSY_EINVAL);
    ASSERT_EQ(fsy_query_visits(r, NULL, NULL, "2024-13-01", 0, 0, &out), FSY_EINVAL);
    ASSERT_EQ(fsy_query_visits(r, NULL, NULL, NULL, -5, 0, &out), FSY_EINVAL);
    ASSERT_EQ(fsy_query_contacts(r, NULL, &out), FSY_EINVAL);
    ASSERT_EQ(fsy_query_notes(r, "x", &out), FSY_EINVAL);
    ASSERT_EQ(fsy_query_reviews(r, "", &out), FSY_EINVAL);
    ASSERT_TRUE(out == NULL);
    ASSERT_TRUE(fsy_replica_errmsg(r)[0] != '\0');
    t_close(r, path);
}

/* A visit of `customer` planned at `planned` (NULL for none). */
static void visit_at(fsy_replica *r, const char *customer, const char *planned, const char *purpose,
                     char *id)
{
    char json[256];
    if (planned)
        snprintf(json, sizeof(json),
                 "{\"customer_id\":\"%s\",\"planned_at\":\"%s\",\"purpose\":\"%s\"}", customer,
                 planned, purpose);
    else
        snprintf(json, sizeof(json), "{\"customer_id\":\"%s\",\"purpose\":\"%s\"}", customer,
                 purpose);
    t_insert(r, "visits", json, id);
}

static void test_query__visits_filter_by_customer_newest_first(void)
{
    char path[512], c1[FSY_ID_LEN + 1], c2[FSY_ID_LEN + 1];
    fsy_replica *r = t_open(path, sizeof(path), "visits", NULL);
    t_customer(r, "Eins", "north", c1);
    t_customer(r, "Zwei", "north", c2);
    visit_at(r, c1, "2024-05-01T09:00:00Z", "may", NULL);
    visit_at(r, c1, "2024-06-01T09:00:00Z", "june", NULL);
    visit_at(r, c2, "2024-05-15T09:00:00Z", "other", NULL);
    visit_at(r, c1, "2024-04-01T09:00:00Z", "april", NULL);
    cJSON *a = list_visits(r, c1, NULL, NULL);
    ASSERT_STREQ(joined(a, "purpose"), "june|may|april");
    ASSERT_STREQ(t_str(cJSON_GetArrayItem(a, 0), "customer_id"), c1);
    cJSON_Delete(a);
    a = list_visits(r, NULL, NULL, NULL);
    ASSERT_STREQ(joined(a, "purpose"), "june|other|may|april");
    cJSON_Delete(a);
    char *text = NULL;
    ASSERT_OK(r, fsy_query_visits(r, NULL, NULL, NULL, 2, 1, &text));
    a = t_json(text);
    ASSERT_STREQ(joined(a, "purpose"), "other|may");
    cJSON_Delete(a);
    fsy_free(text);
    t_close(r, path);
}

static void test_query__visit_time_ranges_are_inclusive_to_the_millisecond(void)
{
    char path[512], c[FSY_ID_LEN + 1], v[FSY_ID_LEN + 1];
    t_clock clock = {T0 + 2 * 3600 * 1000}; /* 12:00 */
    fsy_replica_opts o = t_opts(&clock);
    fsy_replica *r = t_open(path, sizeof(path), "range", &o);
    t_customer(r, "Eins", "north", c);
    visit_at(r, c, "2024-04-30T23:59:59.999Z", "before", NULL);
    visit_at(r, c, "2024-05-01T00:00:00Z", "midnight", NULL);
    visit_at(r, c, "2024-05-01T09:00:00Z", "nine", NULL);
    visit_at(r, c, "2024-05-01T10:00:00Z", "ten", NULL);
    visit_at(r, c, "2024-05-01T10:00:00.500Z", "ten-and-a-half-second", NULL);
    visit_at(r, c, NULL, "walk-in", v); /* no plan: its check-in time counts */
    ASSERT_OK(r, fsy_visit_check_in(r, v, 50, 8));
    visit_at(r, c, "2024-05-01T23:59:59Z", "last-second", NULL);
    visit_at(r, c, "2024-05-02T00:00:00.000Z", "next-day", NULL);

    /* A whole day, given as dates. */
    cJSON *a = list_visits(r, c, "2024-05-01", "2024-05-01");
    ASSERT_STREQ(joined(a, "purpose"),
                 "last-second|walk-in|ten-and-a-half-second|ten|nine|midnight");
    cJSON_Delete(a);
    /* Times are inclusive bounds, with or without milliseconds. */
    a = list_visits(r, c, "2024-05-01T10:00:00Z", "2024-05-01T12:00:00.000Z");
    ASSERT_STREQ(joined(a, "purpose"), "walk-in|ten-and-a-half-second|ten");
    cJSON_Delete(a);
    a = list_visits(r, c, "2024-05-01T09:00:00.001Z", "2024-05-01T10:00:00Z");
    ASSERT_STREQ(joined(a, "purpose"), "ten");
    cJSON_Delete(a);
    a = list_visits(r, c, "2024-05-01T10:00:00.001Z", "2024-05-01T10:00:00.500Z");
    ASSERT_STREQ(joined(a, "purpose"), "ten-and-a-half-second");
    cJSON_Delete(a);
    /* Open-ended on either side. */
    a = list_visits(r, c, "2024-05-01T23:59:59Z", NULL);
    ASSERT_STREQ(joined(a, "purpose"), "next-day|last-second");
    cJSON_Delete(a);
    a = list_visits(r, c, NULL, "2024-04-30");
    ASSERT_STREQ(joined(a, "purpose"), "before");
    cJSON_Delete(a);
    /* Nothing in an empty or reversed range. */
    a = list_visits(r, c, "2024-05-03", "2024-05-02");
    ASSERT_EQ(cJSON_GetArraySize(a), 0);
    cJSON_Delete(a);
    t_close(r, path);
}

static void test_query__children_of_a_row_in_their_order(void)
{
    char path[512], c[FSY_ID_LEN + 1], other[FSY_ID_LEN + 1], v[FSY_ID_LEN + 1], json[256];
    char *text = NULL;
    t_clock clock = {T0};
    fsy_replica_opts o = t_opts(&clock);
    fsy_replica *r = t_open(path, sizeof(path), "children", &o);
    t_customer(r, "Eins", "north", c);
    t_customer(r, "Zwei", "north", other);
    static const char *const contacts[] = {"weber", "Albers", "Zander", "meier"};
    for (int i = 0; i < 4; i++) {
        snprintf(json, sizeof(json), "{\"customer_id\":\"%s\",\"name\":\"%s\"}", c, contacts[i]);
        t_insert(r, "contacts", json, NULL);
    }
    snprintf(json, sizeof(json), "{\"customer_id\":\"%s\",\"name\":\"Fremd\"}", other);
    t_insert(r, "contacts", json, NULL);
    ASSERT_OK(r, fsy_query_contacts(r, c, &text));
    cJSON *a = t_json(text);
    ASSERT_STREQ(joined(a, "name"), "Albers|meier|weber|Zander");
    cJSON_Delete(a);
    fsy_free(text);

    for (int i = 0; i < 3; i++) {
        clock.ms += 1000;
        snprintf(json, sizeof(json),
                 "{\"customer_id\":\"%s\",\"body\":\"note %d\",\"info_level\":2}", c, i);
        t_insert(r, "notes", json, NULL);
    }
    ASSERT_OK(r, fsy_query_notes(r, c, &text));
    a = t_json(text);
    ASSERT_STREQ(joined(a, "body"), "note 2|note 1|note 0");
    ASSERT_STREQ(t_str(cJSON_GetArrayItem(a, 0), "author"), T_USER);
    cJSON_Delete(a);
    fsy_free(text);

    visit_at(r, c, "2024-05-01T09:00:00Z", "p", v);
    for (int i = 0; i < 2; i++) {
        clock.ms += 1000;
        snprintf(json, sizeof(json), "{\"visit_id\":\"%s\",\"state\":\"%s\",\"comment\":\"c%d\"}",
                 v, i ? "reviewed" : "needs-follow-up", i);
        t_insert(r, "reviews", json, NULL);
    }
    ASSERT_OK(r, fsy_query_reviews(r, v, &text));
    a = t_json(text);
    ASSERT_STREQ(joined(a, "comment"), "c1|c0");
    ASSERT_STREQ(joined(a, "state"), "reviewed|needs-follow-up");
    cJSON_Delete(a);
    fsy_free(text);
    /* A row with no children, or not on the device, has an empty list. */
    ASSERT_OK(r, fsy_query_notes(r, other, &text));
    ASSERT_STREQ(text, "[]");
    fsy_free(text);
    ASSERT_OK(r, fsy_query_reviews(r, "0192f3a0-0000-7000-8000-0000000000ff", &text));
    ASSERT_STREQ(text, "[]");
    fsy_free(text);
    t_close(r, path);
}

static void test_query__lists_show_local_edits_and_hide_deleted_rows(void)
{
    char path[512], a_id[FSY_ID_LEN + 1], b_id[FSY_ID_LEN + 1];
    fsy_replica *r = t_open(path, sizeof(path), "live", NULL);
    t_customer(r, "Alt", "north", a_id);
    t_customer(r, "Bleibt", "north", b_id);
    ASSERT_OK(r, fsy_replica_update(r, "customers", a_id, "{\"name\":\"Zuletzt\"}"));
    cJSON *a = list_customers(r, "north", NULL, 0, 0);
    ASSERT_STREQ(joined(a, "name"), "Bleibt|Zuletzt");
    cJSON_Delete(a);
    ASSERT_OK(r, fsy_replica_update(r, "customers", a_id, "{\"territory\":\"south\"}"));
    a = list_customers(r, "north", NULL, 0, 0);
    ASSERT_STREQ(joined(a, "name"), "Bleibt");
    cJSON_Delete(a);
    ASSERT_OK(r, fsy_replica_delete(r, "customers", b_id));
    a = list_customers(r, NULL, NULL, 0, 0);
    ASSERT_STREQ(joined(a, "name"), "Zuletzt");
    cJSON_Delete(a);
    t_close(r, path);
}

static void test_query__pending_count_follows_edits_and_acks(void)
{
    char path[512], id[FSY_ID_LEN + 1];
    fsy_replica *r = t_open(path, sizeof(path), "pending", NULL);
    ASSERT_EQ(t_pending(r), 0);
    t_customer(r, "A", "north", id);
    ASSERT_EQ(t_pending(r), 1);
    ASSERT_OK(r, fsy_replica_update(r, "customers", id, "{\"tier\":\"A\"}"));
    ASSERT_EQ(t_pending(r), 1); /* compacted */
    t_customer(r, "B", "north", NULL);
    ASSERT_EQ(t_pending(r), 2);
    int64_t v = 1;
    t_sync_all(r, &v);
    ASSERT_EQ(t_pending(r), 0);
    ASSERT_OK(r, fsy_replica_delete(r, "customers", id));
    ASSERT_EQ(t_pending(r), 1);
    fsy_replica_free(r);
    r = t_reopen(path, NULL);
    ASSERT_EQ(t_pending(r), 1);
    t_close(r, path);
}

static void test_query__sync_status_reports_every_documented_member(void)
{
    static const char *const keys[] = {"cursor",       "pending",         "parked",     "conflicts",
                                       "last_sync_ms", "last_attempt_ms", "last_error", "device_id",
                                       "user",         "schema"};
    char path[512], *text = NULL;
    fsy_test_tmp(path, sizeof(path), "status");
    fsy_replica *r = t_reopen(path, NULL);
    ASSERT_OK(r, fsy_sync_status(r, &text));
    cJSON *st = t_json(text);
    ASSERT_EQ(cJSON_GetArraySize(st), (int)(sizeof(keys) / sizeof(keys[0])));
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
        t_item(st, keys[i]);
    ASSERT_EQ(t_num(st, "cursor"), 0);
    ASSERT_EQ(t_num(st, "pending"), 0);
    ASSERT_EQ(t_num(st, "last_sync_ms"), 0);
    ASSERT_TRUE(t_is_null(st, "last_error"));
    ASSERT_TRUE(t_is_null(st, "device_id")); /* not enrolled yet */
    ASSERT_TRUE(t_is_null(st, "user"));
    ASSERT_EQ(t_num(st, "schema"), FSY_SCHEMA_VERSION);
    cJSON_Delete(st);
    fsy_free(text);

    ASSERT_OK(r, fsy_replica_set_identity(r, T_DEVICE, "O'Brien \"Bob\""));
    t_customer(r, "A", "north", NULL);
    ASSERT_OK(r, t_pull(r, "{\"schema\":2,\"upto\":12,\"changes\":[]}"));
    ASSERT_OK(r, fsy_sync_status(r, &text));
    st = t_json(text);
    ASSERT_EQ(t_num(st, "cursor"), 12);
    ASSERT_EQ(t_num(st, "pending"), 1);
    ASSERT_STREQ(t_str(st, "device_id"), T_DEVICE);
    ASSERT_STREQ(t_str(st, "user"), "O'Brien \"Bob\"");
    cJSON_Delete(st);
    fsy_free(text);
    t_close(r, path);
}

static void test_query__sync_record_keeps_last_success_attempt_and_error(void)
{
    char path[512], *text = NULL;
    t_clock clock = {T0};
    fsy_replica_opts o = t_opts(&clock);
    fsy_replica *r = t_open(path, sizeof(path), "record", &o);
    ASSERT_OK(r, fsy_sync_record(r, true, NULL));
    clock.ms += 60000;
    ASSERT_OK(r, fsy_sync_record(r, false, "connect: \"timeout\"\n"));
    ASSERT_OK(r, fsy_sync_status(r, &text));
    cJSON *st = t_json(text);
    ASSERT_EQ(t_num(st, "last_sync_ms"), T0);
    ASSERT_EQ(t_num(st, "last_attempt_ms"), T0 + 60000);
    ASSERT_STREQ(t_str(st, "last_error"), "connect: \"timeout\"\n");
    cJSON_Delete(st);
    fsy_free(text);

    /* A failure without a message, then success: the error clears. */
    clock.ms += 60000;
    ASSERT_OK(r, fsy_sync_record(r, false, NULL));
    fsy_replica_free(r);
    r = t_reopen(path, &o); /* and it is all kept in the file */
    ASSERT_OK(r, fsy_sync_status(r, &text));
    st = t_json(text);
    ASSERT_TRUE(t_is_null(st, "last_error"));
    ASSERT_EQ(t_num(st, "last_attempt_ms"), T0 + 120000);
    ASSERT_EQ(t_num(st, "last_sync_ms"), T0);
    cJSON_Delete(st);
    fsy_free(text);
    clock.ms += 60000;
    ASSERT_OK(r, fsy_sync_record(r, false, "server said no"));
    ASSERT_OK(r, fsy_sync_record(r, true, "ignored when ok"));
    ASSERT_OK(r, fsy_sync_status(r, &text));
    st = t_json(text);
    ASSERT_TRUE(t_is_null(st, "last_error"));
    ASSERT_EQ(t_num(st, "last_sync_ms"), T0 + 180000);
    cJSON_Delete(st);
    fsy_free(text);
    /* A long message is cut, not refused. */
    char big[2048];
    memset(big, 'e', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    ASSERT_OK(r, fsy_sync_record(r, false, big));
    ASSERT_OK(r, fsy_sync_status(r, &text));
    st = t_json(text);
    ASSERT_TRUE(strlen(t_str(st, "last_error")) < sizeof(big) - 1);
    ASSERT_TRUE(strlen(t_str(st, "last_error")) > 100);
    cJSON_Delete(st);
    fsy_free(text);
    t_close(r, path);
}

static void test_query__export_lists_every_table_sorted_by_id(void)
{
    char path[512], c[FSY_ID_LEN + 1], json[256], *text = NULL;
    fsy_replica *r = t_open(path, sizeof(path), "export", NULL);
    ASSERT_OK(r, fsy_replica_export(r, &text));
    ASSERT_STREQ(text, "{\"customers\":[],\"contacts\":[],\"visits\":[],\"notes\":[],"
                       "\"reviews\":[]}");
    fsy_free(text);
    for (int i = 0; i < 5; i++)
        t_customer(r, "K", "north", c);
    snprintf(json, sizeof(json), "{\"customer_id\":\"%s\",\"satisfaction\":3,\"checkin_lat\":1.5}",
             c);
    t_insert(r, "visits", json, NULL);
    ASSERT_OK(r, fsy_replica_export(r, &text));
    cJSON *doc = t_json(text);
    const cJSON *cs = t_item(doc, "customers");
    ASSERT_EQ(cJSON_GetArraySize(cs), 5);
    for (int i = 1; i < 5; i++)
        ASSERT_TRUE(strcmp(t_str(cJSON_GetArrayItem(cs, i - 1), "id"),
                           t_str(cJSON_GetArrayItem(cs, i), "id")) < 0);
    const cJSON *v = cJSON_GetArrayItem(t_item(doc, "visits"), 0);
    ASSERT_EQ(t_num(v, "satisfaction"), 3);
    ASSERT_TRUE(t_num(v, "checkin_lat") == 1.5);
    cJSON_Delete(doc);
    fsy_free(text);
    t_close(r, path);
}

static const fsy_unit_case cases[] = {
    FSY_CASE(query, customers_filter_by_territory_and_sort_by_name),
    FSY_CASE(query, name_prefix_ignores_case),
    FSY_CASE(query, wildcard_characters_in_the_prefix_match_literally),
    FSY_CASE(query, customers_page_through_in_a_stable_order),
    FSY_CASE(query, limit_zero_means_one_hundred),
    FSY_CASE(query, bad_paging_and_filters_are_invalid),
    FSY_CASE(query, visits_filter_by_customer_newest_first),
    FSY_CASE(query, visit_time_ranges_are_inclusive_to_the_millisecond),
    FSY_CASE(query, children_of_a_row_in_their_order),
    FSY_CASE(query, lists_show_local_edits_and_hide_deleted_rows),
    FSY_CASE(query, pending_count_follows_edits_and_acks),
    FSY_CASE(query, sync_status_reports_every_documented_member),
    FSY_CASE(query, sync_record_keeps_last_success_attempt_and_error),
    FSY_CASE(query, export_lists_every_table_sorted_by_id),
};

int main(int argc, char **argv)
{
    return fsy_unit_main(argc, argv, cases, sizeof(cases) / sizeof(cases[0]));
}
