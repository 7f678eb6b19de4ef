/*
 * write.c — local writes: insert, update, delete and the visit check-in/out
 * helpers. Each is one transaction that changes the view row and appends (or
 * compacts into) one journal entry per row-change listing its fields, so bad
 * input or a crash changes nothing, and the journal always matches the rows.
 */
#include "internal.h"
#include "hlc.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MAX_WRITE_JSON (1u << 20)

static int parse_fields(fsy_replica *r, const char *json, cJSON **out)
{
    *out = NULL;
    if (!json)
        return fsy__err(r, FSY_EINVAL, "no fields given");
    size_t len = strlen(json);
    if (len > MAX_WRITE_JSON)
        return fsy__err(r, FSY_ETOOBIG, "fields JSON is %zu bytes, over the %u-byte limit", len,
                        MAX_WRITE_JSON);
    const char *end = NULL;
    cJSON *v = cJSON_ParseWithOpts(json, &end, true);
    if (!v)
        return fsy__err(r, FSY_EINVAL, "fields are not valid JSON (near byte %zu)",
                        (size_t)(end && end >= json ? end - json : 0));
    if (!cJSON_IsObject(v)) {
        cJSON_Delete(v);
        return fsy__err(r, FSY_EINVAL, "fields must be a JSON object");
    }
    /* A key given twice would make the journal and the row disagree on which won. */
    for (const cJSON *a = v->child; a; a = a->next)
        for (const cJSON *b = a->next; b; b = b->next)
            if (strcmp(a->string, b->string) == 0) {
                int rc = fsy__err(r, FSY_EINVAL, "field \"%.60s\" is given twice", a->string);
                cJSON_Delete(v);
                return rc;
            }
    *out = v;
    return FSY_OK;
}

static int lookup_table(fsy_replica *r, const char *name, const fsy_table **out)
{
    *out = fsy__schema_table(name);
    if (!*out)
        return fsy__err(r, FSY_EINVAL, "unknown table \"%.60s\"", name ? name : "(null)");
    return FSY_OK;
}

static int check_id(fsy_replica *r, const fsy_table *t, const char *id)
{
    if (!fsy__is_uuid(id))
        return fsy__err(r, FSY_EINVAL, "%s: \"%.40s\" is not a row id", t->name, id ? id : "");
    return FSY_OK;
}

/* A child row must point at a row the rep can see: a contact at a customer in the replica. */
static int check_parent(fsy_replica *r, const fsy_table *t, const cJSON *fields)
{
    if (!t->parent_field)
        return FSY_OK;
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(fields, t->parent_field);
    if (!cJSON_IsString(p))
        return FSY_OK;
    bool is_visit = strcmp(t->parent_field, "visit_id") == 0;
    sqlite3_stmt *st = NULL;
    int rc = fsy__stmt(r, is_visit ? FSY_STMT_VISIT_EXISTS : FSY_STMT_CUSTOMER_EXISTS, &st);
    if (rc != FSY_OK)
        return rc;
    sqlite3_bind_text(st, 1, p->valuestring, -1, SQLITE_STATIC);
    int s = sqlite3_step(st);
    fsy__stmt_release(st);
    if (s == SQLITE_DONE)
        return fsy__err(r, FSY_EINVAL, "%s.%s: %s %s is not on this device", t->name,
                        t->parent_field, is_visit ? "visits" : "customers", p->valuestring);
    return s == SQLITE_ROW ? FSY_OK : fsy__sqlerr(r, s, t->name);
}

static cJSON *object_or_parse(const char *text)
{
    return text ? cJSON_Parse(text) : cJSON_CreateObject();
}

static int journal_insert(fsy_replica *r, const fsy_table *t, const char *id, int op, int64_t hlc,
                          const char *fields, const char *bases, const char *hlcs)
{
    sqlite3_stmt *st = NULL;
    int rc = fsy__stmt(r, FSY_STMT_J_INSERT, &st);
    if (rc != FSY_OK)
        return rc;
    int64_t seq = r->next_seq++;
    sqlite3_bind_int64(st, 1, seq);
    sqlite3_bind_int(st, 2, t->index);
    sqlite3_bind_text(st, 3, id, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 4, op);
    sqlite3_bind_int64(st, 5, hlc);
    sqlite3_bind_text(st, 6, fields, -1, SQLITE_STATIC);
    if (bases)
        sqlite3_bind_text(st, 7, bases, -1, SQLITE_STATIC);
    if (hlcs)
        sqlite3_bind_text(st, 8, hlcs, -1, SQLITE_STATIC);
    int s = sqlite3_step(st);
    fsy__stmt_release(st);
    if (s != SQLITE_DONE)
        return fsy__sqlerr(r, s, "writing the journal");
    r->n_pending++;
    return FSY_OK;
}

/*
 * Fold an edit into the row's newest unexported pending entry: a field edited
 * again keeps the base of its first edit (DESIGN §4) and takes the new value and
 * clock; fields that were not edited again keep their own clocks in "hlcs".
 */
static int journal_merge(fsy_replica *r, int64_t seq, int op, int64_t old_hlc, const char *f_text,
                         const char *b_text, const char *h_text, const cJSON *fields,
                         const cJSON *vers, int64_t hlc)
{
    cJSON *ef = cJSON_Parse(f_text), *eb = object_or_parse(b_text), *eh = object_or_parse(h_text);
    char *pf = NULL, *pb = NULL, *ph = NULL;
    char hx[FSY_HLC_TEXT_LEN + 1];
    sqlite3_stmt *st = NULL;
    int rc = FSY_OK;

    if (!ef || !eb || !eh) {
        rc = fsy__err(r, FSY_ECORRUPT, "journal entry %lld is damaged", (long long)seq);
        goto done;
    }
    fsy__hlc_format(old_hlc, hx);
    for (cJSON *e = ef->child; e; e = e->next)
        if (!cJSON_GetObjectItemCaseSensitive(eh, e->string))
            cJSON_AddStringToObject(eh, e->string, hx);
    for (const cJSON *v = fields->child; v; v = v->next) {
        cJSON *dup = cJSON_Duplicate(v, true);
        if (!dup) {
            rc = fsy__err(r, FSY_ENOMEM, "out of memory");
            goto done;
        }
        if (cJSON_GetObjectItemCaseSensitive(ef, v->string)) {
            cJSON_ReplaceItemInObjectCaseSensitive(ef, v->string, dup);
        } else {
            cJSON_AddItemToObject(ef, v->string, dup);
            const cJSON *ver = cJSON_GetObjectItemCaseSensitive(vers, v->string);
            if (op != FSY_OP_CREATE && cJSON_IsNumber(ver) && ver->valuedouble > 0)
                cJSON_AddNumberToObject(eb, v->string, ver->valuedouble);
        }
        cJSON_DeleteItemFromObjectCaseSensitive(eh, v->string);
    }
    pf = fsy__json_print(ef);
    pb = eb->child ? fsy__json_print(eb) : NULL;
    ph = eh->child ? fsy__json_print(eh) : NULL;
    if (!pf || (eb->child && !pb) || (eh->child && !ph)) {
        rc = fsy__err(r, FSY_ENOMEM, "out of memory");
        goto done;
    }
    if ((rc = fsy__stmt(r, FSY_STMT_J_UPDATE_FIELDS, &st)) != FSY_OK)
        goto done;
    sqlite3_bind_int64(st, 1, seq);
    sqlite3_bind_int(st, 2, op);
    sqlite3_bind_int64(st, 3, hlc);
    sqlite3_bind_text(st, 4, pf, -1, SQLITE_STATIC);
    if (pb)
        sqlite3_bind_text(st, 5, pb, -1, SQLITE_STATIC);
    if (ph)
        sqlite3_bind_text(st, 6, ph, -1, SQLITE_STATIC);
    int s = sqlite3_step(st);
    if (s != SQLITE_DONE)
        rc = fsy__sqlerr(r, s, "writing the journal");
done:
    fsy__stmt_release(st);
    cJSON_Delete(ef);
    cJSON_Delete(eb);
    cJSON_Delete(eh);
    free(pf);
    free(pb);
    free(ph);
    return rc;
}

int fsy__local_write(fsy_replica *r, const fsy_table *t, const char *id, int op, cJSON *fields,
                     cJSON *view_row)
{
    fsy_confirmed c = {0};
    sqlite3_stmt *st = NULL;
    char *pf = NULL, *pb = NULL;
    cJSON *bases = NULL;
    int rc = FSY_OK;
    int64_t hlc = fsy__hlc_tick(r);

    if (op == FSY_OP_DELETE) {
        rc = fsy__view_remove(r, t, id);
    } else if (!view_row) {
        rc = fsy__view_update(r, t, id, fields); /* an edit: only its columns */
        if (rc == FSY_ENOTFOUND)
            fsy__err(r, rc, "%s %s is not on this device", t->name, id);
    } else {
        rc = fsy__view_store(r, t, id, view_row);
    }
    if (rc != FSY_OK)
        goto done;

    if (op != FSY_OP_CREATE) {
        if ((rc = fsy__confirmed_load(r, t, id, &c)) != FSY_OK)
            goto done;
        /* Compact into the newest pending entry unless it was already exported
         * (its body must stay byte-identical for a retry) or is a delete. */
        if ((rc = fsy__stmt(r, FSY_STMT_J_LAST_FOR_ROW, &st)) != FSY_OK)
            goto done;
        sqlite3_bind_int(st, 1, t->index);
        sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
        int s = sqlite3_step(st);
        if (s == SQLITE_ROW && sqlite3_column_int64(st, 0) > r->frozen_upto &&
            sqlite3_column_int(st, 1) != FSY_OP_DELETE && op == FSY_OP_UPDATE) {
            rc =
                journal_merge(r, sqlite3_column_int64(st, 0), sqlite3_column_int(st, 1),
                              sqlite3_column_int64(st, 2), (const char *)sqlite3_column_text(st, 3),
                              (const char *)sqlite3_column_text(st, 4),
                              (const char *)sqlite3_column_text(st, 5), fields, c.vers, hlc);
            goto done;
        }
        if (s != SQLITE_ROW && s != SQLITE_DONE) {
            rc = fsy__sqlerr(r, s, "reading the journal");
            goto done;
        }
        fsy__stmt_release(st);
        st = NULL;
        bases = cJSON_CreateObject();
        if (!bases) {
            rc = fsy__err(r, FSY_ENOMEM, "out of memory");
            goto done;
        }
        for (const cJSON *v = fields->child; v; v = v->next) {
            const cJSON *ver = cJSON_GetObjectItemCaseSensitive(c.vers, v->string);
            if (cJSON_IsNumber(ver) && ver->valuedouble > 0)
                cJSON_AddNumberToObject(bases, v->string, ver->valuedouble);
        }
        if (bases->child && !(pb = fsy__json_print(bases))) {
            rc = fsy__err(r, FSY_ENOMEM, "out of memory");
            goto done;
        }
    }
    if (!(pf = fsy__json_print(fields))) {
        rc = fsy__err(r, FSY_ENOMEM, "out of memory");
        goto done;
    }
    rc = journal_insert(r, t, id, op, hlc, pf, pb, NULL);
done:
    fsy__stmt_release(st);
    fsy__confirmed_clear(&c);
    cJSON_Delete(bases);
    free(pf);
    free(pb);
    return rc;
}

/* Run one local write as a transaction; roll back on any error. */
static int commit_write(fsy_replica *r, const fsy_table *t, const char *id, int op, cJSON *fields,
                        cJSON *row)
{
    int rc = fsy__tx_begin(r);
    if (rc != FSY_OK)
        return rc;
    int64_t pending_before = r->n_pending;
    rc = fsy__local_write(r, t, id, op, fields, row);
    if (rc == FSY_OK)
        rc = fsy__tx_commit(r);
    if (rc != FSY_OK) {
        fsy__tx_rollback(r);
        r->n_pending = pending_before;
    }
    return rc;
}

int fsy_replica_insert(fsy_replica *r, const char *table, const char *fields_json,
                       char id_out[FSY_ID_LEN + 1])
{
    const fsy_table *t;
    cJSON *fields = NULL, *row = NULL;
    char id[FSY_ID_LEN + 1];
    char err[FSY_ERRMSG_LEN];
    int rc;

    FSY_CHECK_ARG(r && r->db);
    fsy__err_clear(r);
    if ((rc = lookup_table(r, table, &t)) != FSY_OK ||
        (rc = parse_fields(r, fields_json, &fields)) != FSY_OK)
        goto done;
    if (t->author_field && !cJSON_GetObjectItemCaseSensitive(fields, t->author_field) && r->user[0])
        cJSON_AddStringToObject(fields, t->author_field, r->user);
    if (t->index == 2 && !cJSON_GetObjectItemCaseSensitive(fields, "status"))
        cJSON_AddStringToObject(fields, "status", "planned");
    if ((rc = fsy__schema_check_fields(t, fields, true, false, err, sizeof(err))) != FSY_OK) {
        fsy__err(r, rc, "%s", err);
        goto done;
    }
    if ((rc = check_parent(r, t, fields)) != FSY_OK || (rc = fsy__uuid_v7(r, id)) != FSY_OK)
        goto done;
    row = fields; /* the new row is exactly its fields */
    rc = commit_write(r, t, id, FSY_OP_CREATE, fields, row);
    if (rc == FSY_OK && id_out)
        memcpy(id_out, id, sizeof(id));
done:
    cJSON_Delete(fields);
    return rc;
}

static int update_fields(fsy_replica *r, const fsy_table *t, const char *id, cJSON *fields)
{
    char err[FSY_ERRMSG_LEN];
    int rc;

    if ((rc = fsy__schema_check_fields(t, fields, false, false, err, sizeof(err))) != FSY_OK)
        return fsy__err(r, rc, "%s", err);
    if (!fields->child)
        return fsy__err(r, FSY_EINVAL, "%s %s: no fields to change", t->name, id);
    if (t->parent_field && cJSON_GetObjectItemCaseSensitive(fields, t->parent_field) &&
        (rc = check_parent(r, t, fields)) != FSY_OK)
        return rc;
    if ((rc = fsy__tx_begin(r)) != FSY_OK)
        return rc;
    int64_t pending_before = r->n_pending;
    rc = fsy__local_write(r, t, id, FSY_OP_UPDATE, fields, NULL);
    if (rc == FSY_OK)
        rc = fsy__tx_commit(r);
    if (rc != FSY_OK) {
        fsy__tx_rollback(r);
        r->n_pending = pending_before;
    }
    return rc;
}

int fsy_replica_update(fsy_replica *r, const char *table, const char *id, const char *fields_json)
{
    const fsy_table *t;
    cJSON *fields = NULL;
    int rc;

    FSY_CHECK_ARG(r && r->db);
    fsy__err_clear(r);
    if ((rc = lookup_table(r, table, &t)) != FSY_OK || (rc = check_id(r, t, id)) != FSY_OK ||
        (rc = parse_fields(r, fields_json, &fields)) != FSY_OK)
        goto done;
    rc = update_fields(r, t, id, fields);
done:
    cJSON_Delete(fields);
    return rc;
}

int fsy_replica_delete(fsy_replica *r, const char *table, const char *id)
{
    const fsy_table *t;
    cJSON *fields = NULL, *row = NULL;
    int rc;

    FSY_CHECK_ARG(r && r->db);
    fsy__err_clear(r);
    if ((rc = lookup_table(r, table, &t)) != FSY_OK || (rc = check_id(r, t, id)) != FSY_OK)
        return rc;
    if (!(fields = cJSON_CreateObject()) || !cJSON_AddTrueToObject(fields, FSY_TOMBSTONE)) {
        rc = fsy__err(r, FSY_ENOMEM, "out of memory");
        goto done;
    }
    if ((rc = fsy__tx_begin(r)) != FSY_OK)
        goto done;
    int64_t pending_before = r->n_pending;
    rc = fsy__view_load(r, t, id, &row);
    if (rc == FSY_ENOTFOUND)
        fsy__err(r, rc, "%s %s is not on this device", t->name, id);
    if (rc == FSY_OK)
        rc = fsy__local_write(r, t, id, FSY_OP_DELETE, fields, NULL);
    if (rc == FSY_OK)
        rc = fsy__tx_commit(r);
    if (rc != FSY_OK) {
        fsy__tx_rollback(r);
        r->n_pending = pending_before;
    }
done:
    cJSON_Delete(row);
    cJSON_Delete(fields);
    return rc;
}

static int visit_load(fsy_replica *r, const char *visit_id, cJSON **row)
{
    const fsy_table *t = fsy__schema_table("visits");
    int rc = check_id(r, t, visit_id);
    if (rc != FSY_OK)
        return rc;
    rc = fsy__view_load(r, t, visit_id, row);
    if (rc == FSY_ENOTFOUND)
        fsy__err(r, rc, "visits %s is not on this device", visit_id);
    return rc;
}

static int add_position(fsy_replica *r, cJSON *fields, const char *lat_name, double lat,
                        const char *lon_name, double lon)
{
    if (isnan(lat) || isnan(lon)) {
        cJSON_AddNullToObject(fields, lat_name);
        cJSON_AddNullToObject(fields, lon_name);
        return FSY_OK;
    }
    if (!(lat >= -90 && lat <= 90 && lon >= -180 && lon <= 180))
        return fsy__err(r, FSY_EINVAL, "visits.%s/%s: position %g, %g is out of range", lat_name,
                        lon_name, lat, lon);
    cJSON_AddNumberToObject(fields, lat_name, lat);
    cJSON_AddNumberToObject(fields, lon_name, lon);
    return FSY_OK;
}

static const char *row_text(const cJSON *row, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(row, name);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

int fsy_visit_check_in(fsy_replica *r, const char *visit_id, double lat, double lon)
{
    cJSON *row = NULL, *fields = NULL;
    char now[48];
    int rc;

    FSY_CHECK_ARG(r && r->db);
    fsy__err_clear(r);
    if ((rc = visit_load(r, visit_id, &row)) != FSY_OK)
        goto done;
    const char *status = row_text(row, "status");
    if (status && (strcmp(status, "done") == 0 || strcmp(status, "cancelled") == 0)) {
        rc = fsy__err(r, FSY_EINVAL, "visits %s is %s: it cannot be checked in", visit_id, status);
        goto done;
    }
    if (row_text(row, "checkin_at")) {
        rc = fsy__err(r, FSY_EINVAL, "visits %s was already checked in at %s", visit_id,
                      row_text(row, "checkin_at"));
        goto done;
    }
    if (!(fields = cJSON_CreateObject())) {
        rc = fsy__err(r, FSY_ENOMEM, "out of memory");
        goto done;
    }
    fsy__format_time(fsy__now_ms(r), now);
    cJSON_AddStringToObject(fields, "checkin_at", now);
    if ((rc = add_position(r, fields, "checkin_lat", lat, "checkin_lon", lon)) != FSY_OK)
        goto done;
    cJSON_AddStringToObject(fields, "status", "in-progress");
    rc = update_fields(r, fsy__schema_table("visits"), visit_id, fields);
done:
    cJSON_Delete(row);
    cJSON_Delete(fields);
    return rc;
}

int fsy_visit_check_out(fsy_replica *r, const char *visit_id, double lat, double lon,
                        const char *fields_json)
{
    static const char *const owned[] = {"checkout_at", "checkout_lat", "checkout_lon", "status",
                                        "checkin_at",  "checkin_lat",  "checkin_lon"};
    cJSON *row = NULL, *fields = NULL;
    char now[48];
    int rc;

    FSY_CHECK_ARG(r && r->db);
    fsy__err_clear(r);
    if ((rc = visit_load(r, visit_id, &row)) != FSY_OK)
        goto done;
    if (fields_json) {
        if ((rc = parse_fields(r, fields_json, &fields)) != FSY_OK)
            goto done;
        for (size_t i = 0; i < sizeof(owned) / sizeof(owned[0]); i++)
            if (cJSON_GetObjectItemCaseSensitive(fields, owned[i])) {
                rc = fsy__err(r, FSY_EINVAL, "visits.%s is set by check-out itself", owned[i]);
                goto done;
            }
    } else if (!(fields = cJSON_CreateObject())) {
        rc = fsy__err(r, FSY_ENOMEM, "out of memory");
        goto done;
    }
    const char *status = row_text(row, "status");
    if (!row_text(row, "checkin_at") || !status || strcmp(status, "in-progress") != 0) {
        rc = fsy__err(r, FSY_EINVAL, "visits %s is not checked in (status %s)", visit_id,
                      status ? status : "none");
        goto done;
    }
    fsy__format_time(fsy__now_ms(r), now);
    cJSON_AddStringToObject(fields, "checkout_at", now);
    if ((rc = add_position(r, fields, "checkout_lat", lat, "checkout_lon", lon)) != FSY_OK)
        goto done;
    cJSON_AddStringToObject(fields, "status", "done");
    rc = update_fields(r, fsy__schema_table("visits"), visit_id, fields);
done:
    cJSON_Delete(row);
    cJSON_Delete(fields);
    return rc;
}
