/*
 * schema.h — the data model of DESIGN §2 as data: tables, fields, types,
 * enumerations and limits, with the validation every write goes through.
 * Shared by the replica (core) and by fieldsyncd, so that a value refused on the
 * tablet is refused by the server for the same reason, with the same words.
 */
#ifndef FSY_SCHEMA_H
#define FSY_SCHEMA_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FSY_N_TABLES   5
#define FSY_MAX_FIELDS 20
/* The pseudo-field a delete writes: DESIGN §4, "a delete is a tombstone field". */
#define FSY_TOMBSTONE "_deleted"

typedef enum fsy_type {
    FSY_T_TEXT, /* UTF-8 text up to max_len bytes */
    FSY_T_ENUM, /* one of enum_values */
    FSY_T_INT,  /* integer in [min, max] */
    FSY_T_REAL, /* finite number in [min, max] */
    FSY_T_DATE, /* "YYYY-MM-DD" */
    FSY_T_TIME, /* "YYYY-MM-DDTHH:MM:SS[.sss]Z" (UTC) */
    FSY_T_REF   /* a row id (UUID text) */
} fsy_type;

typedef struct fsy_field {
    const char *name;
    fsy_type type;
    bool required;
    size_t max_len;                 /* TEXT: bytes */
    double min, max;                /* INT, REAL */
    const char *const *enum_values; /* ENUM: NULL-terminated */
} fsy_field;

typedef struct fsy_table {
    int index; /* stable: stored in the journal; never renumbered */
    const char *name;
    const fsy_field *fields;
    int n_fields;
    const char *parent_field; /* the field that links to the owning row, or NULL */
    const char *author_field; /* filled with the device's user when left out, or NULL */
} fsy_table;

/* Lookups. NULL when unknown. */
const fsy_table *fsy__schema_table(const char *name);
const fsy_table *fsy__schema_table_at(int index);
const fsy_field *fsy__schema_field(const fsy_table *t, const char *name);
int fsy__schema_field_index(const fsy_table *t, const char *name);

/*
 * Validate one value for a field. JSON null is accepted for optional fields.
 * On failure returns FSY_EINVAL or FSY_ETOOBIG and writes a one-line message
 * naming the table and field into err.
 */
int fsy__schema_check(const fsy_table *t, const fsy_field *f, const cJSON *v, char *err,
                      size_t errlen);

/*
 * Validate a whole set of fields for a write. `is_create` requires every
 * required field. Unknown fields are refused (FSY_EINVAL) unless allow_unknown,
 * which a server uses for fields sent by a newer client.
 */
int fsy__schema_check_fields(const fsy_table *t, const cJSON *fields, bool is_create,
                             bool allow_unknown, char *err, size_t errlen);

/* Syntax checks shared with the wire decoders. */
bool fsy__is_uuid(const char *s);
bool fsy__is_date(const char *s);
bool fsy__is_time(const char *s);

/* A UUIDv7 (RFC 9562) as text from Unix ms and 10 random bytes (schema.c); the
 * replica and fieldsyncd both make ids this way. */
void fsy__uuid_v7_format(int64_t now_ms, const unsigned char rnd[10], char out[37]);

#endif
