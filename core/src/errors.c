/*
 * errors.c — return codes, their names and the per-handle error message.
 * Messages are set once, by the layer that found the problem.
 */
#include "internal.h"

#include <stdio.h>

const char *fsy_strerror(int code)
{
    switch (code) {
    case FSY_OK:
        return "ok";
    case FSY_ERROR:
        return "error";
    case FSY_EINVAL:
        return "invalid value";
    case FSY_ENOTFOUND:
        return "not found";
    case FSY_ESCHEMA:
        return "incompatible schema version";
    case FSY_ETOOBIG:
        return "too big";
    case FSY_EBUSY:
        return "database busy";
    case FSY_ECORRUPT:
        return "corrupt data";
    case FSY_ENOMEM:
        return "out of memory";
    case FSY_EMISUSE:
        return "API misuse";
    default:
        return "unknown error code";
    }
}

bool fsy_error_is_transient(int code)
{
    return code == FSY_EBUSY;
}

const char *fsy_version(void)
{
    return "0.1.0";
}

int fsy__err(fsy_replica *r, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->errmsg, sizeof(r->errmsg), fmt, ap);
    va_end(ap);
    return code;
}

void fsy__err_clear(fsy_replica *r)
{
    r->errmsg[0] = '\0';
}

int fsy__sqlerr(fsy_replica *r, int sqlite_rc, const char *what)
{
    int code;
    switch (sqlite_rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        code = FSY_EBUSY;
        break;
    case SQLITE_NOMEM:
        code = FSY_ENOMEM;
        break;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
        code = FSY_ECORRUPT;
        break;
    case SQLITE_TOOBIG:
        code = FSY_ETOOBIG;
        break;
    default:
        code = FSY_ERROR;
    }
    return fsy__err(r, code, "%s: %s", what,
                    r->db ? sqlite3_errmsg(r->db) : sqlite3_errstr(sqlite_rc));
}
