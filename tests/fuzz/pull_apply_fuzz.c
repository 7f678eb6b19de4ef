/*
 * pull_apply_fuzz.c — fsy_pull_apply() on a real replica file (core/src/sync.c):
 * the device decoding and applying what a server, or anyone on the path, sends.
 * The input is up to four pull batches separated by NUL bytes, applied in order
 * to the fuzz replica reset to its template state (fuzz_replica.c).
 *
 * Invariants checked besides ASan/UBSan/LSan:
 *  - a batch that is refused changes nothing (docs/protocol.md, "Errors");
 *  - applying an accepted batch a second time is a no-op;
 *  - the pull cursor never moves backwards.
 */
#include "fuzz_replica.h"
#include "fuzz_support.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fsy_fuzz_sqlite_setup();
    (void)fsy_fuzz_replica_reset(); /* builds the template outside the timing */
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *parts[4];
    size_t lens[4];
    int n = fsy_fuzz_split(data, size, parts, lens, 4);
    fsy_replica *r = fsy_fuzz_replica_reset();
    int64_t cursor = 0, after = 0;
    FSY_FUZZ_CHECK(fsy_pull_cursor(r, &cursor) == FSY_OK);

    /* The rows as they stand before each batch: the template's, then each batch's result. */
    char *before = fsy_fuzz_replica_template_dump();
    for (int i = 0; i < n; i++) {
        bool more = false;
        int rc = fsy_pull_apply(r, parts[i], lens[i], &more);
        if (getenv("FSY_FUZZ_VERBOSE"))
            fprintf(stderr, "pull part %d: rc %d %s\n", i, rc, fsy_replica_errmsg(r));
        char *after_dump = fsy_fuzz_replica_dump(r);
        FSY_FUZZ_CHECK(fsy_pull_cursor(r, &after) == FSY_OK);
        FSY_FUZZ_CHECK(after >= cursor);
        if (rc != FSY_OK) {
            FSY_FUZZ_CHECK(strcmp(before, after_dump) == 0);
            FSY_FUZZ_CHECK(after == cursor);
        } else {
            /* Same batch again: nothing moves. */
            FSY_FUZZ_CHECK(fsy_pull_apply(r, parts[i], lens[i], NULL) == FSY_OK);
            char *again = fsy_fuzz_replica_dump(r);
            FSY_FUZZ_CHECK(strcmp(again, after_dump) == 0);
            fsy_free(again);
        }
        cursor = after;
        fsy_free(before);
        before = after_dump;
    }
    fsy_free(before);
    /* Reads over whatever state the batches left. */
    char *out = NULL;
    if (fsy_query_conflicts(r, &out) == FSY_OK)
        fsy_free(out);
    out = NULL;
    if (fsy_push_export(r, 0, 0, &out, NULL, NULL) == FSY_OK)
        fsy_free(out);
    fsy_fuzz_free_parts(parts, n);
    return 0;
}
