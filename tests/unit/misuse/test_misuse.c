/*
 * test_misuse.c — caller mistakes and error reporting (STYLE §2, §3): NULL
 * handles and outputs and calls on a handle that is not open return
 * FSY_EMISUSE and never crash; return codes keep their numbers and names; a
 * locked database is FSY_EBUSY, which is the one transient code.
 */
#include "unit_helpers.h"

#include <sqlite3.h>

#define ID "0192f3a0-0000-7000-8000-0000000000ff"

/* Every call that takes a replica, made on `r` (NULL or not open). */
static void expect_misuse_everywhere(fsy_replica *r)
{
    char id[FSY_ID_LEN + 1], *out = NULL;
    size_t len = 0;
    int n = 0;
    int64_t v = 0;
    bool more = false;
    static const char pull[] = "{\"schema\":2,\"upto\":1,\"changes\":[]}";
    static const char ack[] = "{\"schema\":2,\"results\":[]}";

    ASSERT_EQ(fsy_replica_set_identity(r, "d", "u"), FSY_EMISUSE);
    ASSERT_EQ(fsy_replica_config_set(r, "k", "v"), FSY_EMISUSE);
    ASSERT_EQ(fsy_replica_config_get(r, "k", &out), FSY_EMISUSE);
    ASSERT_EQ(fsy_replica_insert(r, "customers", "{\"name\":\"n\",\"territory\":\"t\"}", id),
              FSY_EMISUSE);
    ASSERT_EQ(fsy_replica_update(r, "customers", ID, "{\"tier\":\"A\"}"), FSY_EMISUSE);
    ASSERT_EQ(fsy_replica_delete(r, "customers", ID), FSY_EMISUSE);
    ASSERT_EQ(fsy_replica_get(r, "customers", ID, &out), FSY_EMISUSE);
    ASSERT_EQ(fsy_visit_check_in(r, ID, 1, 1), FSY_EMISUSE);
    ASSERT_EQ(fsy_visit_check_out(r, ID, 1, 1, NULL), FSY_EMISUSE);
    ASSERT_EQ(fsy_query_customers(r, NULL, NULL, 0, 0, &out), FSY_EMISUSE);
    ASSERT_EQ(fsy_query_contacts(r, ID, &out), FSY_EMISUSE);
    ASSERT_EQ(fsy_query_visits(r, NULL, NULL, NULL, 0, 0, &out), FSY_EMISUSE);
    ASSERT_EQ(fsy_query_notes(r, ID, &out), FSY_EMISUSE);
    ASSERT_EQ(fsy_query_reviews(r, ID, &out), FSY_EMISUSE);
    ASSERT_EQ(fsy_pending_count(r, &v), FSY_EMISUSE);
    ASSERT_EQ(fsy_sync_status(r, &out), FSY_EMISUSE);
    ASSERT_EQ(fsy_sync_record(r, true, NULL), FSY_EMISUSE);
    ASSERT_EQ(fsy_query_conflicts(r, &out), FSY_EMISUSE);
    ASSERT_EQ(fsy_query_parked(r, &out), FSY_EMISUSE);
    ASSERT_EQ(fsy_parked_retry(r, 1), FSY_EMISUSE);
    ASSERT_EQ(fsy_parked_discard(r, 1), FSY_EMISUSE);
    ASSERT_EQ(fsy_push_export(r, 0, 0, &out, &len, &n), FSY_EMISUSE);
    ASSERT_EQ(fsy_push_apply_ack(r, ack, strlen(ack)), FSY_EMISUSE);
    ASSERT_EQ(fsy_pull_cursor(r, &v), FSY_EMISUSE);
    ASSERT_EQ(fsy_pull_apply(r, pull, strlen(pull), &more), FSY_EMISUSE);
    ASSERT_EQ(fsy_replica_export(r, &out), FSY_EMISUSE);
    ASSERT_EQ(fsy_replica_wipe(r), FSY_EMISUSE);
    ASSERT_TRUE(out == NULL);
    ASSERT_TRUE(fsy_replica_errmsg(r) != NULL);
}

static void test_misuse__a_null_handle_is_misuse_for_every_call(void)
{
    expect_misuse_everywhere(NULL);
    ASSERT_EQ(fsy_replica_open(NULL, "/tmp/x.db", NULL), FSY_EMISUSE);
    ASSERT_EQ(fsy_replica_new(NULL), FSY_EMISUSE);
    ASSERT_TRUE(fsy_replica_errmsg(NULL)[0] != '\0');
    fsy_replica_free(NULL);
    fsy_free(NULL);
}

static void test_misuse__calls_on_a_handle_that_is_not_open_are_misuse(void)
{
    fsy_replica *r = NULL;
    ASSERT_EQ(fsy_replica_new(&r), FSY_OK);
    expect_misuse_everywhere(r);
    ASSERT_EQ(fsy_replica_open(r, NULL, NULL), FSY_EMISUSE);
    fsy_replica_free(r);
}

static void test_misuse__null_outputs_and_strings_are_refused(void)
{
    char path[512];
    fsy_replica *r = t_open(path, sizeof(path), "nullout", NULL);
    ASSERT_EQ(fsy_replica_set_identity(r, NULL, "u"), FSY_EMISUSE);
    ASSERT_EQ(fsy_replica_set_identity(r, "d", NULL), FSY_EMISUSE);
    ASSERT_EQ(fsy_replica_config_set(r, NULL, "v"), FSY_EMISUSE);
    ASSERT_EQ(fsy_replica_config_get(r, "k", NULL), FSY_EMISUSE);
    ASSERT_EQ(fsy_replica_config_get(r, NULL, NULL), FSY_EMISUSE);
    ASSERT_EQ(fsy_replica_get(r, "customers", ID, NULL), FSY_EMISUSE);
    ASSERT_EQ(fsy_query_customers(r, NULL, NULL, 0, 0, NULL), FSY_EMISUSE);
    ASSERT_EQ(fsy_query_contacts(r, ID, NULL), FSY_EMISUSE);
    ASSERT_EQ(fsy_query_visits(r, NULL, NULL, NULL, 0, 0, NULL), FSY_EMISUSE);
    ASSERT_EQ(fsy_query_notes(r, ID, NULL), FSY_EMISUSE);
    ASSERT_EQ(fsy_query_reviews(r, ID, NULL), FSY_EMISUSE);
    ASSERT_EQ(fsy_pending_count(r, NULL), FSY_EMISUSE);
    ASSERT_EQ(fsy_sync_status(r, NULL), FSY_EMISUSE);
    ASSERT_EQ(fsy_query_conflicts(r, NULL), FSY_EMISUSE);
    ASSERT_EQ(fsy_query_parked(r, NULL), FSY_EMISUSE);
    ASSERT_EQ(fsy_push_export(r, 0, 0, NULL, NULL, NULL), FSY_EMISUSE);
    ASSERT_EQ(fsy_pull_cursor(r, NULL), FSY_EMISUSE);
    ASSERT_EQ(fsy_replica_export(r, NULL), FSY_EMISUSE);
    /* The replica is untouched and still works. */
    t_customer(r, "Fine", "north", NULL);
    ASSERT_EQ(t_pending(r), 1);
    t_close(r, path);
}

static void test_misuse__every_code_has_a_stable_number_and_its_own_name(void)
{
    static const int codes[] = {FSY_OK,      FSY_ERROR, FSY_EINVAL,   FSY_ENOTFOUND, FSY_ESCHEMA,
                                FSY_ETOOBIG, FSY_EBUSY, FSY_ECORRUPT, FSY_ENOMEM,    FSY_EMISUSE};
    /* The wire protocol and the apps depend on these numbers. */
    for (int i = 0; i < 10; i++)
        ASSERT_EQ(codes[i], -i);
    ASSERT_STREQ(fsy_strerror(FSY_OK), "ok");
    ASSERT_STREQ(fsy_strerror(FSY_EBUSY), "database busy");
    for (int i = 0; i < 10; i++) {
        const char *s = fsy_strerror(codes[i]);
        ASSERT_TRUE(s != NULL && s[0] != '\0');
        ASSERT_TRUE(strcmp(s, fsy_strerror(-100)) != 0);
        for (int j = 0; j < i; j++)
            ASSERT_TRUE(strcmp(s, fsy_strerror(codes[j])) != 0);
    }
    ASSERT_STREQ(fsy_strerror(-10), "unknown error code");
    ASSERT_STREQ(fsy_strerror(1), "unknown error code");
}

static void test_misuse__only_a_busy_database_is_worth_retrying(void)
{
    for (int code = 0; code >= -12; code--)
        ASSERT_EQ(fsy_error_is_transient(code), code == FSY_EBUSY);
}

static void test_misuse__version_string_matches_the_version_number(void)
{
    char expect[32];
    snprintf(expect, sizeof(expect), "%d.%d.%d", FSY_VERSION_NUMBER / 10000,
             FSY_VERSION_NUMBER / 100 % 100, FSY_VERSION_NUMBER % 100);
    ASSERT_STREQ(fsy_version(), expect);
    ASSERT_EQ(FSY_ID_LEN, 36);
}

static void test_misuse__a_locked_database_is_busy_and_changes_nothing(void)
{
    char path[512], id[FSY_ID_LEN + 1];
    fsy_replica_opts o = t_opts(NULL);
    o.busy_timeout_ms = 50;
    fsy_test_tmp(path, sizeof(path), "busy");
    fsy_replica *r = t_reopen(path, &o);
    ASSERT_OK(r, fsy_replica_set_identity(r, T_DEVICE, T_USER));
    t_customer(r, "Vorher", "north", id);
    char *before = t_snapshot(r);

    /* Another connection (another thread or process) holds the write lock. */
    sqlite3 *other = NULL;
    ASSERT_EQ(sqlite3_open(path, &other), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
    int rc = fsy_replica_insert(r, "customers", "{\"name\":\"n\",\"territory\":\"t\"}", NULL);
    ASSERT_EQ(rc, FSY_EBUSY);
    ASSERT_TRUE(fsy_error_is_transient(rc));
    ASSERT_TRUE(fsy_replica_errmsg(r)[0] != '\0');
    ASSERT_EQ(fsy_replica_update(r, "customers", id, "{\"tier\":\"A\"}"), FSY_EBUSY);
    static const char pull[] = "{\"schema\":2,\"upto\":3,\"changes\":[]}";
    ASSERT_EQ(fsy_pull_apply(r, pull, strlen(pull), NULL), FSY_EBUSY);
    /* Reading is not blocked by a writer (WAL). */
    char *after = t_snapshot(r);
    ASSERT_STREQ(after, before);
    ASSERT_EQ(sqlite3_exec(other, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(other);

    /* Retrying later succeeds. */
    ASSERT_OK(r, fsy_replica_update(r, "customers", id, "{\"tier\":\"A\"}"));
    free(before);
    free(after);
    t_close(r, path);
}

static void test_misuse__two_handles_on_one_file_see_each_others_writes(void)
{
    char path[512], id[FSY_ID_LEN + 1];
    fsy_replica *a = t_open(path, sizeof(path), "twohandles", NULL);
    fsy_replica *b = t_reopen(path, NULL);
    t_customer(a, "Von A", "north", id);
    char buf[64];
    ASSERT_STREQ(t_field(b, "customers", id, "name", buf, sizeof(buf)), "Von A");
    fsy_replica_free(b);
    t_close(a, path);
}

static void test_misuse__the_message_names_the_last_failure_and_clears_on_success(void)
{
    char path[512];
    fsy_replica *r = t_open(path, sizeof(path), "errmsg", NULL);
    ASSERT_STREQ(fsy_replica_errmsg(r), "");
    ASSERT_EQ(fsy_replica_update(r, "customers", ID, "{\"tier\":\"A\"}"), FSY_ENOTFOUND);
    ASSERT_CONTAINS(fsy_replica_errmsg(r), "customers");
    ASSERT_CONTAINS(fsy_replica_errmsg(r), ID);
    /* One line, fit for a status bar. */
    ASSERT_TRUE(strchr(fsy_replica_errmsg(r), '\n') == NULL);
    t_customer(r, "Ok", "north", NULL);
    ASSERT_STREQ(fsy_replica_errmsg(r), "");
    t_close(r, path);
}

static const fsy_unit_case cases[] = {
    FSY_CASE(misuse, a_null_handle_is_misuse_for_every_call),
    FSY_CASE(misuse, calls_on_a_handle_that_is_not_open_are_misuse),
    FSY_CASE(misuse, null_outputs_and_strings_are_refused),
    FSY_CASE(misuse, every_code_has_a_stable_number_and_its_own_name),
    FSY_CASE(misuse, only_a_busy_database_is_worth_retrying),
    FSY_CASE(misuse, version_string_matches_the_version_number),
    FSY_CASE(misuse, a_locked_database_is_busy_and_changes_nothing),
    FSY_CASE(misuse, two_handles_on_one_file_see_each_others_writes),
    FSY_CASE(misuse, the_message_names_the_last_failure_and_clears_on_success),
};

int main(int argc, char **argv)
{
    return fsy_unit_main(argc, argv, cases, sizeof(cases) / sizeof(cases[0]));
}
