/*
 * test_schema.c — what a local write accepts and refuses (DESIGN §2): every
 * enumeration value of every table, required fields, sizes, dates, times, ids,
 * ranges, unknown names and malformed text. Refusals carry a message naming
 * table.field. The SQL view tables are checked against schema.c column by column.
 * Walks the schema through schema.h, so a field added later is covered too.
 */
#include "internal.h"
#include "unit_helpers.h"

#include <sqlite3.h>

/* A replica with one customer and one visit to hang child rows on. */
typedef struct fixture {
    char path[512];
    fsy_replica *r;
    char customer[FSY_ID_LEN + 1];
    char visit[FSY_ID_LEN + 1];
} fixture;

static void fx_open(fixture *fx, const char *tag, bool enrolled)
{
    char json[128];
    if (enrolled) {
        fx->r = t_open(fx->path, sizeof(fx->path), tag, NULL);
    } else {
        fsy_test_tmp(fx->path, sizeof(fx->path), tag);
        fx->r = t_reopen(fx->path, NULL);
    }
    t_customer(fx->r, "Parent", "north", fx->customer);
    snprintf(json, sizeof(json), "{\"customer_id\":\"%s\",\"rep\":\"alice\"}", fx->customer);
    t_insert(fx->r, "visits", json, fx->visit);
}

static void fx_close(fixture *fx)
{
    t_close(fx->r, fx->path);
}

/* A valid new row of `t` with every required field given explicitly. */
static cJSON *valid_row(const fixture *fx, const fsy_table *t)
{
    cJSON *o = cJSON_CreateObject();
    for (int i = 0; i < t->n_fields; i++) {
        const fsy_field *f = &t->fields[i];
        if (!f->required)
            continue;
        switch (f->type) {
        case FSY_T_REF:
            cJSON_AddStringToObject(o, f->name,
                                    strcmp(f->name, "visit_id") == 0 ? fx->visit : fx->customer);
            break;
        case FSY_T_ENUM:
            cJSON_AddStringToObject(o, f->name, f->enum_values[0]);
            break;
        case FSY_T_INT:
            cJSON_AddNumberToObject(o, f->name, f->min);
            break;
        default:
            cJSON_AddStringToObject(o, f->name, "x");
        }
    }
    return o;
}

/* Insert `row` into t; returns the code and keeps the message in msg. */
static int try_insert(fixture *fx, const fsy_table *t, const cJSON *row, char *id, char *msg,
                      size_t n)
{
    char *json = cJSON_PrintUnformatted(row);
    int rc = fsy_replica_insert(fx->r, t->name, json, id);
    snprintf(msg, n, "%s", fsy_replica_errmsg(fx->r));
    cJSON_free(json);
    return rc;
}

static void expect_refused(fixture *fx, const fsy_table *t, const char *fields_json, int code,
                           const char *field)
{
    char id[FSY_ID_LEN + 1], want[128];
    int64_t before = t_pending(fx->r);
    cJSON *row = valid_row(fx, t);
    cJSON *extra = t_json(fields_json);
    for (cJSON *v = extra->child; v; v = v->next) {
        cJSON_DeleteItemFromObjectCaseSensitive(row, v->string);
        cJSON_AddItemToObject(row, v->string, cJSON_Duplicate(v, true));
    }
    char msg[FSY_ERRMSG_LEN];
    int rc = try_insert(fx, t, row, id, msg, sizeof(msg));
    if (rc != code)
        FSY_FAIL("%s %s: expected %d, got %d (%s)", t->name, fields_json, code, rc, msg);
    snprintf(want, sizeof(want), "%s.%s", t->name, field);
    ASSERT_CONTAINS(msg, want);
    ASSERT_EQ(t_pending(fx->r), before);
    cJSON_Delete(extra);
    cJSON_Delete(row);
}

static void test_schema__every_enumeration_value_is_accepted(void)
{
    fixture fx;
    fx_open(&fx, "enum-ok", true);
    int n_checked = 0;
    for (int ti = 0; ti < FSY_N_TABLES; ti++) {
        const fsy_table *t = fsy__schema_table_at(ti);
        for (int fi = 0; fi < t->n_fields; fi++) {
            const fsy_field *f = &t->fields[fi];
            if (f->type != FSY_T_ENUM)
                continue;
            for (const char *const *e = f->enum_values; *e; e++) {
                char id[FSY_ID_LEN + 1], msg[FSY_ERRMSG_LEN], buf[64];
                cJSON *row = valid_row(&fx, t);
                cJSON_DeleteItemFromObjectCaseSensitive(row, f->name);
                cJSON_AddStringToObject(row, f->name, *e);
                int rc = try_insert(&fx, t, row, id, msg, sizeof(msg));
                if (rc != FSY_OK)
                    FSY_FAIL("%s.%s = \"%s\" refused: %s", t->name, f->name, *e, msg);
                ASSERT_STREQ(t_field(fx.r, t->name, id, f->name, buf, sizeof(buf)), *e);
                cJSON_Delete(row);
                n_checked++;
            }
        }
    }
    /* category 3 + tier 3 + status 4 + relationship 3 + personality 4 + kind 3 +
     * visit status 4 + review state 2: a value dropped from schema.c shows here. */
    ASSERT_EQ(n_checked, 26);
    fx_close(&fx);
}

static void test_schema__a_value_outside_an_enumeration_is_refused_naming_the_field(void)
{
    fixture fx;
    fx_open(&fx, "enum-bad", true);
    for (int ti = 0; ti < FSY_N_TABLES; ti++) {
        const fsy_table *t = fsy__schema_table_at(ti);
        for (int fi = 0; fi < t->n_fields; fi++) {
            const fsy_field *f = &t->fields[fi];
            if (f->type != FSY_T_ENUM)
                continue;
            char json[128];
            /* Neither unknown words nor a differently cased valid value. */
            snprintf(json, sizeof(json), "{\"%s\":\"bogus\"}", f->name);
            expect_refused(&fx, t, json, FSY_EINVAL, f->name);
            if (strcmp(f->enum_values[0], "A") != 0) {
                char upper[64];
                snprintf(upper, sizeof(upper), "%s", f->enum_values[0]);
                upper[0] = (char)(upper[0] - 'a' + 'A');
                snprintf(json, sizeof(json), "{\"%s\":\"%s\"}", f->name, upper);
            } else {
                snprintf(json, sizeof(json), "{\"%s\":\"a\"}", f->name);
            }
            expect_refused(&fx, t, json, FSY_EINVAL, f->name);
            snprintf(json, sizeof(json), "{\"%s\":1}", f->name);
            expect_refused(&fx, t, json, FSY_EINVAL, f->name);
        }
    }
    /* The message lists what would have been accepted. */
    char id[FSY_ID_LEN + 1];
    ASSERT_EQ(fsy_replica_insert(fx.r, "customers",
                                 "{\"name\":\"n\",\"territory\":\"t\",\"tier\":\"D\"}", id),
              FSY_EINVAL);
    ASSERT_CONTAINS(fsy_replica_errmsg(fx.r), "A, B, C");
    fx_close(&fx);
}

static void test_schema__required_fields_must_be_present_non_null_and_non_empty(void)
{
    fixture fx;
    fx_open(&fx, "required", false); /* not enrolled: no author to fill in */
    for (int ti = 0; ti < FSY_N_TABLES; ti++) {
        const fsy_table *t = fsy__schema_table_at(ti);
        for (int fi = 0; fi < t->n_fields; fi++) {
            const fsy_field *f = &t->fields[fi];
            if (!f->required)
                continue;
            char id[FSY_ID_LEN + 1], msg[FSY_ERRMSG_LEN], want[96], json[96];
            snprintf(want, sizeof(want), "%s.%s", t->name, f->name);
            cJSON *row = valid_row(&fx, t);
            cJSON_DeleteItemFromObjectCaseSensitive(row, f->name);
            int rc = try_insert(&fx, t, row, id, msg, sizeof(msg));
            if (t->index == 2 && strcmp(f->name, "status") == 0) {
                /* A new visit is planned unless said otherwise. */
                char buf[32];
                ASSERT_OK(fx.r, rc);
                ASSERT_STREQ(t_field(fx.r, "visits", id, "status", buf, sizeof(buf)), "planned");
            } else {
                if (rc != FSY_EINVAL)
                    FSY_FAIL("%s left out: expected FSY_EINVAL, got %d", want, rc);
                ASSERT_CONTAINS(msg, want);
            }
            cJSON_Delete(row);
            snprintf(json, sizeof(json), "{\"%s\":null}", f->name);
            expect_refused(&fx, t, json, FSY_EINVAL, f->name);
            if (f->type == FSY_T_TEXT) {
                snprintf(json, sizeof(json), "{\"%s\":\"\"}", f->name);
                expect_refused(&fx, t, json, FSY_EINVAL, f->name);
            }
        }
    }
    /* Optional fields may be null or left out. */
    char id[FSY_ID_LEN + 1];
    t_insert(fx.r, "customers", "{\"name\":\"n\",\"territory\":\"t\",\"phone\":null}", id);
    /* An update may not clear a required field either. */
    ASSERT_EQ(fsy_replica_update(fx.r, "customers", id, "{\"name\":null}"), FSY_EINVAL);
    ASSERT_CONTAINS(fsy_replica_errmsg(fx.r), "customers.name");
    fx_close(&fx);
}

static void test_schema__text_longer_than_its_limit_is_too_big(void)
{
    fixture fx;
    fx_open(&fx, "toobig", true);
    for (int ti = 0; ti < FSY_N_TABLES; ti++) {
        const fsy_table *t = fsy__schema_table_at(ti);
        for (int fi = 0; fi < t->n_fields; fi++) {
            const fsy_field *f = &t->fields[fi];
            if (f->type != FSY_T_TEXT)
                continue;
            char *text = malloc(f->max_len + 2);
            memset(text, 'x', f->max_len + 1);
            text[f->max_len + 1] = '\0';
            cJSON *extra = cJSON_CreateObject();
            cJSON_AddStringToObject(extra, f->name, text);
            char *json = cJSON_PrintUnformatted(extra);
            expect_refused(&fx, t, json, FSY_ETOOBIG, f->name);
            cJSON_free(json);
            cJSON_Delete(extra);

            /* Exactly at the limit is fine, and the limit counts bytes. */
            text[f->max_len] = '\0';
            cJSON *row = valid_row(&fx, t);
            cJSON_DeleteItemFromObjectCaseSensitive(row, f->name);
            cJSON_AddStringToObject(row, f->name, text);
            char id[FSY_ID_LEN + 1], msg[FSY_ERRMSG_LEN];
            if (try_insert(&fx, t, row, id, msg, sizeof(msg)) != FSY_OK)
                FSY_FAIL("%s.%s at %zu bytes refused: %s", t->name, f->name, f->max_len, msg);
            cJSON_Delete(row);
            free(text);
        }
    }
    /* 67 two-byte characters are 134 bytes: over the 100 of customers.owner. */
    char owner[256];
    size_t o = (size_t)snprintf(owner, sizeof(owner), "{\"owner\":\"");
    for (int i = 0; i < 67; i++)
        o += (size_t)snprintf(owner + o, sizeof(owner) - o, "\xc3\xbc");
    snprintf(owner + o, sizeof(owner) - o, "\"}");
    expect_refused(&fx, fsy__schema_table("customers"), owner, FSY_ETOOBIG, "owner");
    fx_close(&fx);
}

static void test_schema__dates_times_and_ids_must_be_well_formed(void)
{
    static const char *const bad_dates[] = {
        "2024-02-30", "2023-02-29", "2024-13-01",           "2024-00-10", "24-01-01",
        "2024-1-01",  "2024/01/01", "2024-01-01T00:00:00Z", "",           "1899-12-31"};
    static const char *const good_dates[] = {"2024-02-29", "2000-02-29", "1999-12-31"};
    static const char *const bad_times[] = {"2024-05-01T10:00:00",       "2024-05-01 10:00:00Z",
                                            "2024-05-01T24:00:00Z",      "2024-05-01T10:60:00Z",
                                            "2024-05-01T10:00:00+02:00", "2024-05-01T10:00:00.5Z",
                                            "2024-05-01T10:00:00.500z",  "2024-05-01",
                                            "2024-02-30T10:00:00Z"};
    static const char *const good_times[] = {"2024-05-01T10:00:00Z", "2024-05-01T23:59:59.999Z",
                                             "2024-02-29T00:00:00.000Z"};
    static const char *const bad_ids[] = {
        "not-a-uuid", "0192F3A0-0000-7000-8000-00000000000A", "0192f3a0000070008000000000000000",
        "0192f3a0-0000-7000-8000-00000000000", "0192f3a0-0000-7000-8000-00000000000g"};
    fixture fx;
    fx_open(&fx, "formats", true);
    const fsy_table *contacts = fsy__schema_table("contacts");
    const fsy_table *visits = fsy__schema_table("visits");
    char json[160], id[FSY_ID_LEN + 1];
    for (size_t i = 0; i < sizeof(bad_dates) / sizeof(bad_dates[0]); i++) {
        snprintf(json, sizeof(json), "{\"birthday\":\"%s\"}", bad_dates[i]);
        expect_refused(&fx, contacts, json, FSY_EINVAL, "birthday");
        snprintf(json, sizeof(json), "{\"follow_up\":\"%s\"}", bad_dates[i]);
        expect_refused(&fx, visits, json, FSY_EINVAL, "follow_up");
    }
    for (size_t i = 0; i < sizeof(good_dates) / sizeof(good_dates[0]); i++) {
        snprintf(json, sizeof(json), "{\"customer_id\":\"%s\",\"name\":\"n\",\"birthday\":\"%s\"}",
                 fx.customer, good_dates[i]);
        ASSERT_OK(fx.r, fsy_replica_insert(fx.r, "contacts", json, id));
    }
    static const char *const time_fields[] = {"planned_at", "checkin_at", "checkout_at"};
    for (size_t k = 0; k < 3; k++) {
        for (size_t i = 0; i < sizeof(bad_times) / sizeof(bad_times[0]); i++) {
            snprintf(json, sizeof(json), "{\"%s\":\"%s\"}", time_fields[k], bad_times[i]);
            expect_refused(&fx, visits, json, FSY_EINVAL, time_fields[k]);
        }
        for (size_t i = 0; i < sizeof(good_times) / sizeof(good_times[0]); i++) {
            snprintf(json, sizeof(json), "{\"customer_id\":\"%s\",\"%s\":\"%s\"}", fx.customer,
                     time_fields[k], good_times[i]);
            ASSERT_OK(fx.r, fsy_replica_insert(fx.r, "visits", json, id));
        }
    }
    for (size_t i = 0; i < sizeof(bad_ids) / sizeof(bad_ids[0]); i++) {
        snprintf(json, sizeof(json), "{\"customer_id\":\"%s\"}", bad_ids[i]);
        expect_refused(&fx, contacts, json, FSY_EINVAL, "customer_id");
        snprintf(json, sizeof(json), "{\"visit_id\":\"%s\"}", bad_ids[i]);
        expect_refused(&fx, fsy__schema_table("reviews"), json, FSY_EINVAL, "visit_id");
    }
    fx_close(&fx);
}

static void test_schema__numbers_must_be_in_range_and_whole_where_required(void)
{
    fixture fx;
    fx_open(&fx, "ranges", true);
    const fsy_table *visits = fsy__schema_table("visits");
    const fsy_table *notes = fsy__schema_table("notes");
    expect_refused(&fx, visits, "{\"satisfaction\":0}", FSY_EINVAL, "satisfaction");
    expect_refused(&fx, visits, "{\"satisfaction\":6}", FSY_EINVAL, "satisfaction");
    expect_refused(&fx, visits, "{\"satisfaction\":2.5}", FSY_EINVAL, "satisfaction");
    expect_refused(&fx, visits, "{\"satisfaction\":\"3\"}", FSY_EINVAL, "satisfaction");
    expect_refused(&fx, visits, "{\"satisfaction\":true}", FSY_EINVAL, "satisfaction");
    expect_refused(&fx, notes, "{\"info_level\":5}", FSY_EINVAL, "info_level");
    expect_refused(&fx, notes, "{\"info_level\":0}", FSY_EINVAL, "info_level");
    expect_refused(&fx, notes, "{\"info_level\":-1}", FSY_EINVAL, "info_level");
    expect_refused(&fx, visits, "{\"checkin_lat\":90.5}", FSY_EINVAL, "checkin_lat");
    expect_refused(&fx, visits, "{\"checkin_lon\":-180.01}", FSY_EINVAL, "checkin_lon");
    expect_refused(&fx, visits, "{\"checkout_lat\":\"52.5\"}", FSY_EINVAL, "checkout_lat");

    char json[200], id[FSY_ID_LEN + 1];
    /* A number too large for a double parses as infinity: not a position. */
    snprintf(json, sizeof(json), "{\"customer_id\":\"%s\",\"checkin_lat\":1e999}", fx.customer);
    ASSERT_EQ(fsy_replica_insert(fx.r, "visits", json, id), FSY_EINVAL);
    ASSERT_CONTAINS(fsy_replica_errmsg(fx.r), "visits.checkin_lat");
    for (int s = 1; s <= 5; s++) {
        snprintf(json, sizeof(json), "{\"customer_id\":\"%s\",\"satisfaction\":%d}", fx.customer,
                 s);
        ASSERT_OK(fx.r, fsy_replica_insert(fx.r, "visits", json, id));
    }
    for (int l = 1; l <= 4; l++) {
        snprintf(json, sizeof(json), "{\"customer_id\":\"%s\",\"body\":\"b\",\"info_level\":%d}",
                 fx.customer, l);
        ASSERT_OK(fx.r, fsy_replica_insert(fx.r, "notes", json, id));
        cJSON *row = t_row(fx.r, "notes", id);
        ASSERT_EQ(t_num(row, "info_level"), l);
        cJSON_Delete(row);
    }
    snprintf(json, sizeof(json),
             "{\"customer_id\":\"%s\",\"checkin_lat\":-90,\"checkin_lon\":180,"
             "\"checkout_lat\":52.520008,\"checkout_lon\":13.404954}",
             fx.customer);
    ASSERT_OK(fx.r, fsy_replica_insert(fx.r, "visits", json, id));
    cJSON *row = t_row(fx.r, "visits", id);
    ASSERT_EQ(t_num(row, "checkin_lat"), -90);
    ASSERT_TRUE(t_num(row, "checkout_lat") == 52.520008);
    ASSERT_TRUE(t_num(row, "checkout_lon") == 13.404954);
    cJSON_Delete(row);
    fx_close(&fx);
}

static void test_schema__unknown_tables_and_fields_are_refused(void)
{
    fixture fx;
    fx_open(&fx, "unknown", true);
    char id[FSY_ID_LEN + 1];
    ASSERT_EQ(fsy_replica_insert(fx.r, "orders", "{\"name\":\"x\"}", id), FSY_EINVAL);
    ASSERT_CONTAINS(fsy_replica_errmsg(fx.r), "unknown table \"orders\"");
    ASSERT_EQ(fsy_replica_insert(fx.r, "Customers", "{\"name\":\"x\",\"territory\":\"t\"}", id),
              FSY_EINVAL);
    ASSERT_EQ(fsy_replica_insert(fx.r, "fsy_journal", "{}", id), FSY_EINVAL);
    ASSERT_EQ(fsy_replica_insert(fx.r, NULL, "{}", id), FSY_EINVAL);
    ASSERT_EQ(fsy_replica_update(fx.r, "orders", fx.customer, "{\"name\":\"x\"}"), FSY_EINVAL);
    ASSERT_EQ(fsy_replica_delete(fx.r, "orders", fx.customer), FSY_EINVAL);
    char *out = NULL;
    ASSERT_EQ(fsy_replica_get(fx.r, "orders", fx.customer, &out), FSY_EINVAL);

    ASSERT_EQ(fsy_replica_insert(fx.r, "customers",
                                 "{\"name\":\"x\",\"territory\":\"t\",\"colour\":\"red\"}", id),
              FSY_EINVAL);
    ASSERT_CONTAINS(fsy_replica_errmsg(fx.r), "customers has no field \"colour\"");
    ASSERT_EQ(fsy_replica_update(fx.r, "customers", fx.customer, "{\"Name\":\"x\"}"), FSY_EINVAL);
    ASSERT_CONTAINS(fsy_replica_errmsg(fx.r), "\"Name\"");
    /* The tombstone is the delete's business, not a writable field. */
    ASSERT_EQ(fsy_replica_update(fx.r, "customers", fx.customer, "{\"_deleted\":true}"),
              FSY_EINVAL);
    ASSERT_EQ(t_pending(fx.r), 2);
    fx_close(&fx);
}

static void test_schema__id_cannot_be_written(void)
{
    fixture fx;
    fx_open(&fx, "id", true);
    char id[FSY_ID_LEN + 1], json[160];
    snprintf(json, sizeof(json), "{\"id\":\"%s\",\"name\":\"x\",\"territory\":\"t\"}", fx.customer);
    ASSERT_EQ(fsy_replica_insert(fx.r, "customers", json, id), FSY_EINVAL);
    ASSERT_CONTAINS(fsy_replica_errmsg(fx.r), "\"id\" cannot be written");
    snprintf(json, sizeof(json), "{\"id\":\"0192f3a0-0000-7000-8000-0000000000ff\"}");
    ASSERT_EQ(fsy_replica_update(fx.r, "customers", fx.customer, json), FSY_EINVAL);
    ASSERT_CONTAINS(fsy_replica_errmsg(fx.r), "\"id\" cannot be written");
    char buf[64];
    ASSERT_STREQ(t_field(fx.r, "customers", fx.customer, "id", buf, sizeof(buf)), fx.customer);
    fx_close(&fx);
}

static void test_schema__a_field_given_twice_is_refused(void)
{
    fixture fx;
    fx_open(&fx, "dup", true);
    char id[FSY_ID_LEN + 1];
    ASSERT_EQ(fsy_replica_insert(fx.r, "customers",
                                 "{\"name\":\"a\",\"territory\":\"t\",\"name\":\"b\"}", id),
              FSY_EINVAL);
    ASSERT_CONTAINS(fsy_replica_errmsg(fx.r), "\"name\" is given twice");
    ASSERT_EQ(fsy_replica_update(fx.r, "customers", fx.customer,
                                 "{\"tier\":\"A\",\"phone\":\"1\",\"tier\":\"B\"}"),
              FSY_EINVAL);
    ASSERT_CONTAINS(fsy_replica_errmsg(fx.r), "\"tier\" is given twice");
    char buf[32];
    ASSERT_STREQ(t_field(fx.r, "customers", fx.customer, "tier", buf, sizeof(buf)), "(null)");
    fx_close(&fx);
}

static void test_schema__text_must_be_valid_utf8(void)
{
    static const char *const bad[] = {
        "caf\xff",           /* not a lead byte */
        "\xc0\xaf",          /* overlong '/' */
        "\xe0\x80\xaf",      /* overlong, three bytes */
        "\xed\xa0\x80",      /* UTF-16 surrogate */
        "\xe2\x82",          /* truncated euro sign */
        "\xf4\x90\x80\x80",  /* above U+10FFFF */
        "M\xfcller",         /* Latin-1, not UTF-8 */
        "\x80 continuation", /* stray continuation byte */
    };
    fixture fx;
    fx_open(&fx, "utf8", true);
    const fsy_table *customers = fsy__schema_table("customers");
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char json[96];
        snprintf(json, sizeof(json), "{\"name\":\"%s\"}", bad[i]);
        expect_refused(&fx, customers, json, FSY_EINVAL, "name");
        snprintf(json, sizeof(json), "{\"address\":\"%s\"}", bad[i]);
        expect_refused(&fx, customers, json, FSY_EINVAL, "address");
    }
    char id[FSY_ID_LEN + 1], buf[128];
    static const char good[] = "M\xc3\xbcller \xe2\x80\x93 \xe6\x9d\xb1\xe4\xba\xac "
                               "\xf0\x9f\x98\x80";
    char json[160];
    snprintf(json, sizeof(json), "{\"name\":\"%s\",\"territory\":\"s\\u00fcd\"}", good);
    t_insert(fx.r, "customers", json, id);
    ASSERT_STREQ(t_field(fx.r, "customers", id, "name", buf, sizeof(buf)), good);
    ASSERT_STREQ(t_field(fx.r, "customers", id, "territory", buf, sizeof(buf)), "s\xc3\xbc"
                                                                                "d");
    fx_close(&fx);
}

static void test_schema__fields_must_be_one_well_formed_json_object(void)
{
    fixture fx;
    fx_open(&fx, "shape", true);
    static const char *const bad[] = {"",
                                      "{",
                                      "[]",
                                      "\"name\"",
                                      "null",
                                      "{\"name\":\"a\",}",
                                      "{\"name\":\"a\",\"territory\":\"t\"} {}",
                                      "{\"name\":\"a\",\"territory\":\"t\"}x",
                                      "{\"name\":[\"a\"],\"territory\":\"t\"}",
                                      "{\"name\":{\"a\":1},\"territory\":\"t\"}"};
    char id[FSY_ID_LEN + 1];
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int rc = fsy_replica_insert(fx.r, "customers", bad[i], id);
        if (rc != FSY_EINVAL)
            FSY_FAIL("fields '%s': expected FSY_EINVAL, got %d", bad[i], rc);
        ASSERT_TRUE(fsy_replica_errmsg(fx.r)[0] != '\0');
    }
    ASSERT_EQ(fsy_replica_insert(fx.r, "customers", NULL, id), FSY_EINVAL);
    ASSERT_EQ(fsy_replica_update(fx.r, "customers", fx.customer, "{}"), FSY_EINVAL);
    ASSERT_CONTAINS(fsy_replica_errmsg(fx.r), "no fields to change");
    /* Whitespace around the object is fine. */
    ASSERT_OK(fx.r, fsy_replica_insert(fx.r, "customers",
                                       " \n{\"name\":\"a\",\"territory\":\"t\"}\n ", id));
    /* Over 1 MiB of fields JSON is refused before parsing. */
    size_t big = (1u << 20) + 64;
    char *json = malloc(big + 1);
    memset(json, ' ', big);
    static const char obj[] = "{\"name\":\"a\",\"territory\":\"t\"}";
    memcpy(json, obj, strlen(obj));
    json[big] = '\0';
    ASSERT_EQ(fsy_replica_insert(fx.r, "customers", json, id), FSY_ETOOBIG);
    free(json);
    ASSERT_EQ(t_pending(fx.r), 3);
    fx_close(&fx);
}

static const char *sql_type(fsy_type t)
{
    switch (t) {
    case FSY_T_INT:
        return "INTEGER";
    case FSY_T_REAL:
        return "REAL";
    default:
        return "TEXT";
    }
}

static void test_schema__view_tables_have_exactly_the_schema_columns(void)
{
    char path[512];
    fsy_replica *r = t_open(path, sizeof(path), "columns", NULL);
    for (int ti = 0; ti < FSY_N_TABLES; ti++) {
        const fsy_table *t = fsy__schema_table_at(ti);
        ASSERT_EQ(t->index, ti);
        ASSERT_TRUE(t->n_fields <= FSY_MAX_FIELDS);
        char sql[128];
        snprintf(sql, sizeof(sql),
                 "SELECT name, type, pk FROM pragma_table_info('%s') ORDER BY cid", t->name);
        sqlite3_stmt *st = NULL;
        ASSERT_EQ(sqlite3_prepare_v2(r->db, sql, -1, &st, NULL), SQLITE_OK);
        int col = 0;
        while (sqlite3_step(st) == SQLITE_ROW) {
            const char *name = (const char *)sqlite3_column_text(st, 0);
            const char *type = (const char *)sqlite3_column_text(st, 1);
            if (col == 0) {
                ASSERT_STREQ(name, "id");
                ASSERT_STREQ(type, "TEXT");
                ASSERT_EQ(sqlite3_column_int(st, 2), 1);
            } else {
                if (col > t->n_fields)
                    FSY_FAIL("%s.%s is in the SQL table but not in schema.c", t->name, name);
                const fsy_field *f = &t->fields[col - 1];
                if (strcmp(name, f->name) != 0)
                    FSY_FAIL("%s column %d is \"%s\" in SQL but \"%s\" in schema.c", t->name, col,
                             name, f->name);
                ASSERT_STREQ(type, sql_type(f->type));
                ASSERT_EQ(sqlite3_column_int(st, 2), 0);
            }
            col++;
        }
        sqlite3_finalize(st);
        if (col != t->n_fields + 1)
            FSY_FAIL("%s has %d columns in SQL, schema.c lists %d fields plus id", t->name, col,
                     t->n_fields);
        /* Every field name is unique and none shadows "id" or the tombstone. */
        for (int i = 0; i < t->n_fields; i++) {
            ASSERT_TRUE(strcmp(t->fields[i].name, "id") != 0);
            ASSERT_TRUE(strcmp(t->fields[i].name, FSY_TOMBSTONE) != 0);
            ASSERT_EQ(fsy__schema_field_index(t, t->fields[i].name), i);
        }
        if (t->parent_field)
            ASSERT_TRUE(fsy__schema_field(t, t->parent_field)->type == FSY_T_REF);
        if (t->author_field)
            ASSERT_TRUE(fsy__schema_field(t, t->author_field)->required);
    }
    ASSERT_TRUE(fsy__schema_table_at(FSY_N_TABLES) == NULL);
    ASSERT_TRUE(fsy__schema_table_at(-1) == NULL);
    t_close(r, path);
}

static const fsy_unit_case cases[] = {
    FSY_CASE(schema, every_enumeration_value_is_accepted),
    FSY_CASE(schema, a_value_outside_an_enumeration_is_refused_naming_the_field),
    FSY_CASE(schema, required_fields_must_be_present_non_null_and_non_empty),
    FSY_CASE(schema, text_longer_than_its_limit_is_too_big),
    FSY_CASE(schema, dates_times_and_ids_must_be_well_formed),
    FSY_CASE(schema, numbers_must_be_in_range_and_whole_where_required),
    FSY_CASE(schema, unknown_tables_and_fields_are_refused),
    FSY_CASE(schema, id_cannot_be_written),
    FSY_CASE(schema, a_field_given_twice_is_refused),
    FSY_CASE(schema, text_must_be_valid_utf8),
    FSY_CASE(schema, fields_must_be_one_well_formed_json_object),
    FSY_CASE(schema, view_tables_have_exactly_the_schema_columns),
};

int main(int argc, char **argv)
{
    return fsy_unit_main(argc, argv, cases, sizeof(cases) / sizeof(cases[0]));
}
