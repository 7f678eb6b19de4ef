/*
 * row.c — the two states of a row. The confirmed state is what the server last
 * told us (values and per-field server versions, unknown fields included); the
 * view (the customers/visits/… tables the UI reads) is the confirmed state with
 * the pending journal entries applied on top, in client_seq order.
 * fsy__row_recompute() restores exactly that after the confirmed state changes.
 */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int prepare_view(fsy_replica *r, const fsy_table *t)
{
    fsy_buf b = {0};
    int rc = FSY_OK;

    if (!r->view_insert[t->index]) {
        fsy__buf_printf(&b, "INSERT OR REPLACE INTO %s(id", t->name);
        for (int i = 0; i < t->n_fields; i++)
            fsy__buf_printf(&b, ", %s", t->fields[i].name);
        fsy__buf_puts(&b, ") VALUES(?1");
        for (int i = 0; i < t->n_fields; i++)
            fsy__buf_printf(&b, ", ?%d", i + 2);
        fsy__buf_puts(&b, ")");
        if (b.failed)
            return fsy__err(r, FSY_ENOMEM, "out of memory");
        int s = sqlite3_prepare_v3(r->db, b.data, -1, SQLITE_PREPARE_PERSISTENT,
                                   &r->view_insert[t->index], NULL);
        fsy__buf_free(&b);
        if (s != SQLITE_OK)
            return fsy__sqlerr(r, s, t->name);
    }
    if (!r->view_select[t->index]) {
        fsy__buf_puts(&b, "SELECT id");
        for (int i = 0; i < t->n_fields; i++)
            fsy__buf_printf(&b, ", %s", t->fields[i].name);
        fsy__buf_printf(&b, " FROM %s WHERE id = ?1", t->name);
        if (b.failed)
            return fsy__err(r, FSY_ENOMEM, "out of memory");
        int s = sqlite3_prepare_v3(r->db, b.data, -1, SQLITE_PREPARE_PERSISTENT,
                                   &r->view_select[t->index], NULL);
        fsy__buf_free(&b);
        if (s != SQLITE_OK)
            return fsy__sqlerr(r, s, t->name);
    }
    if (!r->view_delete[t->index]) {
        fsy__buf_printf(&b, "DELETE FROM %s WHERE id = ?1", t->name);
        if (b.failed)
            return fsy__err(r, FSY_ENOMEM, "out of memory");
        int s = sqlite3_prepare_v3(r->db, b.data, -1, SQLITE_PREPARE_PERSISTENT,
                                   &r->view_delete[t->index], NULL);
        fsy__buf_free(&b);
        if (s != SQLITE_OK)
            return fsy__sqlerr(r, s, t->name);
    }
    return rc;
}

int fsy__view_load(fsy_replica *r, const fsy_table *t, const char *id, cJSON **out)
{
    *out = NULL;
    int rc = prepare_view(r, t);
    if (rc != FSY_OK)
        return rc;
    sqlite3_stmt *st = r->view_select[t->index];
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    int s = sqlite3_step(st);
    if (s == SQLITE_DONE) {
        rc = FSY_ENOTFOUND;
        goto done;
    }
    if (s != SQLITE_ROW) {
        rc = fsy__sqlerr(r, s, t->name);
        goto done;
    }
    cJSON *row = cJSON_CreateObject();
    if (!row) {
        rc = fsy__err(r, FSY_ENOMEM, "out of memory");
        goto done;
    }
    cJSON_AddStringToObject(row, "id", (const char *)sqlite3_column_text(st, 0));
    for (int i = 0; i < t->n_fields; i++) {
        const fsy_field *f = &t->fields[i];
        int col = i + 1;
        switch (sqlite3_column_type(st, col)) {
        case SQLITE_NULL:
            cJSON_AddNullToObject(row, f->name);
            break;
        case SQLITE_INTEGER:
            cJSON_AddNumberToObject(row, f->name, (double)sqlite3_column_int64(st, col));
            break;
        case SQLITE_FLOAT:
            cJSON_AddNumberToObject(row, f->name, sqlite3_column_double(st, col));
            break;
        default:
            cJSON_AddStringToObject(row, f->name, (const char *)sqlite3_column_text(st, col));
        }
    }
    *out = row;
done:
    fsy__stmt_release(st);
    return rc;
}

static void bind_value(sqlite3_stmt *st, int col, const fsy_field *f, const cJSON *v)
{
    if (!v || cJSON_IsNull(v))
        sqlite3_bind_null(st, col);
    else if (cJSON_IsString(v))
        sqlite3_bind_text(st, col, v->valuestring, -1, SQLITE_STATIC);
    else if (cJSON_IsNumber(v) && f->type == FSY_T_INT)
        sqlite3_bind_int64(st, col, (sqlite3_int64)v->valuedouble);
    else if (cJSON_IsNumber(v))
        sqlite3_bind_double(st, col, v->valuedouble);
    else if (cJSON_IsBool(v))
        sqlite3_bind_int(st, col, cJSON_IsTrue(v));
    else
        sqlite3_bind_null(st, col); /* a shape this version cannot show */
}

int fsy__view_store(fsy_replica *r, const fsy_table *t, const char *id, const cJSON *row)
{
    int rc = prepare_view(r, t);
    if (rc != FSY_OK)
        return rc;
    sqlite3_stmt *st = r->view_insert[t->index];
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    for (int i = 0; i < t->n_fields; i++)
        bind_value(st, i + 2, &t->fields[i],
                   cJSON_GetObjectItemCaseSensitive(row, t->fields[i].name));
    int s = sqlite3_step(st);
    fsy__stmt_release(st);
    return s == SQLITE_DONE ? FSY_OK : fsy__sqlerr(r, s, t->name);
}

int fsy__view_update(fsy_replica *r, const fsy_table *t, const char *id, const cJSON *fields)
{
    uint32_t mask = 0;
    const cJSON *val[FSY_MAX_FIELDS] = {0};
    for (const cJSON *v = fields->child; v; v = v->next) {
        int i = fsy__schema_field_index(t, v->string);
        if (i < 0)
            return fsy__err(r, FSY_EINVAL, "%s has no field \"%.60s\"", t->name, v->string);
        mask |= 1u << i;
        val[i] = v;
    }
    sqlite3_stmt *st = NULL;
    for (int k = 0; k < r->n_view_update; k++)
        if (r->view_update[k].tbl == t->index && r->view_update[k].mask == mask)
            st = r->view_update[k].st;
    if (!st) {
        fsy_buf b = {0};
        int n = 0;
        fsy__buf_printf(&b, "UPDATE %s SET ", t->name);
        for (int i = 0; i < t->n_fields; i++)
            if (mask & (1u << i))
                fsy__buf_printf(&b, "%s%s = ?%d", n++ ? ", " : "", t->fields[i].name, i + 2);
        fsy__buf_puts(&b, " WHERE id = ?1");
        if (b.failed)
            return fsy__err(r, FSY_ENOMEM, "out of memory");
        int s = sqlite3_prepare_v3(r->db, b.data, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL);
        fsy__buf_free(&b);
        if (s != SQLITE_OK)
            return fsy__sqlerr(r, s, t->name);
        /* A small ring: the oldest statement makes room. */
        int slot = r->n_view_update < 16 ? r->n_view_update++ : (int)(mask % 16);
        sqlite3_finalize(r->view_update[slot].st);
        r->view_update[slot].tbl = t->index;
        r->view_update[slot].mask = mask;
        r->view_update[slot].st = st;
    }
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    for (int i = 0; i < t->n_fields; i++)
        if (mask & (1u << i))
            bind_value(st, i + 2, &t->fields[i], val[i]);
    int s = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (s != SQLITE_DONE)
        return fsy__sqlerr(r, s, t->name);
    return sqlite3_changes(r->db) == 0 ? FSY_ENOTFOUND : FSY_OK;
}

int fsy__view_remove(fsy_replica *r, const fsy_table *t, const char *id)
{
    int rc = prepare_view(r, t);
    if (rc != FSY_OK)
        return rc;
    sqlite3_stmt *st = r->view_delete[t->index];
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    int s = sqlite3_step(st);
    fsy__stmt_release(st);
    return s == SQLITE_DONE ? FSY_OK : fsy__sqlerr(r, s, t->name);
}

void fsy__confirmed_clear(fsy_confirmed *c)
{
    cJSON_Delete(c->vals);
    cJSON_Delete(c->vers);
    memset(c, 0, sizeof(*c));
}

int fsy__confirmed_load(fsy_replica *r, const fsy_table *t, const char *id, fsy_confirmed *out)
{
    sqlite3_stmt *st = NULL;
    memset(out, 0, sizeof(*out));
    int rc = fsy__stmt(r, FSY_STMT_CONF_GET, &st);
    if (rc != FSY_OK)
        return rc;
    sqlite3_bind_int(st, 1, t->index);
    sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
    int s = sqlite3_step(st);
    if (s == SQLITE_ROW) {
        out->exists = true;
        out->ver = sqlite3_column_int64(st, 0);
        out->state = sqlite3_column_int(st, 1);
        out->vals = cJSON_Parse((const char *)sqlite3_column_text(st, 2));
        out->vers = cJSON_Parse((const char *)sqlite3_column_text(st, 3));
        if (!out->vals || !out->vers)
            rc = fsy__err(r, FSY_ECORRUPT, "%s %s: confirmed state is damaged", t->name, id);
    } else if (s == SQLITE_DONE) {
        out->vals = cJSON_CreateObject();
        out->vers = cJSON_CreateObject();
        if (!out->vals || !out->vers)
            rc = fsy__err(r, FSY_ENOMEM, "out of memory");
    } else {
        rc = fsy__sqlerr(r, s, t->name);
    }
    fsy__stmt_release(st);
    if (rc != FSY_OK)
        fsy__confirmed_clear(out);
    return rc;
}

int fsy__confirmed_store(fsy_replica *r, const fsy_table *t, const char *id, const fsy_confirmed *c)
{
    sqlite3_stmt *st = NULL;
    char *vals = fsy__json_print(c->vals);
    char *vers = fsy__json_print(c->vers);
    int rc = FSY_OK;
    if (!vals || !vers) {
        rc = fsy__err(r, FSY_ENOMEM, "out of memory");
        goto done;
    }
    if ((rc = fsy__stmt(r, FSY_STMT_CONF_PUT, &st)) != FSY_OK)
        goto done;
    sqlite3_bind_int(st, 1, t->index);
    sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, c->ver);
    sqlite3_bind_int(st, 4, c->state);
    sqlite3_bind_text(st, 5, vals, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 6, vers, -1, SQLITE_STATIC);
    int s = sqlite3_step(st);
    fsy__stmt_release(st);
    if (s != SQLITE_DONE)
        rc = fsy__sqlerr(r, s, t->name);
done:
    free(vals);
    free(vers);
    return rc;
}

/* Overlay `fields` onto `row`, replacing values in place. */
static int overlay(fsy_replica *r, cJSON *row, const cJSON *fields)
{
    const cJSON *v;
    cJSON_ArrayForEach(v, fields)
    {
        if (strcmp(v->string, FSY_TOMBSTONE) == 0)
            continue;
        cJSON *dup = cJSON_Duplicate(v, true);
        if (!dup)
            return fsy__err(r, FSY_ENOMEM, "out of memory");
        if (cJSON_GetObjectItemCaseSensitive(row, v->string))
            cJSON_ReplaceItemInObjectCaseSensitive(row, v->string, dup);
        else
            cJSON_AddItemToObject(row, v->string, dup);
    }
    return FSY_OK;
}

/*
 * view(row) = confirmed(row) with every pending entry applied in seq order.
 * A pending create makes the row exist, a pending delete removes it; an update
 * never resurrects a row the server deleted or that left the device's scope
 * (it stays in the journal and is pushed, so the server can decide and record).
 */
int fsy__row_recompute(fsy_replica *r, const fsy_table *t, const char *id)
{
    fsy_confirmed c = {0};
    int rc = fsy__confirmed_load(r, t, id, &c);
    if (rc == FSY_OK)
        rc = fsy__row_recompute_with(r, t, id, &c);
    fsy__confirmed_clear(&c);
    return rc;
}

int fsy__row_recompute_with(fsy_replica *r, const fsy_table *t, const char *id,
                            const fsy_confirmed *c)
{
    cJSON *fields = NULL;
    sqlite3_stmt *st = NULL;
    int rc = FSY_OK;
    bool exists = c->exists && c->state == FSY_ROW_LIVE;
    cJSON *row = cJSON_Duplicate(c->vals, true);
    if (!row)
        return fsy__err(r, FSY_ENOMEM, "out of memory");

    if (r->n_pending > 0) {
        if ((rc = fsy__stmt(r, FSY_STMT_J_PENDING_FOR_ROW, &st)) != FSY_OK)
            goto done;
        sqlite3_bind_int(st, 1, t->index);
        sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
        int s;
        while ((s = sqlite3_step(st)) == SQLITE_ROW) {
            int op = sqlite3_column_int(st, 1);
            if (op == FSY_OP_DELETE) {
                exists = false;
                continue;
            }
            if (op == FSY_OP_CREATE)
                exists = true;
            fields = cJSON_Parse((const char *)sqlite3_column_text(st, 2));
            if (!fields) {
                rc = fsy__err(r, FSY_ECORRUPT, "%s %s: journal entry %lld is damaged", t->name, id,
                              (long long)sqlite3_column_int64(st, 0));
                goto done;
            }
            if ((rc = overlay(r, row, fields)) != FSY_OK)
                goto done;
            cJSON_Delete(fields);
            fields = NULL;
        }
        if (s != SQLITE_DONE) {
            rc = fsy__sqlerr(r, s, t->name);
            goto done;
        }
    }
    rc = exists ? fsy__view_store(r, t, id, row) : fsy__view_remove(r, t, id);
done:
    fsy__stmt_release(st);
    cJSON_Delete(fields);
    cJSON_Delete(row);
    return rc;
}

void fsy__format_time(int64_t ms, char out[48])
{
    /* Civil-from-days (proleptic Gregorian), so no gmtime_r/gmtime_s portability gap. */
    int64_t secs = ms >= 0 ? ms / 1000 : (ms - 999) / 1000;
    int msec = (int)(ms - secs * 1000);
    int64_t days = secs >= 0 ? secs / 86400 : (secs - 86399) / 86400;
    int64_t rem = secs - days * 86400;
    int64_t z = days + 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t y = yoe + era * 400;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    int64_t d = doy - (153 * mp + 2) / 5 + 1;
    int64_t m = mp < 10 ? mp + 3 : mp - 9;
    if (m <= 2)
        y++;
    snprintf(out, 48, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", (int)y, (int)m, (int)d,
             (int)(rem / 3600), (int)(rem / 60 % 60), (int)(rem % 60), msec);
}
