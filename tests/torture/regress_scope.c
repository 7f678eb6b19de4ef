/*
 * regress_scope.c — deterministic regressions for what the convergence torture
 * found in scope changes (tests/torture/README.md, docs/reliability.md).
 *
 * R1 (torture seed 8, skew mode): a rep's note of info_level 2 reached another
 *    rep of the territory; the supervisor moved the customer to the other
 *    territory, then the author raised the note to level 4. The move's scope
 *    entry judged the note with its current level (4: never visible to the
 *    other rep) and the level change judged it in the new territory, so the
 *    other rep never got "gone" and kept a row outside its scope (DESIGN §8.1,
 *    §8.4). Fixed in syncd/sync/pull.c scope_child.
 * R2 (torture seeds 11 and 12, once owner reassignments were added): a change of
 *    a customer's owner or a visit's rep changes who sees the row (own records),
 *    but only territory and info_level changes were logged as scope entries. The
 *    new owner received just the changed field (a partial row, other fields
 *    null) and the old one kept the row. Fixed in syncd/sync/push.c log_scope
 *    (the old owner is recorded) and pull.c (it is compared).
 * R3 (torture seed 401, skew mode, with the first fix of R1/R2): a customer
 *    moved into a rep's territory, then one of its visits was handed to another
 *    rep before that rep pulled. The move judged the visit with its new rep and
 *    found nothing to send; the rep then got only the changed field of the
 *    hand-over, a partial row. Fixed in pull.c scope_child: when a child's level
 *    or owner was written after the move, it is sent whole if visible now.
 */
#include "e2e_support.h"

static void sync_all(e2e_daemon *d, e2e_device *devs, int n)
{
    for (int i = 0; i < n; i++)
        e2e_sync(d, &devs[i]);
}

int main(int argc, char **argv)
{
    e2e_daemon *d = e2e_setup(argc, argv, "regress-scope");
    e2e_user(d, "sup", "supervisor", NULL);
    e2e_user(d, "rn1", "rep", "north");
    e2e_user(d, "rn2", "rep", "north");
    e2e_user(d, "rs1", "rep", "south");
    e2e_start(d);
    e2e_device dev[4];
    e2e_enroll(d, "sup", &dev[0]);
    e2e_enroll(d, "rn1", &dev[1]);
    e2e_enroll(d, "rn2", &dev[2]);
    e2e_enroll(d, "rs1", &dev[3]);

    char cust[37], note[37], f[256];
    e2e_insert(&dev[1], "customers", "{\"name\":\"Nord AG\",\"territory\":\"north\"}", cust);
    snprintf(f, sizeof(f), "{\"customer_id\":\"%s\",\"body\":\"from purchasing\",\"info_level\":2}",
             cust);
    e2e_insert(&dev[1], "notes", f, note);
    sync_all(d, dev, 4);
    cJSON *row = e2e_row(&dev[2], "notes", note);
    ASSERT_TRUE(row != NULL); /* rn2 has the note while it is level 2 in north */
    cJSON_Delete(row);

    /* The supervisor moves the customer south; before rn2 pulls, the author raises the
     * note to level 4 (the author still sees it: own records). */
    e2e_sync(d, &dev[0]);
    e2e_update(&dev[0], "customers", cust, "{\"territory\":\"south\"}");
    e2e_sync(d, &dev[0]);
    e2e_sync(d, &dev[1]);
    e2e_update(&dev[1], "notes", note, "{\"info_level\":4}");
    e2e_sync(d, &dev[1]);

    sync_all(d, dev, 4);
    ASSERT_TRUE(e2e_row(&dev[2], "customers", cust) == NULL);
    row = e2e_row(&dev[2], "notes", note);
    if (row)
        FSY_FAIL("R1: rn2 (north) still has the note of a customer now in the south");
    ASSERT_TRUE((row = e2e_row(&dev[1], "notes", note)) != NULL); /* the author keeps it */
    cJSON_Delete(row);
    ASSERT_TRUE((row = e2e_row(&dev[0], "notes", note)) != NULL); /* the supervisor too */
    cJSON_Delete(row);
    ASSERT_TRUE(e2e_row(&dev[3], "notes", note) == NULL); /* rs1: level 4, not the author */
    ASSERT_TRUE((row = e2e_row(&dev[3], "customers", cust)) != NULL);
    cJSON_Delete(row);

    /* R2: the supervisor makes rn2 (north) the owner of the south customer: rn2 gets the
     * whole row; then takes it back: rn2 gets gone. */
    e2e_update(&dev[0], "customers", cust, "{\"owner\":\"rn2\"}");
    e2e_sync(d, &dev[0]);
    e2e_sync(d, &dev[2]);
    char *name = e2e_field(&dev[2], "customers", cust, "name");
    if (!name || strcmp(name, "\"Nord AG\"") != 0)
        FSY_FAIL("R2: the customer's new owner got %s as its name", name ? name : "no row");
    free(name);
    name = e2e_field(&dev[2], "customers", cust, "territory");
    ASSERT_STREQ(name, "\"south\"");
    free(name);
    e2e_update(&dev[0], "customers", cust, "{\"owner\":\"rs1\"}");
    e2e_sync(d, &dev[0]);
    e2e_sync(d, &dev[2]);
    if (e2e_row(&dev[2], "customers", cust) != NULL)
        FSY_FAIL("R2: the customer's former owner still has it");

    /* R2: a visit under the south customer handed from rn1 to rn2 (both north). */
    char visit[37];
    snprintf(f, sizeof(f), "{\"customer_id\":\"%s\",\"purpose\":\"listing\",\"rep\":\"rn1\"}",
             cust);
    e2e_insert(&dev[0], "visits", f, visit);
    e2e_sync(d, &dev[0]);
    e2e_sync(d, &dev[1]);
    cJSON *v = e2e_row(&dev[1], "visits", visit);
    ASSERT_TRUE(v != NULL); /* rn1's own visit, in the south */
    cJSON_Delete(v);
    e2e_update(&dev[0], "visits", visit, "{\"rep\":\"rn2\"}");
    e2e_sync(d, &dev[0]);
    e2e_sync(d, &dev[1]);
    e2e_sync(d, &dev[2]);
    if (e2e_row(&dev[1], "visits", visit) != NULL)
        FSY_FAIL("R2: the visit's former rep still has it");
    char *purpose = e2e_field(&dev[2], "visits", visit, "purpose");
    if (!purpose || strcmp(purpose, "\"listing\"") != 0)
        FSY_FAIL("R2: the visit's new rep got %s as its purpose", purpose ? purpose : "no row");
    free(purpose);

    /* R3: a south customer with a visit of rs1 moves north; before rn2 pulls, the visit
     * is handed to rn1. rn2 must get the visit whole. */
    char cust3[37], visit3[37];
    e2e_insert(&dev[3], "customers", "{\"name\":\"Sued KG\",\"territory\":\"south\"}", cust3);
    snprintf(f, sizeof(f), "{\"customer_id\":\"%s\",\"purpose\":\"tasting\"}", cust3);
    e2e_insert(&dev[3], "visits", f, visit3);
    e2e_sync(d, &dev[3]);
    e2e_sync(d, &dev[2]);
    ASSERT_TRUE(e2e_row(&dev[2], "visits", visit3) == NULL);
    e2e_sync(d, &dev[0]);
    e2e_update(&dev[0], "customers", cust3, "{\"territory\":\"north\"}");
    e2e_sync(d, &dev[0]);
    e2e_update(&dev[0], "visits", visit3, "{\"rep\":\"rn1\"}");
    e2e_sync(d, &dev[0]);
    e2e_sync(d, &dev[2]);
    purpose = e2e_field(&dev[2], "visits", visit3, "purpose");
    if (!purpose || strcmp(purpose, "\"tasting\"") != 0)
        FSY_FAIL("R3: rn2 got %s as the purpose of the visit that entered its scope",
                 purpose ? purpose : "no row");
    free(purpose);
    purpose = e2e_field(&dev[2], "visits", visit3, "customer_id");
    ASSERT_TRUE(purpose && strstr(purpose, cust3));
    free(purpose);
    e2e_finish(d);
    return 0;
}
