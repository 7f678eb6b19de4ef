/*
 * push.c — applying a device's push batch (docs/protocol.md, "Push" and
 * "Acknowledgement"). The whole batch runs in one store transaction together
 * with the device's high-water mark, so it is applied whole or not at all and a
 * retry returns the stored acknowledgement of each change.
 *
 * Merge rules, per field (DESIGN §4):
 *  M1 base == current version, or the current version was written by this same
 *     device → clean write (a device editing on top of its own unacknowledged
 *     value is not in conflict with itself).
 *  M2 otherwise a concurrent edit: the later hybrid clock wins, the device id
 *     breaks ties, and a conflict record keeps both values, authors and clocks.
 *  M3 a stored clock is bounded to server time + max_clock_ahead_ms, and the
 *     bounding is recorded, so a device far ahead cannot win every conflict.
 *  M4 an edit racing a delete is kept in the row's history and recorded as a
 *     conflict on the tombstone; the row stays deleted.
 */
#include "sync.h"
#include "fieldsync.h"
#include "hlc.h"
#include "schema.h"

#include <limits.h>
#include <mbedtls/sha256.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int64_t fsy_sync_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int api_err(fsy_api_error *e, int http, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int api_err(fsy_api_error *e, int http, const char *code, const char *fmt, ...)
{
    va_list ap;
    e->http = http;
    e->code = code;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof(e->message), fmt, ap);
    va_end(ap);
    return FSY_EINVAL;
}

static int store_err(fsy_sync *s, fsy_api_error *e, int rc)
{
    e->http = rc == FSY_EBUSY ? 503 : 500;
    e->code = rc == FSY_EBUSY ? "store_busy" : "store_error";
    snprintf(e->message, sizeof(e->message), "%s", s->ops->errmsg(s->store));
    return rc;
}

cJSON *fsy_sync_int(int64_t v)
{
    char digits[24];
    snprintf(digits, sizeof(digits), "%lld", (long long)v);
    cJSON *item = cJSON_CreateRaw(digits);
    if (item) {
        item->valuedouble = (double)v;
        item->valueint = v > INT_MAX ? INT_MAX : v < INT_MIN ? INT_MIN : (int)v;
    }
    return item;
}

static const char *jstr(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static bool is_int(const cJSON *v, double min)
{
    return cJSON_IsNumber(v) && v->valuedouble >= min && v->valuedouble <= 9007199254740991.0 &&
           v->valuedouble == (double)(int64_t)v->valuedouble;
}

bool fsy_sync_visible(const fsy_user *u, const fsy_srow *row)
{
    if (u->role == FSY_ROLE_ADMIN)
        return true;
    const fsy_table *t = fsy__schema_table_at(row->tbl);
    bool own = row->owner[0] && strcmp(row->owner, u->name) == 0;
    bool restricted = t && strcmp(t->name, "notes") == 0 && row->info_level >= 4;
    if (restricted && u->role == FSY_ROLE_REP && !own)
        return false;
    if (u->role == FSY_ROLE_SUPERVISOR)
        return true; /* the review API narrows supervisors to their team */
    return own || (u->territory[0] && strcmp(row->territory, u->territory) == 0);
}

/* ---- validation of the whole batch before anything is written ------------ */

static int validate_batch(fsy_sync *s, const fsy_device *dev, const cJSON *doc, fsy_api_error *err)
{
    const cJSON *schema = cJSON_GetObjectItemCaseSensitive(doc, "schema");
    if (!is_int(schema, 1))
        return api_err(err, 400, "bad_batch", "\"schema\" is missing or not a positive integer");
    if (!jstr(doc, "device") || strcmp(jstr(doc, "device"), dev->id) != 0)
        return api_err(err, 400, "device_mismatch",
                       "the batch names device \"%.40s\", the token belongs to %s",
                       jstr(doc, "device") ? jstr(doc, "device") : "", dev->id);
    const cJSON *changes = cJSON_GetObjectItemCaseSensitive(doc, "changes"), *ch;
    if (!cJSON_IsArray(changes))
        return api_err(err, 400, "bad_batch", "\"changes\" must be an array");
    int n = cJSON_GetArraySize(changes);
    if (n > s->lim.max_push_changes)
        return api_err(err, 413, "batch_too_large", "%d changes in one batch; the limit is %d", n,
                       s->lim.max_push_changes);
    int64_t prev = 0, hv;
    int i = 0;
    cJSON_ArrayForEach(ch, changes)
    {
        const cJSON *sq = cJSON_GetObjectItemCaseSensitive(ch, "s");
        const char *op = jstr(ch, "op");
        const cJSON *f = cJSON_GetObjectItemCaseSensitive(ch, "f");
        const cJSON *b = cJSON_GetObjectItemCaseSensitive(ch, "b");
        const cJSON *fh = cJSON_GetObjectItemCaseSensitive(ch, "fh"), *v;
        if (!cJSON_IsObject(ch) || !is_int(sq, 1))
            return api_err(err, 400, "bad_change", "change %d: \"s\" must be a positive integer",
                           i);
        if ((int64_t)sq->valuedouble <= prev)
            return api_err(err, 400, "bad_change", "change %d: \"s\" values must increase", i);
        prev = (int64_t)sq->valuedouble;
        if (!fsy__schema_table(jstr(ch, "t")))
            return api_err(err, 400, "bad_change", "change %d: unknown table \"%.40s\"", i,
                           jstr(ch, "t") ? jstr(ch, "t") : "");
        if (!fsy__is_uuid(jstr(ch, "id")))
            return api_err(err, 400, "bad_change", "change %d: \"id\" is not a row id", i);
        if (!op || (strcmp(op, "c") && strcmp(op, "u") && strcmp(op, "d")))
            return api_err(err, 400, "bad_change", "change %d: \"op\" must be c, u or d", i);
        if (!fsy__hlc_parse(jstr(ch, "h"), &hv))
            return api_err(err, 400, "bad_change", "change %d: \"h\" is not a clock value", i);
        if (!cJSON_IsObject(f) || !f->child)
            return api_err(err, 400, "bad_change", "change %d: \"f\" must be a non-empty object",
                           i);
        if (b && !cJSON_IsObject(b))
            return api_err(err, 400, "bad_change", "change %d: \"b\" must be an object", i);
        cJSON_ArrayForEach(v, b)
        {
            if (!is_int(v, 0))
                return api_err(err, 400, "bad_change", "change %d: base of %.60s is not a version",
                               i, v->string);
        }
        if (fh && !cJSON_IsObject(fh))
            return api_err(err, 400, "bad_change", "change %d: \"fh\" must be an object", i);
        cJSON_ArrayForEach(v, fh)
        {
            if (!fsy__hlc_parse(cJSON_IsString(v) ? v->valuestring : NULL, &hv))
                return api_err(err, 400, "bad_change",
                               "change %d: clock of %.60s is not a clock value", i, v->string);
        }
        i++;
    }
    return FSY_OK;
}

/* ---- merge ---------------------------------------------------------------- */

typedef struct push_ctx {
    fsy_sync *s;
    fsy_device *dev;
    const fsy_user *u;
    int64_t now;
    fsy_api_error *err;
} push_ctx;

static cJSON *rejected(push_ctx *p, int64_t seq, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static cJSON *rejected(push_ctx *p, int64_t seq, const char *code, const char *fmt, ...)
{
    char msg[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    cJSON *res = cJSON_CreateObject();
    cJSON_AddNumberToObject(res, "s", (double)seq);
    cJSON_AddFalseToObject(res, "ok");
    cJSON_AddStringToObject(res, "code", code);
    cJSON_AddStringToObject(res, "msg", msg);
    p->s->stats.rejections++;
    return res;
}

static void set_item(cJSON *obj, const char *k, cJSON *v)
{
    if (cJSON_GetObjectItemCaseSensitive(obj, k))
        cJSON_ReplaceItemInObjectCaseSensitive(obj, k, v);
    else
        cJSON_AddItemToObject(obj, k, v);
}

/* A parent row for judging scope: its scope columns suffice, and the store can read just
 * those (on PostgreSQL under a shared lock that a concurrent move of it respects). */
static int parent_get(fsy_sync *s, int tbl, const char *id, fsy_srow *out)
{
    if (s->ops->version >= 3 && s->ops->row_scope)
        return s->ops->row_scope(s->store, tbl, id, out);
    return s->ops->row_get(s->store, tbl, id, out);
}

/* Fill the row's scope columns from its values and its customer's. */
static int derive_scope(fsy_sync *s, fsy_srow *row, char *why, size_t whylen)
{
    const fsy_table *t = fsy__schema_table_at(row->tbl);
    const char *parent = t->parent_field ? jstr(row->vals, t->parent_field) : NULL;
    row->info_level = 0;
    if (row->tbl == 0) {
        snprintf(row->territory, sizeof(row->territory), "%s",
                 jstr(row->vals, "territory") ? jstr(row->vals, "territory") : "");
        snprintf(row->owner, sizeof(row->owner), "%s",
                 jstr(row->vals, "owner") ? jstr(row->vals, "owner") : "");
        row->customer_id[0] = '\0';
        return FSY_OK;
    }
    fsy_srow up;
    fsy_srow_init(&up);
    int rc = parent_get(s, row->tbl == 4 ? 2 : 0, parent ? parent : "", &up);
    if (rc != FSY_OK)
        return rc;
    if (!up.exists) {
        snprintf(why, whylen, "%s %s: its %s %s does not exist on the server", t->name, row->id,
                 row->tbl == 4 ? "visit" : "customer", parent ? parent : "(none)");
        fsy_srow_clear(&up);
        return FSY_ENOTFOUND;
    }
    snprintf(row->territory, sizeof(row->territory), "%s", up.territory);
    snprintf(row->customer_id, sizeof(row->customer_id), "%s",
             row->tbl == 4 ? up.customer_id : parent);
    const char *owner = row->tbl == 2   ? jstr(row->vals, "rep")
                        : row->tbl == 3 ? jstr(row->vals, "author")
                        : row->tbl == 4 ? up.owner
                                        : "";
    snprintf(row->owner, sizeof(row->owner), "%s", owner ? owner : "");
    if (row->tbl == 3) {
        const cJSON *il = cJSON_GetObjectItemCaseSensitive(row->vals, "info_level");
        row->info_level = cJSON_IsNumber(il) ? (int)il->valuedouble : 0;
    }
    fsy_srow_clear(&up);
    return FSY_OK;
}

/* A customer whose territory changed takes its children along (pull.c sends notices). */
typedef struct move_ctx {
    fsy_sync *s;
    const char *territory;
} move_ctx;

static int move_child(const fsy_srow *child, void *ud)
{
    move_ctx *m = ud;
    fsy_srow c = *child; /* shallow: row_put only reads */
    snprintf(c.territory, sizeof(c.territory), "%s", m->territory);
    return m->s->ops->row_put(m->s->store, &c);
}

static int log_scope(fsy_sync *s, const fsy_srow *before, const fsy_srow *after, const char *dev,
                     const char *user, const char *hlc, int64_t now)
{
    /* The owner counts too: a rep sees their own records in any territory. */
    if (strcmp(before->territory, after->territory) == 0 &&
        before->info_level == after->info_level && strcmp(before->owner, after->owner) == 0)
        return FSY_OK;
    fsy_logrec rec;
    memset(&rec, 0, sizeof(rec));
    rec.kind = 's';
    rec.tbl = after->tbl;
    snprintf(rec.id, sizeof(rec.id), "%s", after->id);
    snprintf(rec.device, sizeof(rec.device), "%s", dev);
    snprintf(rec.user, sizeof(rec.user), "%s", user);
    snprintf(rec.hlc, sizeof(rec.hlc), "%s", hlc);
    snprintf(rec.old_territory, sizeof(rec.old_territory), "%s", before->territory);
    cJSON *old = cJSON_CreateObject();
    cJSON_AddNumberToObject(old, "info_level", before->info_level);
    cJSON_AddStringToObject(old, "owner", before->owner);
    char *old_text = cJSON_PrintUnformatted(old);
    cJSON_Delete(old);
    rec.fields = old_text;
    rec.at_ms = now;
    int rc = old_text ? s->ops->log_append(s->store, &rec) : FSY_ENOMEM;
    free(old_text);
    if (rc == FSY_OK && after->tbl == 0) {
        move_ctx m = {s, after->territory};
        rc = s->ops->rows_of_customer(s->store, after->id, move_child, &m);
    }
    return rc;
}

/* Authorization of one change against the row as the server has it (before merge). */
static cJSON *authorize(push_ctx *p, int64_t seq, const fsy_table *t, const fsy_srow *row,
                        const cJSON *f, bool creating)
{
    const fsy_user *u = p->u;
    if (u->role == FSY_ROLE_ADMIN)
        return NULL;
    if (t->index == 4 && u->role == FSY_ROLE_REP)
        return rejected(p, seq, "forbidden", "reviews %s: only supervisors write reviews", row->id);
    if (!creating && !fsy_sync_visible(u, row))
        return rejected(p, seq, "out_of_scope", "%s %s is outside %s's scope (territory %s)",
                        t->name, row->id, u->name, row->territory);
    if (u->role == FSY_ROLE_REP && t->index == 0 && !creating &&
        cJSON_GetObjectItemCaseSensitive(f, "territory") &&
        strcmp(jstr(f, "territory") ? jstr(f, "territory") : "", row->territory) != 0)
        return rejected(p, seq, "forbidden",
                        "customers %s: moving a customer to another territory is for "
                        "supervisors",
                        row->id);
    if (u->role == FSY_ROLE_REP && t->author_field && creating) {
        const char *who = jstr(f, t->author_field);
        if (who && strcmp(who, u->name) != 0)
            return rejected(p, seq, "forbidden", "%s %s: %s cannot write as %s", t->name, row->id,
                            u->name, who);
    }
    return NULL;
}

static char *print_json(const cJSON *v)
{
    return v ? cJSON_PrintUnformatted(v) : NULL;
}

static cJSON *merge_change(push_ctx *p, const cJSON *ch, int *rc_out)
{
    fsy_sync *s = p->s;
    int64_t seq = (int64_t)cJSON_GetObjectItemCaseSensitive(ch, "s")->valuedouble;
    const fsy_table *t = fsy__schema_table(jstr(ch, "t"));
    const char *id = jstr(ch, "id"), *op = jstr(ch, "op");
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(ch, "f");
    const cJSON *b = cJSON_GetObjectItemCaseSensitive(ch, "b");
    const cJSON *fh = cJSON_GetObjectItemCaseSensitive(ch, "fh");
    char why[300];
    int64_t h;
    fsy_srow row, before;
    cJSON *res = NULL, *written = NULL, *conflicts = NULL, *hl = NULL;
    fsy_srow_init(&row);
    fsy_srow_init(&before);
    *rc_out = FSY_OK;

    /* Values: the same rules as on the tablet; fields from newer clients are kept. */
    bool is_delete = strcmp(op, "d") == 0;
    if (is_delete) {
        if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(f, FSY_TOMBSTONE)) ||
            cJSON_GetArraySize(f) != 1) {
            res = rejected(p, seq, "invalid", "%s %s: a delete carries only %s: true", t->name, id,
                           FSY_TOMBSTONE);
            goto done;
        }
    } else {
        /* A tombstone gets its own message below, after the fields' checks; those must
         * not see it. Copied only when it is there: a copy of a visit's fields is some
         * 40 allocations, and a push rarely carries one. */
        cJSON *check =
            cJSON_GetObjectItemCaseSensitive(f, FSY_TOMBSTONE) ? cJSON_Duplicate(f, true) : NULL;
        if (check)
            cJSON_DeleteItemFromObjectCaseSensitive(check, FSY_TOMBSTONE);
        int vrc = fsy__schema_check_fields(t, check ? check : f, false, true, why, sizeof(why));
        cJSON_Delete(check);
        if (vrc != FSY_OK) {
            res = rejected(p, seq, vrc == FSY_ETOOBIG ? "too_big" : "invalid", "%s", why);
            goto done;
        }
        if (cJSON_GetObjectItemCaseSensitive(f, FSY_TOMBSTONE)) {
            res = rejected(p, seq, "invalid", "%s %s: %s is only set by a delete", t->name, id,
                           FSY_TOMBSTONE);
            goto done;
        }
    }
    int rc = s->ops->row_get(s->store, t->index, id, &row);
    if (rc != FSY_OK) {
        *rc_out = rc;
        goto done;
    }
    bool creating = !row.exists;
    if (creating && strcmp(op, "c") != 0) {
        res = rejected(p, seq, "unknown_row", "%s %s does not exist on the server", t->name, id);
        goto done;
    }
    if (creating) {
        int vrc = fsy__schema_check_fields(t, f, true, true, why, sizeof(why));
        if (vrc != FSY_OK) {
            res = rejected(p, seq, "invalid", "%s", why);
            goto done;
        }
    }
    /* Scope is judged on the row as it is and as it would be. */
    if ((res = authorize(p, seq, t, &row, f, creating)) != NULL)
        goto done;
    before = row;
    before.vals = cJSON_Duplicate(row.vals, true);
    before.meta = NULL;

    fsy__hlc_parse(jstr(ch, "h"), &h);
    written = cJSON_CreateObject();
    conflicts = cJSON_CreateArray();
    bool deleted = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(row.vals, FSY_TOMBSTONE));
    int64_t bound = fsy__hlc_make(p->now + s->lim.max_clock_ahead_ms, 0xffff);
    bool clamped_any = false;
    hl = cJSON_CreateObject(); /* the clock stored for each written field */

    for (const cJSON *v = f->child; v; v = v->next) {
        const cJSON *bv = cJSON_GetObjectItemCaseSensitive(b, v->string);
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(row.meta, v->string);
        int64_t base = cJSON_IsNumber(bv) ? (int64_t)bv->valuedouble : 0;
        int64_t cur = cJSON_IsArray(m) ? (int64_t)cJSON_GetArrayItem(m, 0)->valuedouble : 0;
        const char *cur_dev = cJSON_IsArray(m) ? cJSON_GetArrayItem(m, 1)->valuestring : "";
        const char *cur_h = cJSON_IsArray(m) ? cJSON_GetArrayItem(m, 2)->valuestring : "";
        const char *cur_user = cJSON_IsArray(m) ? cJSON_GetArrayItem(m, 3)->valuestring : "";
        int64_t mine = h;
        if (jstr(fh, v->string))
            fsy__hlc_parse(jstr(fh, v->string), &mine);
        bool clamped = mine > bound; /* M3 */
        if (clamped) {
            mine = bound;
            clamped_any = true;
        }
        char mine_hex[FSY_HLC_TEXT_LEN + 1];
        fsy__hlc_format(mine, mine_hex);

        if (base == cur || strcmp(cur_dev, p->dev->id) == 0) { /* M1 */
            cJSON_AddItemToObject(written, v->string, cJSON_Duplicate(v, true));
            cJSON_AddStringToObject(hl, v->string, mine_hex);
            continue;
        }
        int64_t theirs = 0;
        fsy__hlc_parse(cur_h, &theirs);
        bool mine_wins = mine > theirs || (mine == theirs && strcmp(p->dev->id, cur_dev) > 0);
        const cJSON *their_val = cJSON_GetObjectItemCaseSensitive(row.vals, v->string);
        cJSON *c = cJSON_CreateObject();
        cJSON_AddStringToObject(c, "f", v->string);
        cJSON_AddStringToObject(c, "win", mine_wins ? "mine" : "theirs");
        cJSON_AddItemToObject(c, "theirs",
                              their_val ? cJSON_Duplicate(their_val, true) : cJSON_CreateNull());
        cJSON_AddNumberToObject(c, "ver", (double)cur);
        cJSON_AddStringToObject(c, "by", cur_user);
        cJSON_AddStringToObject(c, "dev", cur_dev);
        cJSON_AddStringToObject(c, "h", cur_h);
        cJSON_AddItemToArray(conflicts, c);
        if (mine_wins) {
            cJSON_AddItemToObject(written, v->string, cJSON_Duplicate(v, true));
            cJSON_AddStringToObject(hl, v->string, mine_hex);
        }
    }
    if (deleted && !is_delete) { /* M4 */
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(row.meta, FSY_TOMBSTONE);
        cJSON *c = cJSON_CreateObject();
        cJSON_AddStringToObject(c, "f", FSY_TOMBSTONE);
        cJSON_AddStringToObject(c, "win", "theirs");
        cJSON_AddTrueToObject(c, "theirs");
        cJSON_AddNumberToObject(
            c, "ver", cJSON_IsArray(m) ? cJSON_GetArrayItem(m, 0)->valuedouble : (double)row.ver);
        cJSON_AddStringToObject(c, "by",
                                cJSON_IsArray(m) ? cJSON_GetArrayItem(m, 3)->valuestring : "");
        cJSON_AddStringToObject(c, "dev",
                                cJSON_IsArray(m) ? cJSON_GetArrayItem(m, 1)->valuestring : "");
        cJSON_AddStringToObject(c, "h",
                                cJSON_IsArray(m) ? cJSON_GetArrayItem(m, 2)->valuestring : "");
        cJSON_AddItemToArray(conflicts, c);
    }

    int64_t v = 0;
    if (written->child) {
        for (const cJSON *w = written->child; w; w = w->next)
            set_item(row.vals, w->string, cJSON_Duplicate(w, true));
        row.exists = true;
        /* Scope is judged on the row as it would be, before anything is stored. */
        rc = derive_scope(s, &row, why, sizeof(why));
        if (rc == FSY_ENOTFOUND) {
            res = rejected(p, seq, "unknown_parent", "%s", why);
            goto done;
        }
        if (rc != FSY_OK) {
            *rc_out = rc;
            goto done;
        }
        if (p->u->role == FSY_ROLE_REP && !fsy_sync_visible(p->u, &row)) {
            res =
                rejected(p, seq, "out_of_scope", "%s %s would be outside %s's scope (territory %s)",
                         t->name, id, p->u->name, row.territory);
            goto done;
        }
        if (p->u->role == FSY_ROLE_REP && creating) {
            /* Own records stay visible, but naming oneself owner or author must not
             * widen the scope: a rep creates customers in their territory only, and
             * children only under a customer they can see. */
            bool in_scope = false;
            if (t->index == 0) {
                in_scope = strcmp(row.territory, p->u->territory) == 0;
            } else {
                fsy_srow cust;
                fsy_srow_init(&cust);
                rc = parent_get(s, 0, row.customer_id, &cust);
                in_scope = rc == FSY_OK && cust.exists && fsy_sync_visible(p->u, &cust);
                fsy_srow_clear(&cust);
                if (rc != FSY_OK) {
                    *rc_out = rc;
                    goto done;
                }
            }
            if (!in_scope) {
                res = rejected(p, seq, "out_of_scope", "%s %s is in territory %s; %s works %s",
                               t->name, id, row.territory, p->u->name, p->u->territory);
                goto done;
            }
        }
        char *ftext = print_json(written);
        fsy_logrec rec;
        memset(&rec, 0, sizeof(rec));
        rec.kind = 'c';
        rec.tbl = t->index;
        snprintf(rec.id, sizeof(rec.id), "%s", id);
        snprintf(rec.device, sizeof(rec.device), "%s", p->dev->id);
        snprintf(rec.user, sizeof(rec.user), "%s", p->u->name);
        fsy__hlc_format(h > bound ? bound : h, rec.hlc);
        rec.fields = ftext;
        rec.at_ms = p->now;
        snprintf(rec.territory, sizeof(rec.territory), "%s", row.territory);
        snprintf(rec.owner, sizeof(rec.owner), "%s", row.owner);
        rc = ftext ? s->ops->log_append(s->store, &rec) : FSY_ENOMEM;
        free(ftext);
        if (rc != FSY_OK) {
            *rc_out = rc;
            goto done;
        }
        v = rec.q;
        /* The row's new field versions are only printed into the store (row_put), so
         * their strings are references to the device, the clock and the user, which
         * outlive row here: three allocations a field fewer. */
        for (const cJSON *w = written->child; w; w = w->next) {
            cJSON *m = cJSON_CreateArray();
            cJSON_AddItemToArray(m, fsy_sync_int(v));
            cJSON_AddItemToArray(m, cJSON_CreateStringReference(p->dev->id));
            cJSON_AddItemToArray(m, cJSON_CreateStringReference(jstr(hl, w->string)));
            cJSON_AddItemToArray(m, cJSON_CreateStringReference(p->u->name));
            set_item(row.meta, w->string, m);
            s->stats.changes_applied++;
        }
        row.ver = v;
        if ((rc = s->ops->row_put(s->store, &row)) != FSY_OK ||
            (!creating && (rc = log_scope(s, &before, &row, p->dev->id, p->u->name, rec.hlc,
                                          p->now)) != FSY_OK)) {
            *rc_out = rc;
            goto done;
        }
    }
    /* Conflict records: both values, both authors, both clocks. */
    const cJSON *c;
    cJSON_ArrayForEach(c, conflicts)
    {
        const char *fname = jstr(c, "f");
        bool mine_won = strcmp(jstr(c, "win"), "mine") == 0;
        const cJSON *my_val = cJSON_GetObjectItemCaseSensitive(f, fname);
        char *mine_txt = print_json(my_val ? my_val : f);
        char *their_txt = print_json(cJSON_GetObjectItemCaseSensitive(c, "theirs"));
        fsy_conflict rec;
        memset(&rec, 0, sizeof(rec));
        rec.tbl = t->index;
        snprintf(rec.id, sizeof(rec.id), "%s", id);
        snprintf(rec.field, sizeof(rec.field), "%s", fname);
        rec.kept = mine_won ? mine_txt : their_txt;
        rec.other = mine_won ? their_txt : mine_txt;
        const char *their_dev = jstr(c, "dev"), *their_user = jstr(c, "by");
        char their_h[17], my_h[17];
        snprintf(their_h, sizeof(their_h), "%s", jstr(c, "h") ? jstr(c, "h") : "");
        fsy__hlc_format(h, my_h);
        snprintf(mine_won ? rec.kept_device : rec.other_device, 37, "%s", p->dev->id);
        snprintf(mine_won ? rec.kept_user : rec.other_user, 101, "%s", p->u->name);
        snprintf(mine_won ? rec.kept_hlc : rec.other_hlc, 17, "%s", my_h);
        snprintf(mine_won ? rec.other_device : rec.kept_device, 37, "%s", their_dev);
        snprintf(mine_won ? rec.other_user : rec.kept_user, 101, "%s", their_user);
        snprintf(mine_won ? rec.other_hlc : rec.kept_hlc, 17, "%s", their_h);
        rec.q = v ? v : row.ver;
        rec.at_ms = p->now;
        rec.clock_clamped = clamped_any;
        rc = s->ops->conflict_put(s->store, &rec);
        free(mine_txt);
        free(their_txt);
        if (rc != FSY_OK) {
            *rc_out = rc;
            goto done;
        }
        s->stats.conflicts++;
    }
    if (clamped_any) {
        char detail[160];
        snprintf(detail, sizeof(detail), "clock of change %lld bounded to server time + %lld ms",
                 (long long)seq, (long long)s->lim.max_clock_ahead_ms);
        s->ops->event_put(s->store, "clock_bounded", p->dev->id, detail, p->now);
        s->stats.clock_clamps++;
    }
    res = cJSON_CreateObject();
    cJSON_AddItemToObject(res, "s", fsy_sync_int(seq));
    cJSON_AddTrueToObject(res, "ok");
    cJSON_AddItemToObject(res, "v", fsy_sync_int(v));
    if (conflicts->child) {
        cJSON_AddItemToObject(res, "c", conflicts);
        conflicts = NULL;
    }
done:
    fsy_srow_clear(&row); /* first: its field versions point into hl */
    cJSON_Delete(hl);
    cJSON_Delete(written);
    cJSON_Delete(conflicts);
    cJSON_Delete(before.vals);
    return res;
}

static void change_hash(const cJSON *ch, unsigned char out[32])
{
    char *txt = cJSON_PrintUnformatted(ch);
    memset(out, 0, 32);
    if (txt)
        mbedtls_sha256_ret((const unsigned char *)txt, strlen(txt), out, 0);
    free(txt);
}

static void security_event(fsy_sync *s, const char *kind, const char *device, const char *detail)
{
    /* Its own transaction: the refused batch was rolled back, the event must stay. */
    if (s->ops->begin(s->store) == FSY_OK) {
        if (s->ops->event_put(s->store, kind, device, detail, s->now_ms()) == FSY_OK)
            s->ops->commit(s->store);
        else
            s->ops->rollback(s->store);
    }
    s->stats.security_events++;
    fprintf(stderr, "fieldsyncd: security event %s device %s: %s\n", kind, device, detail);
}

int fsy_sync_server_write(fsy_sync *s, const fsy_user *u, const char *table, const char *id,
                          const cJSON *fields, int64_t *version_out, fsy_api_error *err)
{
    const fsy_table *t = fsy__schema_table(table);
    fsy_device web;
    fsy_srow row;
    char hlc[FSY_HLC_TEXT_LEN + 1];
    cJSON *ch = NULL, *res = NULL;
    int rc;

    *version_out = 0;
    if (!t || !fsy__is_uuid(id) || !cJSON_IsObject(fields) || !fields->child)
        return api_err(err, 400, "bad_request",
                       "a server write needs a table, a row id and fields");
    memset(&web, 0, sizeof(web));
    snprintf(web.id, sizeof(web.id), "%s", FSY_SYNC_WEB_DEVICE);
    snprintf(web.user, sizeof(web.user), "%s", u->name);
    fsy_srow_init(&row);
    if ((rc = s->ops->row_get(s->store, t->index, id, &row)) != FSY_OK)
        return store_err(s, err, rc);
    push_ctx p = {s, &web, u, s->now_ms(), err};
    fsy__hlc_format(fsy__hlc_make(p.now, 0), hlc);
    ch = cJSON_CreateObject();
    cJSON_AddNumberToObject(ch, "s", 1);
    cJSON_AddStringToObject(ch, "t", t->name);
    cJSON_AddStringToObject(ch, "id", id);
    cJSON_AddStringToObject(ch, "op", row.exists ? "u" : "c");
    cJSON_AddStringToObject(ch, "h", hlc);
    cJSON_AddItemToObject(ch, "f", cJSON_Duplicate(fields, true));
    cJSON *b = cJSON_AddObjectToObject(ch, "b");
    for (const cJSON *v = fields->child; v; v = v->next) {
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(row.meta, v->string);
        cJSON_AddNumberToObject(b, v->string,
                                cJSON_IsArray(m) ? cJSON_GetArrayItem(m, 0)->valuedouble : 0);
    }
    fsy_srow_clear(&row);
    res = merge_change(&p, ch, &rc);
    if (rc != FSY_OK) {
        store_err(s, err, rc);
        goto out;
    }
    if (!res) {
        rc = api_err(err, 500, "out_of_memory", "out of memory");
        goto out;
    }
    if (cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(res, "ok"))) {
        const char *code = jstr(res, "code");
        rc = api_err(err, code && strcmp(code, "forbidden") == 0 ? 403 : 400,
                     code && strcmp(code, "invalid") == 0 ? "invalid" : "rejected", "%s",
                     jstr(res, "msg") ? jstr(res, "msg") : "refused");
        goto out;
    }
    *version_out = (int64_t)cJSON_GetObjectItemCaseSensitive(res, "v")->valuedouble;
    rc = FSY_OK;
out:
    cJSON_Delete(res);
    cJSON_Delete(ch);
    return rc;
}

/* Lock every row the batch writes up front and in the store's order (PostgreSQL,
 * several daemons): locking them one by one in batch order lets two batches that touch
 * the same rows in opposite orders deadlock, which costs a second's wait and a 503.
 * Parents are only read, under a shared lock (row_scope), so they are left out. */
static int lock_batch_rows(fsy_sync *s, const cJSON *doc)
{
    if (s->ops->version < 3 || !s->ops->lock_rows)
        return FSY_OK;
    const cJSON *changes = cJSON_GetObjectItemCaseSensitive(doc, "changes"), *ch;
    int cap = cJSON_GetArraySize(changes), n = 0;
    if (cap == 0)
        return FSY_OK;
    int *tbls = malloc(sizeof(int) * (size_t)cap);
    const char **ids = malloc(sizeof(char *) * (size_t)cap);
    if (!tbls || !ids) {
        free(tbls);
        free(ids);
        return FSY_ENOMEM;
    }
    cJSON_ArrayForEach(ch, changes)
    {
        const fsy_table *t = fsy__schema_table(jstr(ch, "t"));
        tbls[n] = t->index;
        ids[n++] = jstr(ch, "id");
    }
    int rc = s->ops->lock_rows(s->store, n, tbls, ids);
    free(tbls);
    free(ids);
    return rc;
}

int fsy_sync_push(fsy_sync *s, fsy_device *dev, const fsy_user *u, const char *body, size_t len,
                  int64_t device_time_ms, char **ack_out, fsy_api_error *err)
{
    cJSON *doc = NULL, *ack = NULL, *results;
    const cJSON *ch;
    char *stored = NULL;
    int rc;
    push_ctx p = {s, dev, u, s->now_ms(), err};
    *ack_out = NULL;

    doc = cJSON_ParseWithLength(body, len);
    if (!doc || !cJSON_IsObject(doc)) {
        cJSON_Delete(doc);
        return api_err(err, 400, "bad_json", "the push body is not a JSON object");
    }
    if ((rc = validate_batch(s, dev, doc, err)) != FSY_OK)
        goto out;
    ack = cJSON_CreateObject();
    cJSON_AddNumberToObject(ack, "schema", FSY_SCHEMA_VERSION);
    results = cJSON_AddArrayToObject(ack, "results");

    if ((rc = s->ops->begin(s->store)) != FSY_OK) {
        store_err(s, err, rc);
        goto out;
    }
    /* Re-read the device inside the transaction: another request may have moved it. */
    if ((rc = s->ops->device_get(s->store, dev->id, dev)) != FSY_OK)
        goto fail_store;
    if ((rc = lock_batch_rows(s, doc)) != FSY_OK)
        goto fail_store;
    cJSON_ArrayForEach(ch, cJSON_GetObjectItemCaseSensitive(doc, "changes"))
    {
        int64_t seq = (int64_t)cJSON_GetObjectItemCaseSensitive(ch, "s")->valuedouble;
        unsigned char hash[32], old_hash[32];
        change_hash(ch, hash);
        if (seq <= dev->hwm) {
            /* Exactly once: a change we already applied gets its stored result. */
            rc = s->ops->result_get(s->store, dev->id, seq, old_hash, &stored);
            if (rc == FSY_OK && memcmp(hash, old_hash, 32) != 0) {
                s->ops->rollback(s->store);
                char detail[128];
                snprintf(detail, sizeof(detail), "client_seq %lld resent with a different body",
                         (long long)seq);
                security_event(s, "seq_reused", dev->id, detail);
                rc = api_err(err, 409, "seq_reused",
                             "change %lld was already applied with a different body; this "
                             "device's journal does not match the server's record",
                             (long long)seq);
                goto out;
            }
            if (rc == FSY_OK) {
                cJSON *res = cJSON_Parse(stored);
                free(stored);
                stored = NULL;
                if (res)
                    cJSON_AddItemToArray(results, res);
                continue;
            }
            if (rc != FSY_ENOTFOUND)
                goto fail_store;
            /* Pruned long ago: the device cannot be waiting for it any more. */
            cJSON *res = cJSON_CreateObject();
            cJSON_AddNumberToObject(res, "s", (double)seq);
            cJSON_AddTrueToObject(res, "ok");
            cJSON_AddNumberToObject(res, "v", 0);
            cJSON_AddItemToArray(results, res);
            continue;
        }
        cJSON *res = merge_change(&p, ch, &rc);
        if (rc != FSY_OK) {
            cJSON_Delete(res);
            goto fail_store;
        }
        char *txt = cJSON_PrintUnformatted(res);
        rc = txt ? s->ops->result_put(s->store, dev->id, seq, hash, txt) : FSY_ENOMEM;
        free(txt);
        cJSON_AddItemToArray(results, res);
        if (rc != FSY_OK)
            goto fail_store;
        dev->hwm = seq;
    }
    dev->last_sync_ms = p.now;
    if (device_time_ms > 0)
        dev->skew_ms = device_time_ms - p.now;
    if ((rc = s->ops->device_put(s->store, dev)) != FSY_OK)
        goto fail_store;
    if (s->has_report && (rc = s->ops->device_report(s->store, dev->id, s->report_pending,
                                                     s->report_parked, p.now)) != FSY_OK)
        goto fail_store;
    if ((rc = s->ops->commit(s->store)) != FSY_OK)
        goto fail_store;
    /* No server clock in the acknowledgement: a retry must get identical bytes.
     * The device learns the server clock from pulls. */
    *ack_out = cJSON_PrintUnformatted(ack);
    rc = *ack_out ? FSY_OK : api_err(err, 500, "out_of_memory", "out of memory");
    goto out;
fail_store:
    store_err(s, err, rc);
    s->ops->rollback(s->store);
out:
    free(stored);
    cJSON_Delete(ack);
    cJSON_Delete(doc);
    return rc;
}
