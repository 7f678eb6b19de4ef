/*
 * hlc_time_parse_fuzz.c — the syntax checks shared by the wire decoders and the
 * validation of every write (core/src/hlc.c, core/src/schema.c): fsy__hlc_parse,
 * fsy__is_time, fsy__is_date, fsy__is_uuid, and, when the input is a JSON object,
 * fsy__schema_check_fields for every table as create and as update.
 *
 * Invariants checked besides ASan/UBSan:
 *  - an HLC that parses formats back to the same 16 characters;
 *  - receiving a parsed clock moves ours forward, and never more than the allowed
 *    drag ahead of the wall clock (plus the counter);
 *  - accepted times, dates and ids have the documented shapes.
 */
#include "fuzz_support.h"
#include "hlc.h"
#include "schema.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    return 0;
}

static void check_text(const char *s)
{
    size_t n = strlen(s);
    int64_t h = 0;
    if (fsy__hlc_parse(s, &h)) {
        char back[FSY_HLC_TEXT_LEN + 1];
        FSY_FUZZ_CHECK(h >= 0);
        fsy__hlc_format(h, back);
        FSY_FUZZ_CHECK(strcmp(back, s) == 0);
        const int64_t drag = 5 * 60 * 1000;
        int64_t last = fsy__hlc_make(FSY_FUZZ_NOW_MS, 7);
        int64_t got = fsy__hlc_recv(last, h, FSY_FUZZ_NOW_MS, drag);
        FSY_FUZZ_CHECK(got > last);
        FSY_FUZZ_CHECK(fsy__hlc_ms(got) <= FSY_FUZZ_NOW_MS + drag);
        if (h < fsy__hlc_make(FSY_FUZZ_NOW_MS + drag, 0))
            FSY_FUZZ_CHECK(got > h);
        FSY_FUZZ_CHECK(fsy__hlc_next(got, FSY_FUZZ_NOW_MS) > got);
    }
    if (fsy__is_time(s)) {
        FSY_FUZZ_CHECK(n == 20 || n == 24);
        FSY_FUZZ_CHECK(s[n - 1] == 'Z' && s[10] == 'T');
        char day[11];
        memcpy(day, s, 10);
        day[10] = '\0';
        FSY_FUZZ_CHECK(fsy__is_date(day));
    }
    if (fsy__is_date(s))
        FSY_FUZZ_CHECK(n == 10 && s[4] == '-' && s[7] == '-');
    if (fsy__is_uuid(s))
        FSY_FUZZ_CHECK(n == 36 && s[8] == '-' && s[13] == '-');
}

static void check_json(const char *s, size_t len)
{
    cJSON *doc = cJSON_ParseWithLength(s, len);
    char err[256];
    if (cJSON_IsObject(doc)) {
        for (int i = 0; i < FSY_N_TABLES; i++) {
            const fsy_table *t = fsy__schema_table_at(i);
            FSY_FUZZ_CHECK(t != NULL);
            FSY_FUZZ_CHECK(fsy__schema_table(t->name) == t);
            for (int mode = 0; mode < 4; mode++) {
                err[0] = '\0';
                int rc = fsy__schema_check_fields(t, doc, mode & 1, mode & 2, err, sizeof(err));
                FSY_FUZZ_CHECK(rc == 0 || err[0] != '\0');
                FSY_FUZZ_CHECK(strlen(err) < sizeof(err));
            }
            const cJSON *item;
            cJSON_ArrayForEach(item, doc)
            {
                const fsy_field *f = item->string ? fsy__schema_field(t, item->string) : NULL;
                if (f) {
                    FSY_FUZZ_CHECK(fsy__schema_field_index(t, item->string) >= 0);
                    (void)fsy__schema_check(t, f, item, err, sizeof(err));
                }
                if (cJSON_IsString(item))
                    check_text(item->valuestring);
            }
        }
    }
    cJSON_Delete(doc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    FSY_FUZZ_CHECK(s != NULL);
    if (size)
        memcpy(s, data, size);
    s[size] = '\0';
    check_text(s);
    check_json(s, size);
    free(s);
    return 0;
}
