/*
 * pull.c — serving a device the change log after its cursor, filtered to its
 * scope (docs/protocol.md, "Pull").
 *
 * Visibility is judged on the row as it is now. Whenever a row's visibility can
 * change (a customer moves territory, a note's info_level changes) push.c logs a
 * scope entry with the old attributes; here that entry becomes, per device,
 * a "gone" notice (was visible, is not), a whole-row snapshot with each field's
 * own version (was not, is now), or nothing. A customer takes its contacts,
 * visits and notes along. So a device never receives a row outside its scope
 * (DESIGN §8.4), and a row entering it arrives whole.
 */
#include "sync.h"
#include "fieldsync.h"
#include "hlc.h"
#include "schema.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct pull_ctx {
    fsy_sync *s;
    const fsy_user *u;
    cJSON *changes;
    int emitted;
    int limit;
    size_t bytes;
    int64_t upto;
    bool full;
    int rc;
    const fsy_logrec *rec; /* the scope entry being expanded */
} pull_ctx;

static void emit(pull_ctx *p, cJSON *c, size_t approx_bytes)
{
    cJSON_AddItemToArray(p->changes, c);
    p->emitted++;
    p->bytes += approx_bytes;
}

static void emit_gone(pull_ctx *p, int64_t q, const fsy_srow *row)
{
    cJSON *c = cJSON_CreateObject();
    cJSON_AddItemToObject(c, "q", fsy_sync_int(q));
    cJSON_AddStringToObject(c, "t", fsy__schema_table_at(row->tbl)->name);
    cJSON_AddStringToObject(c, "id", row->id);
    cJSON_AddTrueToObject(c, "gone");
    emit(p, c, 80);
}

static void emit_snapshot(pull_ctx *p, int64_t q, const fsy_srow *row)
{
    cJSON *c = cJSON_CreateObject(), *vs = cJSON_CreateObject();
    cJSON_AddItemToObject(c, "q", fsy_sync_int(q));
    cJSON_AddStringToObject(c, "t", fsy__schema_table_at(row->tbl)->name);
    cJSON_AddStringToObject(c, "id", row->id);
    cJSON_AddItemToObject(c, "f", cJSON_Duplicate(row->vals, true));
    for (const cJSON *m = row->meta->child; m; m = m->next)
        if (cJSON_IsArray(m))
            cJSON_AddItemToObject(vs, m->string,
                                  fsy_sync_int((int64_t)cJSON_GetArrayItem(m, 0)->valuedouble));
    cJSON_AddItemToObject(c, "vs", vs);
    emit(p, c, 600);
}

/* A scope move: compare visibility under the old attributes with the current. */
static int scope_one(pull_ctx *p, const fsy_srow *row, const char *old_territory, int old_level,
                     const char *old_owner)
{
    fsy_srow old = *row; /* shallow copy: only scope columns differ */
    snprintf(old.territory, sizeof(old.territory), "%s", old_territory);
    snprintf(old.owner, sizeof(old.owner), "%s", old_owner);
    old.info_level = old_level;
    bool was = fsy_sync_visible(p->u, &old), now = fsy_sync_visible(p->u, row);
    if (was && !now)
        emit_gone(p, p->rec->q, row);
    else if (!was && now)
        emit_snapshot(p, p->rec->q, row);
    return 0;
}

static int scope_child(const fsy_srow *child, void *ud)
{
    pull_ctx *p = ud;
    /* The child's level and owner at the time of the move are its current ones unless
     * info_level, or a visit's rep or a note's author, was written after the move (its
     * own scope entry comes later). Then what the device had is unknown here: send the
     * row whole if the device may see it now (harmless if it had it: versions only
     * rise), else "gone" if it may have seen it then (harmless if it did not: no
     * data). A note raised to level 4 after its customer moved, a visit handed to
     * another rep after it, both reach every device right (tests/torture R1, R3). */
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(child->meta, "info_level");
    bool level_later =
        cJSON_IsArray(m) && cJSON_GetArrayItem(m, 0)->valuedouble > (double)p->rec->q;
    const char *owner_field = child->tbl == 2 ? "rep" : child->tbl == 3 ? "author" : NULL;
    m = owner_field ? cJSON_GetObjectItemCaseSensitive(child->meta, owner_field) : NULL;
    bool owner_later =
        cJSON_IsArray(m) && cJSON_GetArrayItem(m, 0)->valuedouble > (double)p->rec->q;
    if (!level_later && !owner_later)
        return scope_one(p, child, p->rec->old_territory, child->info_level, child->owner);
    if (fsy_sync_visible(p->u, child)) {
        emit_snapshot(p, p->rec->q, child);
        return 0;
    }
    return scope_one(p, child, p->rec->old_territory, level_later ? 0 : child->info_level,
                     owner_later ? p->u->name : child->owner);
}

static int on_entry(const fsy_logrec *rec, void *ud)
{
    pull_ctx *p = ud;
    fsy_sync *s = p->s;
    if (p->emitted >= p->limit || p->bytes >= s->lim.pull_max_bytes) {
        p->full = true;
        return 1; /* stop: the rest comes in the next pull */
    }
    if (!rec->row_exists) {
        /* nothing to send */
    } else if (rec->kind == 'c') {
        /* Judged on the scope log_read joined in: no row load, no JSON parse. */
        fsy_srow scope;
        memset(&scope, 0, sizeof(scope));
        scope.tbl = rec->tbl;
        snprintf(scope.territory, sizeof(scope.territory), "%s", rec->territory);
        snprintf(scope.owner, sizeof(scope.owner), "%s", rec->owner);
        scope.info_level = rec->info_level;
        if (fsy_sync_visible(p->u, &scope)) {
            cJSON *c = cJSON_CreateObject();
            cJSON_AddItemToObject(c, "q", fsy_sync_int(rec->q));
            cJSON_AddStringToObject(c, "t", fsy__schema_table_at(rec->tbl)->name);
            cJSON_AddStringToObject(c, "id", rec->id);
            /* The log keeps the fields as push printed them: sent as they are, not
             * parsed and printed again (a fifth of a pull's CPU). */
            bool is_obj = rec->fields && rec->fields[0] == '{';
            cJSON_AddItemToObject(c, "f",
                                  is_obj ? cJSON_CreateRaw(rec->fields) : cJSON_CreateObject());
            cJSON_AddStringToObject(c, "h", rec->hlc);
            cJSON_AddStringToObject(c, "by", rec->user);
            emit(p, c, 100 + (rec->fields ? strlen(rec->fields) : 0));
        }
    } else if (rec->kind == 's') {
        fsy_srow row;
        fsy_srow_init(&row);
        int rc = s->ops->row_get(s->store, rec->tbl, rec->id, &row);
        if (rc != FSY_OK) {
            p->rc = rc;
            return 1;
        }
        cJSON *old = rec->fields ? cJSON_Parse(rec->fields) : NULL;
        const cJSON *il = cJSON_GetObjectItemCaseSensitive(old, "info_level");
        const cJSON *ow = cJSON_GetObjectItemCaseSensitive(old, "owner");
        int old_level = cJSON_IsNumber(il) ? (int)il->valuedouble : row.info_level;
        char old_owner[sizeof(row.owner)];
        /* Entries written before the owner was recorded: the owner did not change. */
        snprintf(old_owner, sizeof(old_owner), "%s",
                 cJSON_IsString(ow) ? ow->valuestring : row.owner);
        cJSON_Delete(old);
        p->rec = rec;
        if (row.exists)
            scope_one(p, &row, rec->old_territory, old_level, old_owner);
        if (row.exists && rec->tbl == 0 &&
            (rc = s->ops->rows_of_customer(s->store, rec->id, scope_child, p)) != FSY_OK) {
            p->rc = rc;
            fsy_srow_clear(&row);
            return 1;
        }
        fsy_srow_clear(&row);
    }
    p->upto = rec->pos;
    return 0;
}

int fsy_sync_pull(fsy_sync *s, fsy_device *dev, const fsy_user *u, int64_t after, int limit,
                  int64_t device_time_ms, char **out, fsy_api_error *err)
{
    pull_ctx p;
    cJSON *doc = NULL;
    int rc;
    *out = NULL;
    if (after < 0) {
        err->http = 400;
        err->code = "bad_cursor";
        snprintf(err->message, sizeof(err->message), "\"after\" must be 0 or a sequence number");
        return FSY_EINVAL;
    }
    if (limit <= 0)
        limit = s->lim.pull_default;
    if (limit > s->lim.pull_max)
        limit = s->lim.pull_max;
    memset(&p, 0, sizeof(p));
    p.s = s;
    p.u = u;
    p.limit = limit;
    p.upto = after;
    doc = cJSON_CreateObject();
    cJSON_AddNumberToObject(doc, "schema", FSY_SCHEMA_VERSION);
    p.changes = cJSON_CreateArray();

    if ((rc = s->ops->begin(s->store)) != FSY_OK)
        goto store_fail;
    /* The device as it is now, not as authentication read it before the transaction: a
     * push through another daemon may have raised its high-water mark, or `revoke` may
     * have run, since; writing back the older copy would undo either. */
    fsy_device fresh;
    if ((rc = s->ops->device_get(s->store, dev->id, &fresh)) != FSY_OK)
        goto store_fail_tx;
    if (fresh.revoked_ms) {
        s->ops->rollback(s->store);
        err->http = 401;
        err->code = "device_revoked";
        snprintf(err->message, sizeof(err->message),
                 "this device was revoked; wipe the local data and enroll again");
        cJSON_Delete(p.changes);
        cJSON_Delete(doc);
        return FSY_EINVAL;
    }
    snprintf(fresh.app_version, sizeof(fresh.app_version), "%s", dev->app_version);
    *dev = fresh;
    /* Scan in chunks. A rep's scan skips other territories' entries in the store; what
     * it examined without sending still advances upto, so the next pull starts after it. */
    fsy_log_scope scope = {u->territory, u->name};
    const fsy_log_scope *filter = u->role == FSY_ROLE_REP ? &scope : NULL;
    int64_t scanned_from = after;
    for (int round = 0; round < 64 && !p.full && !p.rc; round++) {
        int64_t seen = scanned_from;
        rc = s->ops->log_read(s->store, scanned_from, limit, filter, on_entry, &p, &seen);
        if (rc != FSY_OK && rc != 1)
            break;
        rc = FSY_OK;
        if (p.full || p.rc || seen <= scanned_from)
            break; /* a full page, an error, or the end of the log */
        if (seen > p.upto)
            p.upto = seen;
        scanned_from = seen;
    }
    if (p.rc)
        rc = p.rc;
    if (rc != FSY_OK)
        goto store_fail_tx;
    bool more = p.full || s->ops->log_max(s->store) > p.upto;
    /* `after` is what the device confirms it has applied. A device polling an idle log
     * changes nothing worth an fsync: its row is written when the cursor moves, the
     * skew moves by a second, or the last-sync time shown to supervisors is a minute
     * stale. */
    int64_t now = s->now_ms(), skew = device_time_ms > 0 ? device_time_ms - now : dev->skew_ms;
    bool changed = after > dev->cursor || now - dev->last_sync_ms >= 60000 ||
                   skew - dev->skew_ms >= 1000 || dev->skew_ms - skew >= 1000;
    if (after > dev->cursor)
        dev->cursor = after;
    dev->last_sync_ms = now;
    dev->skew_ms = skew;
    if (changed && (rc = s->ops->device_put(s->store, dev)) != FSY_OK)
        goto store_fail_tx;
    if (changed && s->has_report &&
        (rc = s->ops->device_report(s->store, dev->id, s->report_pending, s->report_parked, now)) !=
            FSY_OK)
        goto store_fail_tx;
    if ((rc = s->ops->commit(s->store)) != FSY_OK)
        goto store_fail_tx;

    char hx[FSY_HLC_TEXT_LEN + 1];
    fsy__hlc_format(fsy__hlc_make(dev->last_sync_ms, 0), hx);
    cJSON_AddItemToObject(doc, "upto", fsy_sync_int(p.upto));
    cJSON_AddBoolToObject(doc, "more", more);
    cJSON_AddStringToObject(doc, "hlc", hx);
    cJSON_AddItemToObject(doc, "changes", p.changes);
    p.changes = NULL;
    *out = cJSON_PrintUnformatted(doc);
    cJSON_Delete(doc);
    if (!*out) {
        err->http = 500;
        err->code = "out_of_memory";
        snprintf(err->message, sizeof(err->message), "out of memory");
        return FSY_ENOMEM;
    }
    return FSY_OK;
store_fail_tx:
    s->ops->rollback(s->store);
store_fail:
    err->http = rc == FSY_EBUSY ? 503 : 500;
    err->code = rc == FSY_EBUSY ? "store_busy" : "store_error";
    snprintf(err->message, sizeof(err->message), "%s", s->ops->errmsg(s->store));
    cJSON_Delete(p.changes);
    cJSON_Delete(doc);
    return rc;
}
