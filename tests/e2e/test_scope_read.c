/*
 * test_scope_read.c — isolation (DESIGN §8.4): no device ever receives a row
 * outside its scope. fsy_sync_visible (syncd/sync/push.c) decides: a rep sees
 * rows of their territory and their own rows; a note of info_level 4 is
 * restricted to its author among reps (so alice's second tablet gets it, bob of
 * the same territory does not); supervisors see everything. Checked on the wire
 * (the ids never appear in a pull body) and on the replicas. A note whose level
 * changes leaves or enters a rep's scope on the next pull.
 */
#include "e2e_support.h"

typedef struct ids {
    char cust[37], visit[37], note2[37], note4[37];
    char secret[64]; /* the level-4 note's text */
} ids;

static void make_customer(e2e_device *dev, const char *territory, ids *out)
{
    char f[512];
    snprintf(f, sizeof(f), "{\"name\":\"Kunde %s\",\"territory\":\"%s\"}", territory, territory);
    e2e_insert(dev, "customers", f, out->cust);
    snprintf(f, sizeof(f), "{\"customer_id\":\"%s\",\"purpose\":\"visit in %s\"}", out->cust,
             territory);
    e2e_insert(dev, "visits", f, out->visit);
    snprintf(f, sizeof(f), "{\"customer_id\":\"%s\",\"body\":\"public\",\"info_level\":2}",
             out->cust);
    e2e_insert(dev, "notes", f, out->note2);
    snprintf(out->secret, sizeof(out->secret), "the %s CFO says budget doubles", territory);
    snprintf(f, sizeof(f), "{\"customer_id\":\"%s\",\"body\":\"%s\",\"info_level\":4}", out->cust,
             out->secret);
    e2e_insert(dev, "notes", f, out->note4);
}

static bool has(e2e_device *dev, const char *table, const char *id)
{
    cJSON *row = e2e_row(dev, table, id);
    cJSON_Delete(row);
    return row != NULL;
}

/* Whether any pulled change carries values of row id (a "gone" notice for a row
 * the device had does not). raw: pull bodies, one per line. */
static bool sent_values(const char *raw, const char *id)
{
    bool found = false;
    for (const char *line = raw; *line && !found;) {
        const char *nl = strchr(line, '\n');
        size_t n = nl ? (size_t)(nl - line) : strlen(line);
        cJSON *doc = cJSON_ParseWithLength(line, n);
        const cJSON *ch;
        cJSON_ArrayForEach(ch, cJSON_GetObjectItemCaseSensitive(doc, "changes"))
        {
            if (e2e_jstr(ch, "id") && strcmp(e2e_jstr(ch, "id"), id) == 0 &&
                !cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(ch, "gone")))
                found = true;
        }
        cJSON_Delete(doc);
        line += n + (nl ? 1 : 0);
    }
    return found;
}

/* Pull everything for dev; check which of the rows it has and that the ones it
 * must not have never crossed the wire. */
static void check(e2e_daemon *d, e2e_device *dev, const ids *x, bool cust, bool note2, bool note4)
{
    char *raw = NULL;
    e2e_pull(d, dev, &raw);
    struct {
        const char *table, *id;
        bool want;
    } rows[] = {{"customers", x->cust, cust},
                {"visits", x->visit, cust},
                {"notes", x->note2, note2},
                {"notes", x->note4, note4}};
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        if (has(dev, rows[i].table, rows[i].id) != rows[i].want)
            FSY_FAIL("%s (%s): %s %s should%s be on the replica", dev->user, dev->id, rows[i].table,
                     rows[i].id, rows[i].want ? "" : " not");
        if (!rows[i].want && sent_values(raw, rows[i].id))
            FSY_FAIL("%s: %s %s crossed the wire: %.400s", dev->user, rows[i].table, rows[i].id,
                     raw);
    }
    if (!note4 && strstr(raw, x->secret))
        FSY_FAIL("%s received the restricted note's text", dev->user);
    free(raw);
}

int main(int argc, char **argv)
{
    e2e_daemon *d = e2e_setup(argc, argv, "scope_read");
    e2e_user(d, "alice", "rep", "south");
    e2e_user(d, "bob", "rep", "south");
    e2e_user(d, "nora", "rep", "north");
    e2e_user(d, "sue", "supervisor", NULL);
    e2e_start(d);
    e2e_device a1, a2, b, n, u;
    e2e_enroll(d, "alice", &a1);
    e2e_enroll(d, "alice", &a2);
    e2e_enroll(d, "bob", &b);
    e2e_enroll(d, "nora", &n);
    e2e_enroll(d, "sue", &u);

    ids north, south;
    make_customer(&n, "north", &north);
    e2e_sync(d, &n);
    make_customer(&a1, "south", &south);
    e2e_sync(d, &a1);
    ASSERT_EQ(e2e_pending(&n), 0);
    ASSERT_EQ(e2e_pending(&a1), 0);

    /* Territory: nothing of north reaches the south reps, and the other way round. */
    check(d, &b, &north, false, false, false);
    check(d, &a2, &north, false, false, false);
    check(d, &n, &south, false, false, false);
    printf("ok   reps never receive customers of another territory or their visits and notes\n");

    /* info_level 4: only its author's devices among reps; supervisors see it. */
    check(d, &b, &south, true, true, false);
    check(d, &a2, &south, true, true, true);
    check(d, &a1, &south, true, true, true);
    check(d, &n, &north, true, true, true);
    check(d, &u, &south, true, true, true);
    check(d, &u, &north, true, true, true);
    printf("ok   a level-4 note reaches its author's second device and supervisors, not bob\n");

    /* alice raises her public note to level 4: it leaves bob's replica. */
    e2e_update(&a1, "notes", south.note2, "{\"info_level\":4}");
    e2e_sync(d, &a1);
    check(d, &b, &south, true, false, false);
    check(d, &a2, &south, true, true, true);
    /* ...and lowers the restricted one to 3: it reaches bob whole. */
    e2e_update(&a1, "notes", south.note4, "{\"info_level\":3}");
    e2e_sync(d, &a1);
    e2e_pull(d, &b, NULL);
    ASSERT_TRUE(has(&b, "notes", south.note4));
    ASSERT_TRUE(!has(&b, "notes", south.note2));
    char *body = e2e_field(&b, "notes", south.note4, "body");
    ASSERT_STREQ(body, "\"the south CFO says budget doubles\"");
    free(body);
    char *author = e2e_field(&b, "notes", south.note4, "author");
    ASSERT_STREQ(author, "\"alice\"");
    free(author);
    printf("ok   a note whose level changes leaves or enters bob's scope on his next pull\n");

    /* Still nothing of the other territory anywhere. */
    check(d, &b, &north, false, false, false);
    check(d, &n, &south, false, false, false);
    e2e_finish(d);
    return 0;
}
