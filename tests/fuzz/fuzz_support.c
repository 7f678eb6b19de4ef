/* fuzz_support.c — see fuzz_support.h. */
#include "fuzz_support.h"

#include <dirent.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmpdir[512];

void fsy_fuzz_fail(const char *file, int line, const char *what)
{
    fprintf(stderr, "fuzz invariant failed at %s:%d: %s\n", file, line, what);
    abort();
}

static void remove_tmpdir(void)
{
    DIR *d = opendir(tmpdir);
    if (d) {
        struct dirent *e;
        char p[1024];
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            snprintf(p, sizeof(p), "%s/%s", tmpdir, e->d_name);
            unlink(p);
        }
        closedir(d);
    }
    rmdir(tmpdir);
}

const char *fsy_fuzz_tmpdir(void)
{
    if (tmpdir[0])
        return tmpdir;
    struct stat st;
    const char *base = getenv("TMPDIR");
    if (stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) && access("/dev/shm", W_OK) == 0)
        base = "/dev/shm";
    else if (!base || !*base)
        base = "/tmp";
    snprintf(tmpdir, sizeof(tmpdir), "%s/fsy-fuzz-XXXXXX", base);
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        abort();
    }
    atexit(remove_tmpdir);
    return tmpdir;
}

void fsy_fuzz_path(char *out, size_t n, const char *name)
{
    int k = snprintf(out, n, "%s/%s", fsy_fuzz_tmpdir(), name);
    FSY_FUZZ_CHECK(k > 0 && (size_t)k < n);
}

void fsy_fuzz_write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    FSY_FUZZ_CHECK(f != NULL);
    FSY_FUZZ_CHECK(len == 0 || fwrite(data, 1, len, f) == len);
    FSY_FUZZ_CHECK(fclose(f) == 0);
}

char *fsy_fuzz_read_file(const char *path, size_t *len_out)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap + 1);
    while (buf) {
        size_t k = fread(buf + len, 1, cap - len, f);
        len += k;
        if (len < cap)
            break;
        char *nb = realloc(buf, cap * 2 + 1);
        if (!nb) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = nb;
        cap *= 2;
    }
    int failed = ferror(f);
    fclose(f);
    if (!buf || failed) {
        free(buf);
        return NULL;
    }
    buf[len] = '\0';
    *len_out = len;
    return buf;
}

void fsy_fuzz_remove_db(const char *path)
{
    char p[1024];
    unlink(path);
    snprintf(p, sizeof(p), "%s-wal", path);
    unlink(p);
    snprintf(p, sizeof(p), "%s-shm", path);
    unlink(p);
    snprintf(p, sizeof(p), "%s-journal", path);
    unlink(p);
}

int fsy_fuzz_split(const uint8_t *data, size_t size, char **parts, size_t *lens, int max_parts)
{
    int n = 0;
    size_t start = 0;
    while (n < max_parts) {
        size_t end = start;
        while (end < size && data[end] != 0)
            end++;
        if (n == max_parts - 1)
            end = size; /* the last part takes the rest, NULs included */
        size_t len = end - start;
        char *p = malloc(len + 1);
        FSY_FUZZ_CHECK(p != NULL);
        if (len)
            memcpy(p, data + start, len);
        p[len] = '\0';
        parts[n] = p;
        lens[n] = len;
        n++;
        if (end >= size)
            break;
        start = end + 1;
    }
    return n;
}

void fsy_fuzz_free_parts(char **parts, int n)
{
    for (int i = 0; i < n; i++)
        free(parts[i]);
}

void fsy_fuzz_sqlite_setup(void)
{
    enum { SLOT = 4096 + 512, SLOTS = 512 };
    static char cache[SLOT * SLOTS];
    static int done;
    if (done++)
        return;
    /* SQLITE_MISUSE when SQLite was already initialised: then it keeps its malloc cache. */
    (void)sqlite3_config(SQLITE_CONFIG_PAGECACHE, cache, SLOT, SLOTS);
}
