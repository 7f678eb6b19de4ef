/*
 * test_json_int.c — fsy_sync_int (syncd/sync/push.c), the integers that stored rows,
 * push results and pull pages print. Stores written before it hold cJSON's own
 * printing of the same numbers, and devices parse both: the text must be the same,
 * and code reading valuedouble must see the number.
 */
#include "sync/sync.h"

#include "tassert.h"

#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdlib.h>

/* Below 10^15 cJSON prints integers as plain digits too; from there on it may write
 * "1e+15" where fsy_sync_int writes the digits: the same number to any parser, and
 * far past any sequence number a store reaches. */
static const int64_t values[] = {0,
                                 1,
                                 -1,
                                 42,
                                 255,
                                 2147483647,
                                 2147483648LL,
                                 -2147483649LL,
                                 1795396426000LL,
                                 999999999999999LL,
                                 -999999999999999LL};
static const int64_t large[] = {1000000000000000LL, 9007199254740991LL, -9007199254740991LL};

#define N_VALUES (sizeof(values) / sizeof(values[0]))
#define N_ALL    (N_VALUES + sizeof(large) / sizeof(large[0]))

static void test_json_int__prints_as_cjson_numbers_do(void)
{
    for (size_t i = 0; i < N_VALUES; i++) {
        cJSON *a = cJSON_CreateObject(), *b = cJSON_CreateObject();
        cJSON_AddItemToObject(a, "q", fsy_sync_int(values[i]));
        cJSON_AddNumberToObject(b, "q", (double)values[i]);
        char *ta = cJSON_PrintUnformatted(a), *tb = cJSON_PrintUnformatted(b);
        int same = ta && tb && strcmp(ta, tb) == 0;
        if (!same)
            fprintf(stderr, "value %lld: %s != %s\n", (long long)values[i], ta, tb);
        free(ta);
        free(tb);
        cJSON_Delete(a);
        cJSON_Delete(b);
        T_CHECK(same);
    }
}

static void test_json_int__reads_back_as_the_number(void)
{
    for (size_t i = 0; i < N_ALL; i++) {
        int64_t v = i < N_VALUES ? values[i] : large[i - N_VALUES];
        cJSON *it = fsy_sync_int(v);
        T_CHECK(it != NULL);
        T_EQ_INT((int64_t)it->valuedouble, v);
        cJSON *arr = cJSON_CreateArray();
        cJSON_AddItemToArray(arr, it);
        char *txt = cJSON_PrintUnformatted(arr);
        cJSON *back = cJSON_Parse(txt);
        free(txt);
        int ok = cJSON_IsNumber(cJSON_GetArrayItem(back, 0)) &&
                 (int64_t)cJSON_GetArrayItem(back, 0)->valuedouble == v;
        cJSON_Delete(back);
        cJSON_Delete(arr);
        T_CHECK(ok);
    }
}

int main(void)
{
    T_RUN(test_json_int__prints_as_cjson_numbers_do);
    T_RUN(test_json_int__reads_back_as_the_number);
    return t_failed != 0;
}
