/*
 * test_hlc.c — row ids and the hybrid logical clock (DESIGN §4 "Clock", §9 "Wall
 * clocks lie"): UUIDv7 layout and time order; the clock never runs backwards,
 * not when the wall clock does and not across a reopen; a received clock far in
 * the future drags ours at most max_clock_drag_ms. Observed through the public
 * API: the "h" of exported changes, with the wall clock injected (opts.now_ms).
 */
#include "unit_helpers.h"

#define T0     1714557600000 /* 2024-05-01T10:00:00.000Z */
#define MINUTE 60000

static int64_t hlc_of(const cJSON *change)
{
    const char *h = t_str(change, "h");
    ASSERT_EQ(strlen(h), 16);
    for (const char *p = h; *p; p++)
        ASSERT_TRUE((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f'));
    return strtoll(h, NULL, 16);
}

static int64_t ms_of(int64_t hlc)
{
    return hlc >> 16;
}

/* The clocks of all pending changes, in push order; returns how many. */
static int pending_clocks(fsy_replica *r, int64_t *out, int max)
{
    char *text = NULL;
    ASSERT_OK(r, fsy_push_export(r, max, 0, &text, NULL, NULL));
    if (!text)
        return 0;
    cJSON *b = t_json(text);
    int n = 0;
    const cJSON *ch;
    cJSON_ArrayForEach(ch, t_item(b, "changes"))
    {
        out[n++] = hlc_of(ch);
    }
    cJSON_Delete(b);
    fsy_free(text);
    return n;
}

/* The clock of one fresh local write (a new customer), read from the next push. */
static int64_t next_write_clock(fsy_replica *r)
{
    char id[FSY_ID_LEN + 1];
    t_customer(r, "Probe", "north", id);
    cJSON *b = t_export(r, NULL);
    int64_t h = hlc_of(t_change_for(b, id));
    cJSON_Delete(b);
    return h;
}

static void test_hlc__row_ids_are_lower_case_uuid_v7_carrying_the_wall_clock(void)
{
    char path[512], id[FSY_ID_LEN + 1];
    t_clock clock = {T0 + 42};
    fsy_replica_opts o = t_opts(&clock);
    fsy_replica *r = t_open(path, sizeof(path), "uuid", &o);
    for (int i = 0; i < 50; i++) {
        t_customer(r, "U", "north", id);
        ASSERT_EQ(strlen(id), 36);
        for (int k = 0; k < 36; k++) {
            char c = id[k];
            if (k == 8 || k == 13 || k == 18 || k == 23)
                ASSERT_EQ(c, '-');
            else
                ASSERT_TRUE((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'));
        }
        ASSERT_EQ(id[14], '7');                      /* version 7 */
        ASSERT_TRUE(strchr("89ab", id[19]) != NULL); /* RFC 9562 variant */
        char prefix[13];
        memcpy(prefix, id, 8);
        memcpy(prefix + 8, id + 9, 4);
        prefix[12] = '\0';
        ASSERT_EQ(strtoll(prefix, NULL, 16), T0 + 42);
    }
    t_close(r, path);
}

static void test_hlc__row_ids_are_unique_and_sort_by_creation_time(void)
{
    enum { N = 300 };
    char path[512];
    static char ids[N][FSY_ID_LEN + 1];
    t_clock clock = {T0};
    fsy_replica_opts o = t_opts(&clock);
    fsy_replica *r = t_open(path, sizeof(path), "uuid-order", &o);
    for (int i = 0; i < N; i++) {
        if (i % 3 == 0)
            clock.ms += 1; /* three ids per millisecond */
        t_customer(r, "U", "north", ids[i]);
    }
    for (int i = 1; i < N; i++) {
        /* The 48-bit time prefix never decreases while the clock rises... */
        ASSERT_TRUE(strncmp(ids[i - 1], ids[i], 13) <= 0);
        /* ...and ids made in different milliseconds sort by time. */
        if (i % 3 == 0)
            ASSERT_TRUE(strcmp(ids[i - 1], ids[i]) < 0);
        for (int j = 0; j < i; j++)
            ASSERT_TRUE(strcmp(ids[j], ids[i]) != 0);
    }
    t_close(r, path);
}

static void test_hlc__clock_never_goes_backwards_when_the_wall_clock_does(void)
{
    enum { N = 40 };
    char path[512];
    int64_t h[N];
    t_clock clock = {T0};
    fsy_replica_opts o = t_opts(&clock);
    fsy_replica *r = t_open(path, sizeof(path), "backwards", &o);
    for (int i = 0; i < N; i++) {
        /* Forward, then an hour back (NTP correction), then stuck, then forward. */
        if (i == 10)
            clock.ms -= 60 * MINUTE;
        else if (i > 10 && i < 25)
            clock.ms += 0;
        else
            clock.ms += 7;
        t_customer(r, "C", "north", NULL);
    }
    ASSERT_EQ(pending_clocks(r, h, N), N);
    for (int i = 1; i < N; i++)
        if (h[i] <= h[i - 1])
            FSY_FAIL("change %d has clock %llx, not after %llx", i, (unsigned long long)h[i],
                     (unsigned long long)h[i - 1]);
    /* Physical part: the wall clock while it rises, held (counter ticks) after the jump. */
    ASSERT_EQ(ms_of(h[0]), T0 + 7);
    ASSERT_EQ(ms_of(h[9]), T0 + 70);
    ASSERT_EQ(ms_of(h[10]), T0 + 70);
    ASSERT_EQ(h[10], h[9] + 1);
    t_close(r, path);
}

static void test_hlc__clock_survives_reopen_even_when_the_journal_is_empty(void)
{
    char path[512];
    t_clock clock = {T0};
    fsy_replica_opts o = t_opts(&clock);
    fsy_replica *r = t_open(path, sizeof(path), "hlc-reopen", &o);
    for (int i = 0; i < 5; i++)
        t_customer(r, "C", "north", NULL);
    int64_t h[8];
    ASSERT_EQ(pending_clocks(r, h, 8), 5);
    int64_t last = h[4];
    fsy_replica_free(r);

    /* Reopened with the wall clock ten minutes behind: pending entries carry the clock. */
    clock.ms = T0 - 10 * MINUTE;
    r = t_reopen(path, &o);
    int64_t next = next_write_clock(r);
    ASSERT_TRUE(next > last);
    int64_t v = 1;
    t_sync_all(r, &v); /* the journal is now empty */
    fsy_replica_free(r);

    clock.ms = T0 - 20 * MINUTE;
    r = t_reopen(path, &o);
    ASSERT_TRUE(next_write_clock(r) > next);
    t_close(r, path);
}

static void test_hlc__a_far_future_clock_drags_ours_at_most_max_drag(void)
{
    char path[512], pull[256];
    t_clock clock = {T0};
    fsy_replica_opts o = t_opts(&clock);
    o.max_clock_drag_ms = 2 * MINUTE;
    fsy_replica *r = t_open(path, sizeof(path), "drag", &o);
    int64_t before = next_write_clock(r);
    ASSERT_EQ(ms_of(before), T0);

    /* A server (or another device's change) a day ahead. */
    int64_t far = (int64_t)(T0 + 24 * 60 * MINUTE) << 16;
    snprintf(pull, sizeof(pull), "{\"schema\":2,\"upto\":1,\"hlc\":\"%016llx\",\"changes\":[]}",
             (unsigned long long)far);
    ASSERT_OK(r, t_pull(r, pull));
    int64_t after = next_write_clock(r);
    ASSERT_TRUE(after > before);
    ASSERT_TRUE(ms_of(after) <= T0 + 2 * MINUTE);
    ASSERT_TRUE(ms_of(after) >= T0 + 2 * MINUTE - 1);

    /* The same through a pulled change's own clock and an acknowledgement's. */
    snprintf(pull, sizeof(pull),
             "{\"schema\":2,\"upto\":2,\"changes\":[{\"q\":2,\"t\":\"customers\","
             "\"id\":\"0192f3a0-1111-7000-8000-000000000001\",\"h\":\"%016llx\","
             "\"f\":{\"name\":\"N\",\"territory\":\"north\"}}]}",
             (unsigned long long)(far + 5));
    clock.ms += MINUTE;
    ASSERT_OK(r, t_pull(r, pull));
    int64_t h2 = next_write_clock(r);
    ASSERT_TRUE(h2 > after);
    ASSERT_TRUE(ms_of(h2) <= clock.ms + 2 * MINUTE);

    cJSON *b = t_export(r, NULL);
    char ack[512];
    snprintf(ack, sizeof(ack), "{\"schema\":2,\"hlc\":\"%016llx\",\"results\":[]}",
             (unsigned long long)far);
    ASSERT_OK(r, t_apply_ack(r, ack));
    cJSON_Delete(b);
    clock.ms += MINUTE;
    int64_t h3 = next_write_clock(r);
    ASSERT_TRUE(h3 > h2);
    ASSERT_TRUE(ms_of(h3) <= clock.ms + 2 * MINUTE);
    t_close(r, path);
}

static void test_hlc__a_clock_slightly_ahead_is_adopted(void)
{
    char path[512], pull[256];
    t_clock clock = {T0};
    fsy_replica_opts o = t_opts(&clock); /* default drag: 5 minutes */
    fsy_replica *r = t_open(path, sizeof(path), "adopt", &o);
    int64_t ahead = (int64_t)(T0 + 4 * MINUTE) << 16 | 9;
    snprintf(pull, sizeof(pull), "{\"schema\":2,\"upto\":1,\"hlc\":\"%016llx\",\"changes\":[]}",
             (unsigned long long)ahead);
    ASSERT_OK(r, t_pull(r, pull));
    /* Events after a received clock are ordered after it. */
    ASSERT_TRUE(next_write_clock(r) > ahead);
    /* It is remembered across a reopen. */
    fsy_replica_free(r);
    r = t_reopen(path, &o);
    ASSERT_TRUE(next_write_clock(r) > ahead);
    t_close(r, path);
}

static void test_hlc__a_malformed_clock_in_a_batch_is_refused(void)
{
    static const char *const bad[] = {"0192f3a1c000000",  "0192F3A1C0000000", "0192f3a1c00000000",
                                      "zz92f3a1c0000000", "8000000000000000", ""};
    char path[512], doc[256];
    fsy_replica *r = t_open(path, sizeof(path), "badclock", NULL);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(doc, sizeof(doc), "{\"schema\":2,\"upto\":1,\"hlc\":\"%s\",\"changes\":[]}",
                 bad[i]);
        ASSERT_EQ(t_pull(r, doc), FSY_EINVAL);
        ASSERT_CONTAINS(fsy_replica_errmsg(r), "hlc");
        snprintf(doc, sizeof(doc), "{\"schema\":2,\"hlc\":\"%s\",\"results\":[]}", bad[i]);
        ASSERT_EQ(t_apply_ack(r, doc), FSY_EINVAL);
    }
    ASSERT_EQ(t_pull(r, "{\"schema\":2,\"upto\":1,\"hlc\":12345,\"changes\":[]}"), FSY_EINVAL);
    int64_t cursor = -1;
    ASSERT_OK(r, fsy_pull_cursor(r, &cursor));
    ASSERT_EQ(cursor, 0);
    t_close(r, path);
}

static const fsy_unit_case cases[] = {
    FSY_CASE(hlc, row_ids_are_lower_case_uuid_v7_carrying_the_wall_clock),
    FSY_CASE(hlc, row_ids_are_unique_and_sort_by_creation_time),
    FSY_CASE(hlc, clock_never_goes_backwards_when_the_wall_clock_does),
    FSY_CASE(hlc, clock_survives_reopen_even_when_the_journal_is_empty),
    FSY_CASE(hlc, a_far_future_clock_drags_ours_at_most_max_drag),
    FSY_CASE(hlc, a_clock_slightly_ahead_is_adopted),
    FSY_CASE(hlc, a_malformed_clock_in_a_batch_is_refused),
};

int main(int argc, char **argv)
{
    return fsy_unit_main(argc, argv, cases, sizeof(cases) / sizeof(cases[0]));
}
