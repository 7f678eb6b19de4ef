/*
 * schema.c — the five tables of DESIGN §2 and their validation.
 * The replica's SQL (replica.c migrations) must list the same columns; a unit
 * test compares the two so they cannot drift apart.
 */
#include "schema.h"
#include "fieldsync.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static const char *const customer_category[] = {"industry", "regional", "potential", NULL};
static const char *const customer_tier[] = {"A", "B", "C", NULL};
static const char *const customer_status[] = {"loyal", "fast-growing", "dormant", "to-nurture",
                                              NULL};
static const char *const customer_relationship[] = {"transactional", "familiar", "partnership",
                                                    NULL};
static const char *const contact_personality[] = {"expressive", "driver", "analytical", "amiable",
                                                  NULL};
static const char *const visit_kind[] = {"cold", "referral", "existing-customer", NULL};
static const char *const visit_status[] = {"planned", "in-progress", "done", "cancelled", NULL};
static const char *const review_state[] = {"reviewed", "needs-follow-up", NULL};

#define TEXT(n, req, len)                                                                          \
    {                                                                                              \
        n, FSY_T_TEXT, req, len, 0, 0, NULL                                                        \
    }
#define ENUM(n, req, vals)                                                                         \
    {                                                                                              \
        n, FSY_T_ENUM, req, 0, 0, 0, vals                                                          \
    }
#define INT(n, req, lo, hi)                                                                        \
    {                                                                                              \
        n, FSY_T_INT, req, 0, lo, hi, NULL                                                         \
    }
#define REAL(n, lo, hi)                                                                            \
    {                                                                                              \
        n, FSY_T_REAL, false, 0, lo, hi, NULL                                                      \
    }
#define DATE(n)                                                                                    \
    {                                                                                              \
        n, FSY_T_DATE, false, 0, 0, 0, NULL                                                        \
    }
#define TIME(n)                                                                                    \
    {                                                                                              \
        n, FSY_T_TIME, false, 0, 0, 0, NULL                                                        \
    }
#define REF(n)                                                                                     \
    {                                                                                              \
        n, FSY_T_REF, true, 0, 0, 0, NULL                                                          \
    }

static const fsy_field customer_fields[] = {
    TEXT("name", true, 200),
    TEXT("address", false, 500),
    TEXT("phone", false, 50),
    TEXT("territory", true, 100),
    TEXT("owner", false, 100),
    ENUM("category", false, customer_category),
    ENUM("tier", false, customer_tier),
    ENUM("status", false, customer_status),
    ENUM("relationship", false, customer_relationship),
};

static const fsy_field contact_fields[] = {
    REF("customer_id"),
    TEXT("name", true, 200),
    TEXT("role", false, 100),
    TEXT("phone", false, 50),
    TEXT("email", false, 254),
    DATE("birthday"),
    TEXT("care_dates", false, 500),
    ENUM("personality", false, contact_personality),
    TEXT("notes", false, 4000),
};

static const fsy_field visit_fields[] = {
    REF("customer_id"),
    TEXT("rep", true, 100),
    ENUM("kind", false, visit_kind),
    TIME("planned_at"),
    TIME("checkin_at"),
    REAL("checkin_lat", -90, 90),
    REAL("checkin_lon", -180, 180),
    TIME("checkout_at"),
    REAL("checkout_lat", -90, 90),
    REAL("checkout_lon", -180, 180),
    TEXT("purpose", false, 2000),
    TEXT("outcome", false, 4000),
    TEXT("next_steps", false, 2000),
    DATE("follow_up"),
    INT("satisfaction", false, 1, 5),
    ENUM("status", true, visit_status),
};

static const fsy_field note_fields[] = {
    REF("customer_id"),
    TEXT("author", true, 100),
    TEXT("body", true, 8000),
    INT("info_level", true, 1, 4),
};

static const fsy_field review_fields[] = {
    REF("visit_id"),
    TEXT("supervisor", true, 100),
    TEXT("comment", false, 4000),
    ENUM("state", true, review_state),
};

#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))

static const fsy_table tables[FSY_N_TABLES] = {
    {0, "customers", customer_fields, N(customer_fields), NULL, NULL},
    {1, "contacts", contact_fields, N(contact_fields), "customer_id", NULL},
    {2, "visits", visit_fields, N(visit_fields), "customer_id", "rep"},
    {3, "notes", note_fields, N(note_fields), "customer_id", "author"},
    {4, "reviews", review_fields, N(review_fields), "visit_id", "supervisor"},
};

const fsy_table *fsy__schema_table(const char *name)
{
    if (!name)
        return NULL;
    for (int i = 0; i < FSY_N_TABLES; i++)
        if (strcmp(tables[i].name, name) == 0)
            return &tables[i];
    return NULL;
}

const fsy_table *fsy__schema_table_at(int index)
{
    return index >= 0 && index < FSY_N_TABLES ? &tables[index] : NULL;
}

int fsy__schema_field_index(const fsy_table *t, const char *name)
{
    for (int i = 0; i < t->n_fields; i++)
        if (strcmp(t->fields[i].name, name) == 0)
            return i;
    return -1;
}

const fsy_field *fsy__schema_field(const fsy_table *t, const char *name)
{
    int i = fsy__schema_field_index(t, name);
    return i < 0 ? NULL : &t->fields[i];
}

static bool digits(const char *s, int n)
{
    for (int i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

static int num(const char *s, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++)
        v = v * 10 + (s[i] - '0');
    return v;
}

static bool valid_ymd(const char *s)
{
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (!digits(s, 4) || s[4] != '-' || !digits(s + 5, 2) || s[7] != '-' || !digits(s + 8, 2))
        return false;
    int y = num(s, 4), m = num(s + 5, 2), d = num(s + 8, 2);
    if (y < 1900 || m < 1 || m > 12 || d < 1 || d > mdays[m - 1])
        return false;
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return !(m == 2 && d == 29 && !leap);
}

bool fsy__is_date(const char *s)
{
    return s && strlen(s) == 10 && valid_ymd(s);
}

bool fsy__is_time(const char *s)
{
    if (!s)
        return false;
    size_t n = strlen(s);
    if ((n != 20 && n != 24) || !valid_ymd(s) || s[10] != 'T')
        return false;
    const char *t = s + 11;
    if (!digits(t, 2) || t[2] != ':' || !digits(t + 3, 2) || t[5] != ':' || !digits(t + 6, 2))
        return false;
    if (num(t, 2) > 23 || num(t + 3, 2) > 59 || num(t + 6, 2) > 60)
        return false;
    if (n == 24)
        return t[8] == '.' && digits(t + 9, 3) && t[12] == 'Z';
    return t[8] == 'Z';
}

bool fsy__is_uuid(const char *s)
{
    if (!s || strlen(s) != 36)
        return false;
    for (int i = 0; i < 36; i++) {
        char c = s[i];
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (c != '-')
                return false;
        } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
            return false;
        }
    }
    return true;
}

/* Well-formed UTF-8 without NUL: text fields are shown on tablets and web pages. */
static bool valid_utf8(const unsigned char *s)
{
    while (*s) {
        int n;
        unsigned int cp;
        if (*s < 0x80) {
            s++;
            continue;
        } else if ((*s & 0xe0) == 0xc0) {
            n = 1;
            cp = *s & 0x1f;
        } else if ((*s & 0xf0) == 0xe0) {
            n = 2;
            cp = *s & 0x0f;
        } else if ((*s & 0xf8) == 0xf0) {
            n = 3;
            cp = *s & 0x07;
        } else {
            return false;
        }
        s++;
        for (int i = 0; i < n; i++, s++) {
            if ((*s & 0xc0) != 0x80)
                return false;
            cp = (cp << 6) | (*s & 0x3f);
        }
        if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
            cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return false;
    }
    return true;
}

int fsy__schema_check(const fsy_table *t, const fsy_field *f, const cJSON *v, char *err,
                      size_t errlen)
{
    if (cJSON_IsNull(v)) {
        if (f->required) {
            snprintf(err, errlen, "%s.%s is required and cannot be null", t->name, f->name);
            return FSY_EINVAL;
        }
        return FSY_OK;
    }
    switch (f->type) {
    case FSY_T_TEXT:
    case FSY_T_ENUM:
    case FSY_T_DATE:
    case FSY_T_TIME:
    case FSY_T_REF:
        if (!cJSON_IsString(v)) {
            snprintf(err, errlen, "%s.%s must be a string", t->name, f->name);
            return FSY_EINVAL;
        }
        break;
    case FSY_T_INT:
    case FSY_T_REAL:
        if (!cJSON_IsNumber(v)) {
            snprintf(err, errlen, "%s.%s must be a number", t->name, f->name);
            return FSY_EINVAL;
        }
        break;
    }
    const char *s = cJSON_IsString(v) ? v->valuestring : NULL;
    switch (f->type) {
    case FSY_T_TEXT:
        if (strlen(s) > f->max_len) {
            snprintf(err, errlen, "%s.%s is %zu bytes, longer than the %zu allowed", t->name,
                     f->name, strlen(s), f->max_len);
            return FSY_ETOOBIG;
        }
        if (f->required && s[0] == '\0') {
            snprintf(err, errlen, "%s.%s is required and cannot be empty", t->name, f->name);
            return FSY_EINVAL;
        }
        if (!valid_utf8((const unsigned char *)s)) {
            snprintf(err, errlen, "%s.%s is not valid UTF-8 text", t->name, f->name);
            return FSY_EINVAL;
        }
        return FSY_OK;
    case FSY_T_ENUM:
        for (const char *const *e = f->enum_values; *e; e++)
            if (strcmp(*e, s) == 0)
                return FSY_OK;
        {
            char allowed[256] = "";
            size_t used = 0;
            for (const char *const *e = f->enum_values; *e && used < sizeof(allowed); e++) {
                int w = snprintf(allowed + used, sizeof(allowed) - used, "%s%s",
                                 e == f->enum_values ? "" : ", ", *e);
                if (w < 0)
                    break;
                used += (size_t)w;
            }
            snprintf(err, errlen, "%s.%s: \"%.40s\" is not one of: %s", t->name, f->name, s,
                     allowed);
        }
        return FSY_EINVAL;
    case FSY_T_DATE:
        if (!fsy__is_date(s)) {
            snprintf(err, errlen, "%s.%s: \"%.40s\" is not a date (YYYY-MM-DD)", t->name, f->name,
                     s);
            return FSY_EINVAL;
        }
        return FSY_OK;
    case FSY_T_TIME:
        if (!fsy__is_time(s)) {
            snprintf(err, errlen, "%s.%s: \"%.40s\" is not a UTC time (YYYY-MM-DDTHH:MM:SS[.sss]Z)",
                     t->name, f->name, s);
            return FSY_EINVAL;
        }
        return FSY_OK;
    case FSY_T_REF:
        if (!fsy__is_uuid(s)) {
            snprintf(err, errlen, "%s.%s: \"%.40s\" is not a row id", t->name, f->name, s);
            return FSY_EINVAL;
        }
        return FSY_OK;
    case FSY_T_INT:
        if (v->valuedouble != floor(v->valuedouble) || v->valuedouble < f->min ||
            v->valuedouble > f->max) {
            snprintf(err, errlen, "%s.%s must be a whole number from %g to %g", t->name, f->name,
                     f->min, f->max);
            return FSY_EINVAL;
        }
        return FSY_OK;
    case FSY_T_REAL:
        if (!isfinite(v->valuedouble) || v->valuedouble < f->min || v->valuedouble > f->max) {
            snprintf(err, errlen, "%s.%s must be a number from %g to %g", t->name, f->name, f->min,
                     f->max);
            return FSY_EINVAL;
        }
        return FSY_OK;
    }
    return FSY_EINVAL;
}

int fsy__schema_check_fields(const fsy_table *t, const cJSON *fields, bool is_create,
                             bool allow_unknown, char *err, size_t errlen)
{
    if (!cJSON_IsObject(fields)) {
        snprintf(err, errlen, "%s: fields must be a JSON object", t->name);
        return FSY_EINVAL;
    }
    const cJSON *v;
    cJSON_ArrayForEach(v, fields)
    {
        if (strcmp(v->string, "id") == 0) {
            snprintf(err, errlen, "%s: \"id\" cannot be written; rows get their id on insert",
                     t->name);
            return FSY_EINVAL;
        }
        const fsy_field *f = fsy__schema_field(t, v->string);
        if (!f) {
            if (allow_unknown)
                continue;
            snprintf(err, errlen, "%s has no field \"%.60s\"", t->name, v->string);
            return FSY_EINVAL;
        }
        int rc = fsy__schema_check(t, f, v, err, errlen);
        if (rc != FSY_OK)
            return rc;
    }
    if (is_create) {
        for (int i = 0; i < t->n_fields; i++) {
            const fsy_field *f = &t->fields[i];
            if (f->required && !cJSON_GetObjectItemCaseSensitive(fields, f->name)) {
                snprintf(err, errlen, "%s.%s is required", t->name, f->name);
                return FSY_EINVAL;
            }
        }
    }
    return FSY_OK;
}

/* Pure, so fieldsyncd links it without the replica. */
void fsy__uuid_v7_format(int64_t now_ms, const unsigned char rnd[10], char out[37])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char b[16];
    uint64_t ms = (uint64_t)now_ms;

    memcpy(b + 6, rnd, 10);
    for (int i = 0; i < 6; i++)
        b[i] = (unsigned char)(ms >> (40 - 8 * i));
    b[6] = (unsigned char)(0x70 | (b[6] & 0x0f)); /* version 7 */
    b[8] = (unsigned char)(0x80 | (b[8] & 0x3f)); /* variant 10 */

    int o = 0;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[o++] = '-';
        out[o++] = hex[b[i] >> 4];
        out[o++] = hex[b[i] & 0xf];
    }
    out[o] = '\0';
}
