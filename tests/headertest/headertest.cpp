/*
 * headertest.cpp — fieldsync.h compiled as C++ (-pedantic -Werror): the C API
 * must link from C++ apps (extern "C"), and its macros must be valid C++.
 */
#include "fieldsync.h"

#include <cstdio>
#include <cstring>

int main()
{
    fsy_replica_opts opts = FSY_REPLICA_OPTS_INIT;
    fsy_replica *r = nullptr;
    if (fsy_replica_new(&r) != FSY_OK)
        return 1;
    fsy_replica_free(r);
    const char *v = fsy_version();
    if (!v || std::strlen(v) == 0 || opts.version != FSY_REPLICA_OPTS_VERSION ||
        fsy_error_is_transient(FSY_EINVAL)) {
        std::fprintf(stderr, "fieldsync.h as C++: unexpected version or defaults\n");
        return 1;
    }
    std::printf("C++: fieldsync %s, %s\n", v, fsy_strerror(FSY_EBUSY));
    return 0;
}
