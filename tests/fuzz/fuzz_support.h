/*
 * fuzz_support.h — what the fuzz harnesses share: a private temp directory, a fixed
 * clock, splitting an input into NUL-separated parts, and files read whole. Used by
 * the libFuzzer binaries and by the replay driver that ctest runs.
 */
#ifndef FSY_FUZZ_SUPPORT_H
#define FSY_FUZZ_SUPPORT_H

#include <stddef.h>
#include <stdint.h>

/* The libFuzzer entry points every harness defines. */
int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Fixed wall clock for deterministic runs: 2026-01-05T09:30:00Z. */
#define FSY_FUZZ_NOW_MS INT64_C(1767605400000)

/* A private directory under /dev/shm (or $TMPDIR, /tmp), removed at exit. Never NULL:
 * aborts when it cannot be made. */
const char *fsy_fuzz_tmpdir(void);

/* "<tmpdir>/<name>" into out (aborts if it does not fit). */
void fsy_fuzz_path(char *out, size_t n, const char *name);

/* Write `len` bytes to path (replacing it); aborts on failure. */
void fsy_fuzz_write_file(const char *path, const void *data, size_t len);

/* Read a whole file into a malloc'd, NUL-terminated buffer; NULL on failure. */
char *fsy_fuzz_read_file(const char *path, size_t *len_out);

/* Remove path and its SQLite -wal and -shm companions. */
void fsy_fuzz_remove_db(const char *path);

/*
 * Split data at NUL bytes into at most max_parts parts, each copied to a malloc'd
 * NUL-terminated buffer (parts[i], lens[i]); returns the count. Free with
 * fsy_fuzz_free_parts.
 */
int fsy_fuzz_split(const uint8_t *data, size_t size, char **parts, size_t *lens, int max_parts);
void fsy_fuzz_free_parts(char **parts, int n);

/*
 * Give SQLite a static page cache before its first use: page buffers then come from
 * it instead of malloc, which under ASan (fill, quarantine, page faults) costs more
 * than the queries. Call first thing in LLVMFuzzerInitialize. SQLite's own code is
 * not under test here; our pointers into its results still are.
 */
void fsy_fuzz_sqlite_setup(void);

/* abort() with a message: an invariant a harness checks does not hold. */
#define FSY_FUZZ_CHECK(cond)                                                                       \
    do {                                                                                           \
        if (!(cond))                                                                               \
            fsy_fuzz_fail(__FILE__, __LINE__, #cond);                                              \
    } while (0)
void fsy_fuzz_fail(const char *file, int line, const char *what);

#endif
