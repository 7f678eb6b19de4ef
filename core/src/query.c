/*
 * query.c — the reads a tablet UI needs: one row, filtered lists, the sync
 * status, conflicts and parked changes, and a whole-replica export. Lists are
 * rendered straight from SQLite columns into JSON, without building a DOM.
 */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_LIMIT 100
#define MAX_LIMIT     10000

static void column_json(fsy_buf *b, sqlite3_stmt *st, int col)
{
    switch (sqlite3_column_type(st, col)) {
    case SQLITE_NULL:
        fsy__buf_puts(b, "null");
        break;
    case SQLITE_INTEGER:
        fsy__buf_printf(b, "%lld", (long long)sqlite3_column_int64(st, col));
        break;
    case SQLITE_FLOAT:
        fsy__buf_printf(b, "%.17g", sqlite3_column_double(st, col));
        break;
    default:
        fsy__buf_json_string(b, (const char *)sqlite3_column_text(st, col));
    }
}

/* Render every result row as an object keyed by column name. */
static int rows_json(fsy_replica *r, sqlite3_stmt *st, fsy_buf *b)
{
    int n = 0, s, ncol = sqlite3_column_count(st);
    fsy__buf_puts(b, "[");
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        fsy__buf_puts(b, n++ ? ",{" : "{");
        for (int c = 0; c < ncol; c++) {
            if (c)
                fsy__buf_puts(b, ",");
            fsy__buf_json_string(b, sqlite3_column_name(st, c));
            fsy__buf_puts(b, ":");
            column_json(b, st, c);
        }
        fsy__buf_puts(b, "}");
    }
    fsy__buf_puts(b, "]");
    if (s != SQLITE_DONE)
        return fsy__sqlerr(r, s, "query");
    return b->failed ? fsy__err(r, FSY_ENOMEM, "out of memory") : FSY_OK;
}

static void select_columns(fsy_buf *b, const fsy_table *t)
{
    fsy__buf_puts(b, "SELECT id");
    for (int i = 0; i < t->n_fields; i++)
        fsy__buf_printf(b, ", %s", t->fields[i].name);
    fsy__buf_printf(b, " FROM %s", t->name);
}

/* Prepare `sql`, bind text parameters (NULL binds SQL NULL), render rows. */
static int run_list(fsy_replica *r, const char *sql, const char *const *params, int n_params,
                    int limit, int offset, char **out)
{
    sqlite3_stmt *st = NULL;
    fsy_buf b = {0};
    int rc;
    *out = NULL;
    int s = sqlite3_prepare_v2(r->db, sql, -1, &st, NULL);
    if (s != SQLITE_OK)
        return fsy__sqlerr(r, s, "query");
    for (int i = 0; i < n_params; i++)
        if (params[i])
            sqlite3_bind_text(st, i + 1, params[i], -1, SQLITE_TRANSIENT);
    if (limit >= 0) {
        sqlite3_bind_int(st, n_params + 1, limit);
        sqlite3_bind_int(st, n_params + 2, offset);
    }
    rc = rows_json(r, st, &b);
    sqlite3_finalize(st);
    if (rc == FSY_OK && !(*out = fsy__buf_take(&b)))
        rc = fsy__err(r, FSY_ENOMEM, "out of memory");
    fsy__buf_free(&b);
    return rc;
}

static int check_paging(fsy_replica *r, int *limit, int offset)
{
    if (*limit == 0)
        *limit = DEFAULT_LIMIT;
    if (*limit < 0 || *limit > MAX_LIMIT || offset < 0)
        return fsy__err(r, FSY_EINVAL, "limit must be 1 to %d and offset not negative", MAX_LIMIT);
    return FSY_OK;
}

static int check_ref(fsy_replica *r, const char *what, const char *id, bool optional)
{
    if ((optional && !id) || fsy__is_uuid(id))
        return FSY_OK;
    return fsy__err(r, FSY_EINVAL, "%s: \"%.40s\" is not a row id", what, id ? id : "(null)");
}

int fsy_query_customers(fsy_replica *r, const char *territory, const char *name_prefix, int limit,
                        int offset, char **out)
{
    fsy_buf sql = {0};
    char *like = NULL;
    int rc;
    FSY_CHECK_ARG(r && r->db && out);
    fsy__err_clear(r);
    *out = NULL;
    if ((rc = check_paging(r, &limit, offset)) != FSY_OK)
        return rc;
    if (name_prefix) {
        /* LIKE with the wildcards of the prefix itself escaped. */
        size_t n = strlen(name_prefix);
        if (n > 200)
            return fsy__err(r, FSY_EINVAL, "name prefix longer than 200 bytes");
        like = malloc(2 * n + 2);
        if (!like)
            return fsy__err(r, FSY_ENOMEM, "out of memory");
        size_t o = 0;
        for (size_t i = 0; i < n; i++) {
            if (name_prefix[i] == '%' || name_prefix[i] == '_' || name_prefix[i] == '\\')
                like[o++] = '\\';
            like[o++] = name_prefix[i];
        }
        like[o++] = '%';
        like[o] = '\0';
    }
    select_columns(&sql, fsy__schema_table("customers"));
    fsy__buf_puts(&sql, " WHERE (?1 IS NULL OR territory = ?1)"
                        " AND (?2 IS NULL OR name LIKE ?2 ESCAPE '\\')"
                        " ORDER BY name COLLATE NOCASE, id LIMIT ?3 OFFSET ?4");
    const char *params[] = {territory, like};
    rc = sql.failed ? fsy__err(r, FSY_ENOMEM, "out of memory")
                    : run_list(r, sql.data, params, 2, limit, offset, out);
    fsy__buf_free(&sql);
    free(like);
    return rc;
}

static int children(fsy_replica *r, const char *table, const char *parent_field,
                    const char *parent_id, const char *order, char **out)
{
    fsy_buf sql = {0};
    int rc;
    FSY_CHECK_ARG(r && r->db && out);
    fsy__err_clear(r);
    *out = NULL;
    if ((rc = check_ref(r, parent_field, parent_id, false)) != FSY_OK)
        return rc;
    select_columns(&sql, fsy__schema_table(table));
    fsy__buf_printf(&sql, " WHERE %s = ?1 ORDER BY %s", parent_field, order);
    const char *params[] = {parent_id};
    rc = sql.failed ? fsy__err(r, FSY_ENOMEM, "out of memory")
                    : run_list(r, sql.data, params, 1, -1, 0, out);
    fsy__buf_free(&sql);
    return rc;
}

int fsy_query_contacts(fsy_replica *r, const char *customer_id, char **out)
{
    return children(r, "contacts", "customer_id", customer_id, "name COLLATE NOCASE, id", out);
}

int fsy_query_notes(fsy_replica *r, const char *customer_id, char **out)
{
    return children(r, "notes", "customer_id", customer_id, "id DESC", out);
}

int fsy_query_reviews(fsy_replica *r, const char *visit_id, char **out)
{
    return children(r, "reviews", "visit_id", visit_id, "id DESC", out);
}

/*
 * Times are stored as written, with or without milliseconds ("…:SSZ" or
 * "…:SS.sssZ"). As text the two forms do not order as instants ('Z' sorts after
 * '.'), so visits are compared and ordered on the 24-character form.
 */
#define VISIT_TIME                                                                                 \
    "(CASE WHEN length(coalesce(planned_at, checkin_at)) = 20"                                     \
    " THEN substr(coalesce(planned_at, checkin_at), 1, 19) || '.000Z'"                             \
    " ELSE coalesce(planned_at, checkin_at) END)"

/* A date bound becomes the first or last instant of that day. */
static int time_bound(fsy_replica *r, const char *in, bool upper, char out[32])
{
    if (!in) {
        out[0] = '\0';
        return FSY_OK;
    }
    if (fsy__is_date(in)) {
        snprintf(out, 32, "%sT%s", in, upper ? "23:59:59.999Z" : "00:00:00.000Z");
        return FSY_OK;
    }
    if (fsy__is_time(in)) {
        if (strlen(in) == 20) /* "…:SSZ" -> "…:SS.000Z", the form VISIT_TIME compares */
            snprintf(out, 32, "%.19s.000Z", in);
        else
            fsy__strlcpy(out, in, 32);
        return FSY_OK;
    }
    return fsy__err(r, FSY_EINVAL, "visit filter: \"%.40s\" is not a date or UTC time", in);
}

int fsy_query_visits(fsy_replica *r, const char *customer_id, const char *from, const char *to,
                     int limit, int offset, char **out)
{
    fsy_buf sql = {0};
    char lo[32], hi[32];
    int rc;
    FSY_CHECK_ARG(r && r->db && out);
    fsy__err_clear(r);
    *out = NULL;
    if ((rc = check_paging(r, &limit, offset)) != FSY_OK ||
        (rc = check_ref(r, "customer_id", customer_id, true)) != FSY_OK ||
        (rc = time_bound(r, from, false, lo)) != FSY_OK ||
        (rc = time_bound(r, to, true, hi)) != FSY_OK)
        return rc;
    select_columns(&sql, fsy__schema_table("visits"));
    fsy__buf_puts(&sql, " WHERE (?1 IS NULL OR customer_id = ?1)"
                        " AND (?2 IS NULL OR " VISIT_TIME " >= ?2)"
                        " AND (?3 IS NULL OR " VISIT_TIME " <= ?3)"
                        " ORDER BY " VISIT_TIME " DESC, id DESC"
                        " LIMIT ?4 OFFSET ?5");
    const char *params[] = {customer_id, from ? lo : NULL, to ? hi : NULL};
    rc = sql.failed ? fsy__err(r, FSY_ENOMEM, "out of memory")
                    : run_list(r, sql.data, params, 3, limit, offset, out);
    fsy__buf_free(&sql);
    return rc;
}

static int count(fsy_replica *r, const char *sql, int64_t *out);

int fsy_pending_count(fsy_replica *r, int64_t *out)
{
    FSY_CHECK_ARG(r && r->db && out);
    fsy__err_clear(r);
    /* From the file, not from memory: another handle (the agent) may have synced. */
    return count(r, "SELECT count(*) FROM fsy_journal WHERE state = 0", out);
}

static int count(fsy_replica *r, const char *sql, int64_t *out)
{
    sqlite3_stmt *st = NULL;
    int s = sqlite3_prepare_v2(r->db, sql, -1, &st, NULL);
    if (s == SQLITE_OK)
        s = sqlite3_step(st);
    *out = s == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_finalize(st);
    return s == SQLITE_ROW ? FSY_OK : fsy__sqlerr(r, s, "counting");
}

int fsy_sync_status(fsy_replica *r, char **out)
{
    fsy_buf b = {0};
    int64_t cursor = 0, parked = 0, conflicts = 0, last_sync = 0, last_attempt = 0, pending = 0;
    char *err = NULL;
    int rc;
    FSY_CHECK_ARG(r && r->db && out);
    fsy__err_clear(r);
    *out = NULL;
    if ((rc = fsy__meta_get_int(r, "fsy.cursor", &cursor)) != FSY_OK ||
        (rc = fsy__meta_get_int(r, "fsy.last_sync_ms", &last_sync)) != FSY_OK ||
        (rc = fsy__meta_get_int(r, "fsy.last_attempt_ms", &last_attempt)) != FSY_OK ||
        (rc = count(r, "SELECT count(*) FROM fsy_journal WHERE state = 1", &parked)) != FSY_OK ||
        (rc = count(r, "SELECT count(*) FROM fsy_journal WHERE state = 0", &pending)) != FSY_OK ||
        (rc = count(r, "SELECT count(*) FROM fsy_conflicts", &conflicts)) != FSY_OK)
        return rc;
    rc = fsy__meta_get_text(r, "fsy.last_error", &err);
    if (rc != FSY_OK && rc != FSY_ENOTFOUND)
        return rc;
    fsy__buf_printf(&b,
                    "{\"cursor\":%lld,\"pending\":%lld,\"parked\":%lld,\"conflicts\":%lld,"
                    "\"last_sync_ms\":%lld,\"last_attempt_ms\":%lld,\"last_error\":",
                    (long long)cursor, (long long)pending, (long long)parked, (long long)conflicts,
                    (long long)last_sync, (long long)last_attempt);
    if (err && err[0])
        fsy__buf_json_string(&b, err);
    else
        fsy__buf_puts(&b, "null");
    fsy__buf_puts(&b, ",\"device_id\":");
    if (r->device_id[0])
        fsy__buf_json_string(&b, r->device_id);
    else
        fsy__buf_puts(&b, "null");
    fsy__buf_puts(&b, ",\"user\":");
    if (r->user[0])
        fsy__buf_json_string(&b, r->user);
    else
        fsy__buf_puts(&b, "null");
    fsy__buf_printf(&b, ",\"schema\":%d}", FSY_SCHEMA_VERSION);
    free(err);
    if (!(*out = fsy__buf_take(&b)))
        return fsy__err(r, FSY_ENOMEM, "out of memory");
    return FSY_OK;
}

static const char table_case[] = "CASE tbl WHEN 0 THEN 'customers' WHEN 1 THEN 'contacts'"
                                 " WHEN 2 THEN 'visits' WHEN 3 THEN 'notes' ELSE 'reviews' END";

/* Columns holding JSON text (journal fields, conflict values) become JSON values. */
static int embed_json(fsy_replica *r, char **out, const char *col1, const char *col2)
{
    cJSON *arr = cJSON_Parse(*out), *it;
    free(*out);
    *out = NULL;
    if (!arr)
        return fsy__err(r, FSY_ENOMEM, "out of memory");
    cJSON_ArrayForEach(it, arr)
    {
        const char *cols[] = {col1, col2};
        for (int i = 0; i < 2 && cols[i]; i++) {
            cJSON *f = cJSON_GetObjectItemCaseSensitive(it, cols[i]);
            cJSON *v = cJSON_IsString(f) ? cJSON_Parse(f->valuestring) : NULL;
            if (v)
                cJSON_ReplaceItemInObjectCaseSensitive(it, cols[i], v);
        }
    }
    *out = fsy__json_print(arr);
    cJSON_Delete(arr);
    return *out ? FSY_OK : fsy__err(r, FSY_ENOMEM, "out of memory");
}

int fsy_query_conflicts(fsy_replica *r, char **out)
{
    fsy_buf sql = {0};
    FSY_CHECK_ARG(r && r->db && out);
    fsy__err_clear(r);
    fsy__buf_printf(&sql,
                    "SELECT %s AS \"table\", row_id AS id, field, mine, theirs, their_user, "
                    "their_device, winner, server_seq,"
                    " at_ms FROM fsy_conflicts ORDER BY n DESC",
                    table_case);
    int rc = sql.failed ? fsy__err(r, FSY_ENOMEM, "out of memory")
                        : run_list(r, sql.data, NULL, 0, -1, 0, out);
    fsy__buf_free(&sql);
    return rc == FSY_OK ? embed_json(r, out, "mine", "theirs") : rc;
}

int fsy_query_parked(fsy_replica *r, char **out)
{
    fsy_buf sql = {0};
    FSY_CHECK_ARG(r && r->db && out);
    fsy__err_clear(r);
    fsy__buf_printf(&sql,
                    "SELECT seq, %s AS \"table\", id, CASE op WHEN 0 THEN 'create' WHEN 1 THEN"
                    " 'update' ELSE 'delete' END AS op, fields, code, reason FROM fsy_journal"
                    " WHERE state = 1 ORDER BY seq",
                    table_case);
    int rc = sql.failed ? fsy__err(r, FSY_ENOMEM, "out of memory")
                        : run_list(r, sql.data, NULL, 0, -1, 0, out);
    fsy__buf_free(&sql);
    if (rc != FSY_OK)
        return rc;
    return embed_json(r, out, "fields", NULL);
}

int fsy_replica_get(fsy_replica *r, const char *table, const char *id, char **out)
{
    const fsy_table *t = NULL;
    cJSON *row = NULL;
    fsy_confirmed c = {0};
    int rc;
    FSY_CHECK_ARG(r && r->db && out);
    fsy__err_clear(r);
    *out = NULL;
    if (!(t = fsy__schema_table(table)))
        return fsy__err(r, FSY_EINVAL, "unknown table \"%.60s\"", table ? table : "(null)");
    if ((rc = check_ref(r, t->name, id, false)) != FSY_OK)
        return rc;
    rc = fsy__view_load(r, t, id, &row);
    if (rc == FSY_ENOTFOUND)
        return fsy__err(r, rc, "%s %s is not on this device", t->name, id);
    if (rc != FSY_OK)
        return rc;
    /* Fields from a newer schema live only in the confirmed state: show them too. */
    if ((rc = fsy__confirmed_load(r, t, id, &c)) != FSY_OK)
        goto done;
    for (const cJSON *v = c.vals ? c.vals->child : NULL; v; v = v->next) {
        if (strcmp(v->string, FSY_TOMBSTONE) == 0 || fsy__schema_field(t, v->string))
            continue;
        cJSON_AddItemToObject(row, v->string, cJSON_Duplicate(v, true));
    }
    if (!(*out = fsy__json_print(row)))
        rc = fsy__err(r, FSY_ENOMEM, "out of memory");
done:
    fsy__confirmed_clear(&c);
    cJSON_Delete(row);
    return rc;
}

int fsy_replica_export(fsy_replica *r, char **out)
{
    fsy_buf b = {0}, sql = {0};
    int rc = FSY_OK;
    FSY_CHECK_ARG(r && r->db && out);
    fsy__err_clear(r);
    *out = NULL;
    fsy__buf_puts(&b, "{");
    for (int i = 0; i < FSY_N_TABLES && rc == FSY_OK; i++) {
        const fsy_table *t = fsy__schema_table_at(i);
        sqlite3_stmt *st = NULL;
        select_columns(&sql, t);
        fsy__buf_puts(&sql, " ORDER BY id");
        if (sql.failed) {
            rc = fsy__err(r, FSY_ENOMEM, "out of memory");
            break;
        }
        int s = sqlite3_prepare_v2(r->db, sql.data, -1, &st, NULL);
        fsy__buf_free(&sql);
        if (s != SQLITE_OK) {
            rc = fsy__sqlerr(r, s, t->name);
            break;
        }
        fsy__buf_printf(&b, "%s\"%s\":", i ? "," : "", t->name);
        rc = rows_json(r, st, &b);
        sqlite3_finalize(st);
    }
    fsy__buf_puts(&b, "}");
    if (rc == FSY_OK && !(*out = fsy__buf_take(&b)))
        rc = fsy__err(r, FSY_ENOMEM, "out of memory");
    fsy__buf_free(&b);
    return rc;
}
