/*
 * headertest.c — fieldsync.h compiled on its own as strict C99 (-pedantic
 * -Werror): apps built with older C compilers include it. Included first, so it
 * must bring everything it needs.
 */
#include "fieldsync.h"

#include <stdio.h>
#include <string.h>

int main(void)
{
    fsy_replica_opts opts = FSY_REPLICA_OPTS_INIT;
    char id[FSY_ID_LEN + 1] = "";
    const char *v = fsy_version();
    (void)id;
    if (!v || strlen(v) == 0 || opts.version != FSY_REPLICA_OPTS_VERSION ||
        opts.synchronous != FSY_SYNC_FULL) {
        fprintf(stderr, "fieldsync.h as C99: unexpected version or defaults\n");
        return 1;
    }
    printf("C99: fieldsync %s, schema %d\n", v, FSY_SCHEMA_VERSION);
    return 0;
}
