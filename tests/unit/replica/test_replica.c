/*
 * test_replica.c — the replica file: create, reopen, durability settings, refusing
 * files it must not touch, forward migration, settings, identity and wipe.
 * White-box where the public API cannot see: the SQLite handle (PRAGMAs) and
 * fsy__replica_open_at() to build a replica at an old schema version.
 */
#include "internal.h"
#include "unit_helpers.h"

#include <sqlite3.h>

static void raw_exec(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    ASSERT_EQ(sqlite3_open(path, &db), SQLITE_OK);
    char *err = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK)
        FSY_FAIL("%s: %s", sql, err ? err : "?");
    sqlite3_close(db);
}

static int64_t raw_int(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st = NULL;
    ASSERT_EQ(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

static int64_t file_int(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    ASSERT_EQ(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    int64_t v = raw_int(db, sql);
    sqlite3_close(db);
    return v;
}

static void test_replica__new_and_free_need_no_open(void)
{
    fsy_replica *r = NULL;
    ASSERT_EQ(fsy_replica_new(&r), FSY_OK);
    ASSERT_TRUE(r != NULL);
    ASSERT_STREQ(fsy_replica_errmsg(r), "");
    fsy_replica_free(r);
    fsy_replica_free(NULL);
}

static void test_replica__reopen_keeps_rows_pending_changes_and_identity(void)
{
    char path[512], id[FSY_ID_LEN + 1], *status = NULL;
    fsy_replica *r = t_open(path, sizeof(path), "reopen", NULL);
    t_customer(r, "Kaufhaus Nord", "north", id);
    ASSERT_EQ(t_pending(r), 1);
    fsy_replica_free(r);

    r = t_reopen(path, NULL);
    char buf[64];
    ASSERT_STREQ(t_field(r, "customers", id, "name", buf, sizeof(buf)), "Kaufhaus Nord");
    ASSERT_EQ(t_pending(r), 1);
    ASSERT_OK(r, fsy_sync_status(r, &status));
    cJSON *st = t_json(status);
    ASSERT_STREQ(t_str(st, "device_id"), T_DEVICE);
    ASSERT_STREQ(t_str(st, "user"), T_USER);
    cJSON_Delete(st);
    fsy_free(status);
    t_close(r, path);
}

static void test_replica__file_is_wal_and_synchronous_follows_the_option(void)
{
    char path[512];
    fsy_replica *r = t_open(path, sizeof(path), "wal", NULL);
    ASSERT_EQ(raw_int(r->db, "PRAGMA synchronous"), 2); /* FULL is the default */
    fsy_replica_free(r);
    ASSERT_EQ(file_int(path, "SELECT count(*) FROM pragma_journal_mode WHERE journal_mode = 'wal'"),
              1);

    fsy_replica_opts o = t_opts(NULL);
    o.synchronous = FSY_SYNC_NORMAL;
    r = t_reopen(path, &o);
    ASSERT_EQ(raw_int(r->db, "PRAGMA synchronous"), 1);
    ASSERT_EQ(raw_int(r->db, "PRAGMA application_id"), 0x46535943);
    ASSERT_EQ(raw_int(r->db, "PRAGMA user_version"), FSY_SCHEMA_VERSION);
    fsy_replica_free(r);

    o.synchronous = 7;
    ASSERT_EQ(fsy_replica_new(&r), FSY_OK);
    ASSERT_EQ(fsy_replica_open(r, path, &o), FSY_EMISUSE);
    ASSERT_CONTAINS(fsy_replica_errmsg(r), "synchronous");
    t_close(r, path);
}

static void test_replica__refuses_a_sqlite_file_that_is_not_a_replica(void)
{
    char path[512];
    fsy_test_tmp(path, sizeof(path), "foreign");
    raw_exec(path, "CREATE TABLE photos(id INTEGER PRIMARY KEY, data BLOB);"
                   "INSERT INTO photos(data) VALUES(x'00ff');");
    fsy_replica *r = NULL;
    ASSERT_EQ(fsy_replica_new(&r), FSY_OK);
    ASSERT_EQ(fsy_replica_open(r, path, NULL), FSY_ECORRUPT);
    ASSERT_CONTAINS(fsy_replica_errmsg(r), "not a fieldsync replica");
    fsy_replica_free(r);
    /* The app's file is left as it was: no fieldsync tables, no marks. */
    ASSERT_EQ(file_int(path, "SELECT count(*) FROM sqlite_schema"), 1);
    ASSERT_EQ(file_int(path, "PRAGMA user_version"), 0);
    ASSERT_EQ(file_int(path, "PRAGMA application_id"), 0);

    /* Another application's id is refused too, even without tables. */
    fsy_test_rm(path);
    raw_exec(path, "PRAGMA application_id = 1234; CREATE TABLE x(a); DROP TABLE x;");
    ASSERT_EQ(fsy_replica_new(&r), FSY_OK);
    ASSERT_EQ(fsy_replica_open(r, path, NULL), FSY_ECORRUPT);
    fsy_replica_free(r);
    fsy_test_rm(path);
}

static void test_replica__refuses_a_file_that_is_not_sqlite(void)
{
    char path[512];
    fsy_test_tmp(path, sizeof(path), "garbage");
    FILE *f = fopen(path, "wb");
    ASSERT_TRUE(f != NULL);
    for (int i = 0; i < 4096; i++)
        fputc((i * 7919) & 0xff, f);
    fclose(f);
    fsy_replica *r = NULL;
    ASSERT_EQ(fsy_replica_new(&r), FSY_OK);
    ASSERT_EQ(fsy_replica_open(r, path, NULL), FSY_ECORRUPT);
    ASSERT_TRUE(fsy_replica_errmsg(r)[0] != '\0');
    t_close(r, path);
}

static void test_replica__refuses_a_replica_from_a_newer_schema(void)
{
    char path[512];
    fsy_replica *r = t_open(path, sizeof(path), "newer", NULL);
    t_customer(r, "Future GmbH", "north", NULL);
    fsy_replica_free(r);
    raw_exec(path, "PRAGMA user_version = 3;");

    ASSERT_EQ(fsy_replica_new(&r), FSY_OK);
    ASSERT_EQ(fsy_replica_open(r, path, NULL), FSY_ESCHEMA);
    ASSERT_CONTAINS(fsy_replica_errmsg(r), "schema version 3");
    /* Refusing does not downgrade or touch the file. */
    ASSERT_EQ(file_int(path, "PRAGMA user_version"), 3);
    ASSERT_EQ(file_int(path, "SELECT count(*) FROM customers"), 1);
    t_close(r, path);
}

static void test_replica__a_failed_open_leaves_the_handle_usable(void)
{
    char bad[512], good[512], id[FSY_ID_LEN + 1];
    fsy_test_tmp(bad, sizeof(bad), "bad");
    raw_exec(bad, "CREATE TABLE t(a);");
    fsy_test_tmp(good, sizeof(good), "good");
    fsy_replica *r = NULL;
    ASSERT_EQ(fsy_replica_new(&r), FSY_OK);
    ASSERT_EQ(fsy_replica_open(r, bad, NULL), FSY_ECORRUPT);
    /* Calls on the handle that is still not open are misuse, not crashes. */
    ASSERT_EQ(fsy_replica_insert(r, "customers", "{\"name\":\"a\",\"territory\":\"b\"}", id),
              FSY_EMISUSE);
    ASSERT_OK(r, fsy_replica_open(r, good, NULL));
    ASSERT_OK(r, fsy_replica_insert(r, "customers", "{\"name\":\"a\",\"territory\":\"b\"}", id));
    fsy_replica_free(r);
    fsy_test_rm(bad);
    fsy_test_rm(good);
}

static void test_replica__opening_an_open_handle_is_misuse(void)
{
    char path[512], other[512];
    fsy_replica *r = t_open(path, sizeof(path), "twice", NULL);
    fsy_test_tmp(other, sizeof(other), "twice-other");
    ASSERT_EQ(fsy_replica_open(r, other, NULL), FSY_EMISUSE);
    ASSERT_CONTAINS(fsy_replica_errmsg(r), "already open");
    /* The first file is still the one in use. */
    t_customer(r, "Still here", "north", NULL);
    fsy_replica_free(r);
    ASSERT_EQ(file_int(path, "SELECT count(*) FROM customers"), 1);
    fsy_test_rm(path);
    fsy_test_rm(other);
}

static void test_replica__a_path_that_cannot_be_created_is_an_error(void)
{
    char path[600], dir[512];
    fsy_test_tmp(dir, sizeof(dir), "nodir");
    snprintf(path, sizeof(path), "%s/no/such/dir/replica.db", dir);
    fsy_replica *r = NULL;
    ASSERT_EQ(fsy_replica_new(&r), FSY_OK);
    ASSERT_EQ(fsy_replica_open(r, path, NULL), FSY_ERROR);
    ASSERT_CONTAINS(fsy_replica_errmsg(r), "replica.db");
    ASSERT_TRUE(!fsy_error_is_transient(FSY_ERROR));
    fsy_replica_free(r);
}

static void test_replica__unknown_options_version_is_misuse(void)
{
    char path[512];
    fsy_test_tmp(path, sizeof(path), "optsver");
    fsy_replica_opts o = t_opts(NULL);
    o.version = 99;
    fsy_replica *r = NULL;
    ASSERT_EQ(fsy_replica_new(&r), FSY_OK);
    ASSERT_EQ(fsy_replica_open(r, path, &o), FSY_EMISUSE);
    ASSERT_CONTAINS(fsy_replica_errmsg(r), "version 99");
    t_close(r, path);
}

static void test_replica__migrating_from_version_1_loses_nothing(void)
{
    char path[512], cust[FSY_ID_LEN + 1], visit[FSY_ID_LEN + 1], json[256];
    static const char pull[] =
        "{\"schema\":1,\"upto\":40,\"changes\":[{\"q\":40,\"t\":\"customers\","
        "\"id\":\"0192f3a0-1111-7000-8000-000000000001\","
        "\"f\":{\"name\":\"Pulled AG\",\"territory\":\"north\",\"tier\":\"B\"}}]}";
    fsy_test_tmp(path, sizeof(path), "migrate");
    fsy_replica_opts o = t_opts(NULL);
    fsy_replica *r = NULL;
    ASSERT_EQ(fsy_replica_new(&r), FSY_OK);
    ASSERT_OK(r, fsy__replica_open_at(r, path, &o, 1));
    ASSERT_EQ(raw_int(r->db, "PRAGMA user_version"), 1);
    ASSERT_EQ(raw_int(r->db, "SELECT count(*) FROM sqlite_schema WHERE name = 'fsy_conflicts'"), 0);
    ASSERT_OK(r, fsy_replica_set_identity(r, T_DEVICE, T_USER));
    ASSERT_OK(r, fsy_replica_config_set(r, "server.url", "https://sync.example"));
    t_customer(r, "Old Customer", "north", cust);
    snprintf(json, sizeof(json), "{\"customer_id\":\"%s\",\"purpose\":\"Q4 listing\"}", cust);
    t_insert(r, "visits", json, visit);
    ASSERT_OK(r, t_pull(r, pull));
    /* A row written with plain SQL by the old version, as an old app would have. */
    ASSERT_EQ(sqlite3_exec(r->db,
                           "INSERT INTO notes(id, customer_id, author, body, info_level)"
                           " VALUES('0192f3a0-2222-7000-8000-000000000002',"
                           " '0192f3a0-1111-7000-8000-000000000001', 'bob', 'raw', 2)",
                           NULL, NULL, NULL),
              SQLITE_OK);
    char *before = t_snapshot_opt(r, false); /* version 1 has no conflict log */
    fsy_replica_free(r);

    r = t_reopen(path, NULL);
    ASSERT_EQ(raw_int(r->db, "PRAGMA user_version"), FSY_SCHEMA_VERSION);
    ASSERT_EQ(raw_int(r->db, "SELECT count(*) FROM sqlite_schema WHERE name = 'fsy_conflicts'"), 1);
    ASSERT_EQ(raw_int(r->db,
                      "SELECT count(*) FROM sqlite_schema WHERE name = 'customers_territory_name'"),
              1);
    char *after = t_snapshot_opt(r, false);
    ASSERT_STREQ(after, before);
    ASSERT_EQ(t_pending(r), 2);
    char *v = NULL;
    ASSERT_OK(r, fsy_replica_config_get(r, "server.url", &v));
    ASSERT_STREQ(v, "https://sync.example");
    fsy_free(v);
    ASSERT_OK(r, fsy_replica_config_get(r, "fsy.device_id", &v));
    ASSERT_STREQ(v, T_DEVICE);
    fsy_free(v);
    int64_t cursor = 0;
    ASSERT_OK(r, fsy_pull_cursor(r, &cursor));
    ASSERT_EQ(cursor, 40);
    /* The migrated replica works: the old pending changes push and acknowledge. */
    int64_t ver = 100;
    t_sync_all(r, &ver);
    ASSERT_EQ(t_array_size(r, fsy_query_conflicts), 0);
    free(before);
    free(after);
    t_close(r, path);
}

static void test_replica__settings_round_trip_and_delete(void)
{
    char path[512], *v = NULL;
    fsy_replica *r = t_open(path, sizeof(path), "config", NULL);
    ASSERT_EQ(fsy_replica_config_get(r, "server.url", &v), FSY_ENOTFOUND);
    ASSERT_TRUE(v == NULL);
    ASSERT_CONTAINS(fsy_replica_errmsg(r), "server.url");
    ASSERT_OK(r, fsy_replica_config_set(r, "server.url", "https://a.example"));
    ASSERT_OK(r, fsy_replica_config_set(r, "server.url", "https://b.example"));
    ASSERT_OK(r, fsy_replica_config_set(r, "empty", ""));
    ASSERT_OK(r, fsy_replica_config_get(r, "server.url", &v));
    ASSERT_STREQ(v, "https://b.example");
    fsy_free(v);
    ASSERT_OK(r, fsy_replica_config_get(r, "empty", &v));
    ASSERT_STREQ(v, "");
    fsy_free(v);
    fsy_replica_free(r);

    r = t_reopen(path, NULL);
    ASSERT_OK(r, fsy_replica_config_get(r, "server.url", &v));
    ASSERT_STREQ(v, "https://b.example");
    fsy_free(v);
    ASSERT_OK(r, fsy_replica_config_set(r, "server.url", NULL));
    ASSERT_EQ(fsy_replica_config_get(r, "server.url", &v), FSY_ENOTFOUND);
    /* Deleting what is not there is fine. */
    ASSERT_OK(r, fsy_replica_config_set(r, "server.url", NULL));
    t_close(r, path);
}

static void test_replica__reserved_and_oversized_settings_are_refused(void)
{
    char path[512], *v = NULL;
    fsy_replica *r = t_open(path, sizeof(path), "config-bad", NULL);
    ASSERT_EQ(fsy_replica_config_set(r, "fsy.device_id", "evil"), FSY_EINVAL);
    ASSERT_CONTAINS(fsy_replica_errmsg(r), "reserved");
    ASSERT_EQ(fsy_replica_config_set(r, "fsy.anything", "x"), FSY_EINVAL);
    ASSERT_EQ(fsy_replica_config_set(r, "fsy.user", NULL), FSY_EINVAL);
    ASSERT_EQ(fsy_replica_config_set(r, "", "x"), FSY_EINVAL);
    char key[102];
    memset(key, 'k', 101);
    key[101] = '\0';
    ASSERT_EQ(fsy_replica_config_set(r, key, "x"), FSY_EINVAL);
    key[100] = '\0';
    ASSERT_OK(r, fsy_replica_config_set(r, key, "x")); /* 100 bytes is the limit */
    char *big = malloc(65538);
    memset(big, 'v', 65537);
    big[65537] = '\0';
    ASSERT_EQ(fsy_replica_config_set(r, "big", big), FSY_EINVAL);
    big[65536] = '\0';
    ASSERT_OK(r, fsy_replica_config_set(r, "big", big));
    free(big);
    /* The identity was not touched by the refused writes. */
    ASSERT_OK(r, fsy_replica_config_get(r, "fsy.device_id", &v));
    ASSERT_STREQ(v, T_DEVICE);
    fsy_free(v);
    ASSERT_OK(r, fsy_replica_config_get(r, "fsy.user", &v));
    ASSERT_STREQ(v, T_USER);
    fsy_free(v);
    ASSERT_EQ(fsy_replica_config_get(r, "fsy.cursor", &v), FSY_ENOTFOUND);
    ASSERT_EQ(fsy_replica_config_get(r, "fsy.hlc", &v), FSY_ENOTFOUND);
    t_close(r, path);
}

static void test_replica__identity_is_validated_and_survives_reopen(void)
{
    char path[512], *v = NULL;
    fsy_test_tmp(path, sizeof(path), "identity");
    fsy_replica *r = t_reopen(path, NULL);
    ASSERT_EQ(fsy_replica_config_get(r, "fsy.device_id", &v), FSY_ENOTFOUND);
    ASSERT_CONTAINS(fsy_replica_errmsg(r), "not enrolled");
    ASSERT_EQ(fsy_replica_set_identity(r, "", T_USER), FSY_EINVAL);
    ASSERT_EQ(fsy_replica_set_identity(r, T_DEVICE, ""), FSY_EINVAL);
    char longid[80];
    memset(longid, 'd', 64);
    longid[64] = '\0';
    ASSERT_EQ(fsy_replica_set_identity(r, longid, T_USER), FSY_EINVAL);
    char longuser[102];
    memset(longuser, 'u', 101);
    longuser[101] = '\0';
    ASSERT_EQ(fsy_replica_set_identity(r, T_DEVICE, longuser), FSY_EINVAL);
    ASSERT_EQ(fsy_replica_config_get(r, "fsy.device_id", &v), FSY_ENOTFOUND);
    ASSERT_OK(r, fsy_replica_set_identity(r, T_DEVICE, "bob"));
    ASSERT_OK(r, fsy_replica_set_identity(r, T_DEVICE, T_USER)); /* re-enrolment replaces */
    fsy_replica_free(r);

    r = t_reopen(path, NULL);
    ASSERT_OK(r, fsy_replica_config_get(r, "fsy.user", &v));
    ASSERT_STREQ(v, T_USER);
    fsy_free(v);
    t_close(r, path);
}

static void test_replica__identity_fills_author_fields_of_new_rows(void)
{
    char path[512], cust[FSY_ID_LEN + 1], id[FSY_ID_LEN + 1], json[256], buf[64];
    fsy_test_tmp(path, sizeof(path), "author");
    fsy_replica *r = t_reopen(path, NULL);
    t_customer(r, "Kunde", "north", cust);
    /* Before enrolment nobody is known: a visit needs its rep spelled out. */
    snprintf(json, sizeof(json), "{\"customer_id\":\"%s\"}", cust);
    ASSERT_EQ(fsy_replica_insert(r, "visits", json, id), FSY_EINVAL);
    ASSERT_CONTAINS(fsy_replica_errmsg(r), "visits.rep");
    ASSERT_OK(r, fsy_replica_set_identity(r, T_DEVICE, T_USER));
    t_insert(r, "visits", json, id);
    ASSERT_STREQ(t_field(r, "visits", id, "rep", buf, sizeof(buf)), T_USER);
    ASSERT_STREQ(t_field(r, "visits", id, "status", buf, sizeof(buf)), "planned");
    snprintf(json, sizeof(json), "{\"customer_id\":\"%s\",\"body\":\"b\",\"info_level\":1}", cust);
    t_insert(r, "notes", json, id);
    ASSERT_STREQ(t_field(r, "notes", id, "author", buf, sizeof(buf)), T_USER);
    /* An explicit author is kept. */
    snprintf(json, sizeof(json),
             "{\"customer_id\":\"%s\",\"body\":\"b\",\"info_level\":1,\"author\":\"carol\"}", cust);
    t_insert(r, "notes", json, id);
    ASSERT_STREQ(t_field(r, "notes", id, "author", buf, sizeof(buf)), "carol");
    t_close(r, path);
}

static void test_replica__wipe_erases_data_and_identity_but_keeps_settings(void)
{
    char path[512], cust[FSY_ID_LEN + 1], *v = NULL;
    fsy_replica *r = t_open(path, sizeof(path), "wipe", NULL);
    ASSERT_OK(r, fsy_replica_config_set(r, "server.url", "https://s.example"));
    t_customer(r, "Synced", "north", cust);
    int64_t ver = 10;
    t_sync_all(r, &ver);
    t_customer(r, "Pending", "north", NULL);
    ASSERT_OK(r, t_pull(r, "{\"schema\":2,\"upto\":77,\"changes\":[]}"));

    ASSERT_OK(r, fsy_replica_wipe(r));
    ASSERT_EQ(t_pending(r), 0);
    ASSERT_TRUE(!t_exists(r, "customers", cust));
    char *rows = NULL;
    ASSERT_OK(r, fsy_replica_export(r, &rows));
    cJSON *doc = t_json(rows);
    const cJSON *tbl;
    cJSON_ArrayForEach(tbl, doc)
    {
        ASSERT_EQ(cJSON_GetArraySize(tbl), 0);
    }
    cJSON_Delete(doc);
    fsy_free(rows);
    int64_t cursor = -1;
    ASSERT_OK(r, fsy_pull_cursor(r, &cursor));
    ASSERT_EQ(cursor, 0);
    ASSERT_EQ(fsy_replica_config_get(r, "fsy.device_id", &v), FSY_ENOTFOUND);
    ASSERT_OK(r, fsy_replica_config_get(r, "server.url", &v));
    ASSERT_STREQ(v, "https://s.example");
    fsy_free(v);
    char *out = NULL;
    ASSERT_EQ(fsy_push_export(r, 0, 0, &out, NULL, NULL), FSY_EMISUSE);
    fsy_replica_free(r);
    /* Still wiped after reopening: nothing lingers in the file. */
    r = t_reopen(path, NULL);
    ASSERT_EQ(t_pending(r), 0);
    ASSERT_EQ(raw_int(r->db, "SELECT count(*) FROM fsy_confirmed"), 0);
    ASSERT_EQ(raw_int(r->db, "SELECT count(*) FROM fsy_journal"), 0);
    t_close(r, path);
}

static void test_replica__client_seq_keeps_rising_across_wipe_and_reopen(void)
{
    char path[512];
    fsy_replica *r = t_open(path, sizeof(path), "seq", NULL);
    t_customer(r, "One", "north", NULL);
    t_customer(r, "Two", "north", NULL);
    cJSON *b = t_export(r, NULL);
    double last = t_num(cJSON_GetArrayItem(t_item(b, "changes"), 1), "s");
    char *ack = t_ack_all(b, 5);
    ASSERT_OK(r, t_apply_ack(r, ack));
    cJSON_free(ack);
    cJSON_Delete(b);
    /* The journal is now empty; the next entry must still get a higher number. */
    fsy_replica_free(r);
    r = t_reopen(path, NULL);
    t_customer(r, "Three", "north", NULL);
    b = t_export(r, NULL);
    double next = t_num(cJSON_GetArrayItem(t_item(b, "changes"), 0), "s");
    ASSERT_TRUE(next > last);
    cJSON_Delete(b);

    ASSERT_OK(r, fsy_replica_wipe(r));
    ASSERT_OK(r, fsy_replica_set_identity(r, T_DEVICE, T_USER));
    t_customer(r, "Four", "north", NULL);
    b = t_export(r, NULL);
    ASSERT_TRUE(t_num(cJSON_GetArrayItem(t_item(b, "changes"), 0), "s") > next);
    cJSON_Delete(b);
    t_close(r, path);
}

static const fsy_unit_case cases[] = {
    FSY_CASE(replica, new_and_free_need_no_open),
    FSY_CASE(replica, reopen_keeps_rows_pending_changes_and_identity),
    FSY_CASE(replica, file_is_wal_and_synchronous_follows_the_option),
    FSY_CASE(replica, refuses_a_sqlite_file_that_is_not_a_replica),
    FSY_CASE(replica, refuses_a_file_that_is_not_sqlite),
    FSY_CASE(replica, refuses_a_replica_from_a_newer_schema),
    FSY_CASE(replica, a_failed_open_leaves_the_handle_usable),
    FSY_CASE(replica, opening_an_open_handle_is_misuse),
    FSY_CASE(replica, a_path_that_cannot_be_created_is_an_error),
    FSY_CASE(replica, unknown_options_version_is_misuse),
    FSY_CASE(replica, migrating_from_version_1_loses_nothing),
    FSY_CASE(replica, settings_round_trip_and_delete),
    FSY_CASE(replica, reserved_and_oversized_settings_are_refused),
    FSY_CASE(replica, identity_is_validated_and_survives_reopen),
    FSY_CASE(replica, identity_fills_author_fields_of_new_rows),
    FSY_CASE(replica, wipe_erases_data_and_identity_but_keeps_settings),
    FSY_CASE(replica, client_seq_keeps_rising_across_wipe_and_reopen),
};

int main(int argc, char **argv)
{
    return fsy_unit_main(argc, argv, cases, sizeof(cases) / sizeof(cases[0]));
}
