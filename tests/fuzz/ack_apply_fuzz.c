/*
 * ack_apply_fuzz.c — fsy_push_apply_ack() on a real replica file (core/src/sync.c):
 * the device applying the server's acknowledgement of a push. The fuzz replica has
 * pending entries s=1..3 exported (frozen) and s=4 not yet exported. The input is up
 * to four acknowledgements separated by NUL bytes, applied in order to the replica reset to that
 * state; after each one the next push batch is exported.
 *
 * Invariants checked besides ASan/UBSan/LSan:
 *  - a refused acknowledgement changes nothing;
 *  - applying an accepted acknowledgement twice changes nothing;
 *  - the pending count never grows.
 */
#include "fuzz_replica.h"
#include "fuzz_support.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fsy_fuzz_sqlite_setup();
    (void)fsy_fuzz_replica_reset();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *parts[4];
    size_t lens[4];
    int n = fsy_fuzz_split(data, size, parts, lens, 4);
    fsy_replica *r = fsy_fuzz_replica_reset();
    int64_t pending = 0, now_pending = 0;
    FSY_FUZZ_CHECK(fsy_pending_count(r, &pending) == FSY_OK);

    /* The rows as they stand before each acknowledgement (exports do not change them). */
    char *before = fsy_fuzz_replica_template_dump();
    for (int i = 0; i < n; i++) {
        int rc = fsy_push_apply_ack(r, parts[i], lens[i]);
        if (getenv("FSY_FUZZ_VERBOSE"))
            fprintf(stderr, "ack part %d: rc %d %s\n", i, rc, fsy_replica_errmsg(r));
        char *after = fsy_fuzz_replica_dump(r);
        FSY_FUZZ_CHECK(fsy_pending_count(r, &now_pending) == FSY_OK);
        FSY_FUZZ_CHECK(now_pending <= pending);
        if (rc != FSY_OK) {
            FSY_FUZZ_CHECK(strcmp(before, after) == 0);
            FSY_FUZZ_CHECK(now_pending == pending);
        } else {
            FSY_FUZZ_CHECK(fsy_push_apply_ack(r, parts[i], lens[i]) == FSY_OK);
            char *again = fsy_fuzz_replica_dump(r);
            FSY_FUZZ_CHECK(strcmp(again, after) == 0);
            fsy_free(again);
        }
        pending = now_pending;
        fsy_free(before);
        before = after;
        char *batch = NULL;
        if (fsy_push_export(r, 0, 0, &batch, NULL, NULL) == FSY_OK)
            fsy_free(batch);
    }
    fsy_free(before);
    char *out = NULL;
    if (fsy_query_parked(r, &out) == FSY_OK)
        fsy_free(out);
    out = NULL;
    if (fsy_query_conflicts(r, &out) == FSY_OK)
        fsy_free(out);
    fsy_fuzz_free_parts(parts, n);
    return 0;
}
