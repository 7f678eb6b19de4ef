/*
 * test_two_handles.c — two handles on one replica file, as on a tablet where the
 * app writes while the sync agent pushes (or the CLI next to `fieldsync agent`).
 * Regression: the agent's handle kept next_seq in memory from when it opened; after
 * it acknowledged a change the app's handle had just written, it saved a stale
 * client_seq floor, and the app's next write reused a client_seq the server had
 * already applied (the server then refused it as seq_reused and sync stopped).
 */
#include "fieldsync.h"
#include "fsy_test.h"

#include <cjson/cJSON.h>

static int64_t max_seq(const char *batch)
{
    cJSON *d = cJSON_Parse(batch), *c;
    int64_t m = 0;
    cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(d, "changes"))
    {
        int64_t s = (int64_t)cJSON_GetObjectItemCaseSensitive(c, "s")->valuedouble;
        if (s > m)
            m = s;
    }
    cJSON_Delete(d);
    return m;
}

/* Acknowledge every change of a batch as applied at versions 1000+s. */
static char *ack_all(const char *batch)
{
    cJSON *d = cJSON_Parse(batch), *c, *ack = cJSON_CreateObject();
    cJSON *res = cJSON_AddArrayToObject(ack, "results");
    cJSON_AddNumberToObject(ack, "schema", 2);
    cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(d, "changes"))
    {
        double s = cJSON_GetObjectItemCaseSensitive(c, "s")->valuedouble;
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "s", s);
        cJSON_AddTrueToObject(o, "ok");
        cJSON_AddNumberToObject(o, "v", 1000 + s);
        cJSON_AddItemToArray(res, o);
    }
    char *out = cJSON_PrintUnformatted(ack);
    cJSON_Delete(ack);
    cJSON_Delete(d);
    return out;
}

int main(void)
{
    char path[256], id[FSY_ID_LEN + 1];
    fsy_replica *app = NULL, *agent = NULL;
    fsy_test_tmp(path, sizeof(path), "twohandles");
    ASSERT_OK(NULL, fsy_replica_new(&app));
    ASSERT_OK(app, fsy_replica_open(app, path, NULL));
    ASSERT_OK(app, fsy_replica_set_identity(app, "dev-1", "alice"));
    ASSERT_OK(app,
              fsy_replica_insert(app, "customers", "{\"name\":\"A\",\"territory\":\"s\"}", id));

    ASSERT_OK(NULL, fsy_replica_new(&agent));
    ASSERT_OK(agent, fsy_replica_open(agent, path, NULL));

    int64_t highest_sent = 0;
    for (int round = 0; round < 5; round++) {
        /* The app writes after the agent opened... */
        ASSERT_OK(app,
                  fsy_replica_insert(app, "customers", "{\"name\":\"B\",\"territory\":\"s\"}", id));
        /* ...and the agent pushes everything, including that write. */
        char *batch = NULL;
        ASSERT_OK(agent, fsy_push_export(agent, 0, 0, &batch, NULL, NULL));
        ASSERT_TRUE(batch);
        int64_t m = max_seq(batch);
        cJSON *d = cJSON_Parse(batch), *c;
        cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(d, "changes"))
        {
            int64_t s = (int64_t)cJSON_GetObjectItemCaseSensitive(c, "s")->valuedouble;
            if (s <= highest_sent)
                FSY_FAIL("client_seq %lld reused after it was sent and acknowledged", (long long)s);
        }
        cJSON_Delete(d);
        highest_sent = m;
        char *ack = ack_all(batch);
        ASSERT_OK(agent, fsy_push_apply_ack(agent, ack, strlen(ack)));
        free(ack);
        fsy_free(batch);
        int64_t pending = -1;
        ASSERT_OK(app, fsy_pending_count(app, &pending));
        ASSERT_EQ(pending, 0); /* the app's handle sees the agent's work */
    }
    fsy_replica_free(agent);
    fsy_replica_free(app);
    fsy_test_rm(path);
    return 0;
}
