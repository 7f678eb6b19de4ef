/*
 * sync.c — the device side of the protocol (docs/protocol.md): exporting the
 * pending journal as push batches, applying the server's acknowledgements and
 * applying pulled batches. Every apply validates the whole document first and
 * then changes the replica in one transaction, so a bad batch changes nothing.
 *
 * Invariants (DESIGN §8, cited by number in tests/unit/sync):
 *  S1 view = confirmed state + pending entries in seq order (fsy__row_recompute).
 *  S2 a field's confirmed value only moves to a higher server version, so
 *     re-applying any batch or acknowledgement changes nothing.
 *  S3 an exported entry is never rewritten: a retried push is byte-identical.
 *  S4 a refused entry is parked with its reason, never dropped.
 */
#include "internal.h"
#include "hlc.h"

#include <stdlib.h>
#include <string.h>

static const char *op_name(int op)
{
    return op == FSY_OP_CREATE ? "c" : op == FSY_OP_DELETE ? "d" : "u";
}

int fsy_push_export(fsy_replica *r, int max_changes, size_t max_bytes, char **out, size_t *len_out,
                    int *n_out)
{
    sqlite3_stmt *st = NULL;
    fsy_buf b = {0};
    char hx[FSY_HLC_TEXT_LEN + 1];
    int n = 0, rc;
    int64_t last_seq = 0;

    FSY_CHECK_ARG(r && r->db && out);
    fsy__err_clear(r);
    *out = NULL;
    if (len_out)
        *len_out = 0;
    if (n_out)
        *n_out = 0;
    if (!r->device_id[0])
        return fsy__err(r, FSY_EMISUSE, "device is not enrolled: no device id to push as");
    if (max_changes <= 0)
        max_changes = 500;
    if (max_bytes == 0)
        max_bytes = 1u << 20;

    if ((rc = fsy__tx_begin(r)) != FSY_OK)
        return rc;
    int s = sqlite3_prepare_v2(r->db,
                               "SELECT seq, tbl, id, op, hlc, fields, bases, hlcs FROM fsy_journal"
                               " WHERE state = 0 ORDER BY seq LIMIT ?1",
                               -1, &st, NULL);
    if (s != SQLITE_OK) {
        rc = fsy__sqlerr(r, s, "reading the journal");
        goto done;
    }
    sqlite3_bind_int(st, 1, max_changes);
    fsy__buf_printf(&b, "{\"schema\":%d,\"device\":", FSY_SCHEMA_VERSION);
    fsy__buf_json_string(&b, r->device_id);
    fsy__buf_puts(&b, ",\"changes\":[");
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        const fsy_table *t = fsy__schema_table_at(sqlite3_column_int(st, 1));
        if (!t) {
            rc = fsy__err(r, FSY_ECORRUPT, "journal entry %lld names an unknown table",
                          (long long)sqlite3_column_int64(st, 0));
            goto done;
        }
        size_t mark = b.len;
        /* Not last_seq yet: a change that does not fit must not be frozen (S3 is
         * for what was exported; rebase_later still has to reach the rest). */
        int64_t seq = sqlite3_column_int64(st, 0);
        fsy__hlc_format(sqlite3_column_int64(st, 4), hx);
        fsy__buf_printf(&b, "%s{\"s\":%lld,\"t\":\"%s\",\"id\":\"%s\",\"op\":\"%s\",\"h\":\"%s\"",
                        n ? "," : "", (long long)seq, t->name,
                        (const char *)sqlite3_column_text(st, 2),
                        op_name(sqlite3_column_int(st, 3)), hx);
        fsy__buf_puts(&b, ",\"f\":");
        fsy__buf_puts(&b, (const char *)sqlite3_column_text(st, 5));
        if (sqlite3_column_type(st, 6) != SQLITE_NULL) {
            fsy__buf_puts(&b, ",\"b\":");
            fsy__buf_puts(&b, (const char *)sqlite3_column_text(st, 6));
        }
        if (sqlite3_column_type(st, 7) != SQLITE_NULL) {
            fsy__buf_puts(&b, ",\"fh\":");
            fsy__buf_puts(&b, (const char *)sqlite3_column_text(st, 7));
        }
        fsy__buf_puts(&b, "}");
        if (n > 0 && b.len + 2 > max_bytes) {
            b.len = mark; /* this change starts the next batch */
            b.data[mark] = '\0';
            break;
        }
        n++;
        last_seq = seq;
    }
    if (s != SQLITE_ROW && s != SQLITE_DONE) {
        rc = fsy__sqlerr(r, s, "reading the journal");
        goto done;
    }
    sqlite3_finalize(st);
    st = NULL;
    if (n == 0)
        goto done;
    /* Freeze what was exported (S3): later edits of these rows become new entries.
     * Everything pending now is frozen at once, not just this batch, so the
     * following batches of the same sync need no write and no fsync of their own;
     * an entry frozen early only misses compaction until it is sent. */
    if (last_seq > r->frozen_upto) {
        int64_t head = 0;
        sqlite3_stmt *mx = NULL;
        s = sqlite3_prepare_v2(r->db, "SELECT max(seq) FROM fsy_journal", -1, &mx, NULL);
        if (s == SQLITE_OK && sqlite3_step(mx) == SQLITE_ROW)
            head = sqlite3_column_int64(mx, 0);
        sqlite3_finalize(mx);
        if (head < last_seq)
            head = last_seq;
        if ((rc = fsy__meta_set_int(r, "fsy.frozen_upto", head)) != FSY_OK)
            goto done;
        last_seq = head;
    }
    fsy__buf_puts(&b, "]}");
    if (b.failed) {
        rc = fsy__err(r, FSY_ENOMEM, "out of memory building a push batch");
        goto done;
    }
    if ((rc = fsy__tx_commit(r)) != FSY_OK)
        goto done;
    if (last_seq > r->frozen_upto)
        r->frozen_upto = last_seq;
    if (len_out)
        *len_out = b.len;
    if (n_out)
        *n_out = n;
    *out = fsy__buf_take(&b);
    return FSY_OK;
done:
    sqlite3_finalize(st);
    fsy__tx_rollback(r);
    fsy__buf_free(&b);
    return rc;
}

/* ---- shared validation helpers ---------------------------------------- */

static bool is_int(const cJSON *v, double min)
{
    return cJSON_IsNumber(v) && v->valuedouble >= min && v->valuedouble <= 9007199254740991.0 &&
           v->valuedouble == (double)(int64_t)v->valuedouble;
}

static int check_schema(fsy_replica *r, const cJSON *doc, const char *what)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(doc, "schema");
    if (!is_int(v, 1))
        return fsy__err(r, FSY_EINVAL, "%s: \"schema\" is missing or not a positive integer", what);
    return FSY_OK;
}

static const char *str_item(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* ---- acknowledgements -------------------------------------------------- */

static int validate_ack(fsy_replica *r, const cJSON *doc, const cJSON **results_out)
{
    int rc = check_schema(r, doc, "acknowledgement");
    if (rc != FSY_OK)
        return rc;
    const cJSON *results = cJSON_GetObjectItemCaseSensitive(doc, "results");
    if (!cJSON_IsArray(results))
        return fsy__err(r, FSY_EINVAL, "acknowledgement: \"results\" must be an array");
    const char *h = str_item(doc, "hlc");
    int64_t hv;
    if (cJSON_GetObjectItemCaseSensitive(doc, "hlc") && !fsy__hlc_parse(h, &hv))
        return fsy__err(r, FSY_EINVAL, "acknowledgement: \"hlc\" is not a clock value");
    int i = 0;
    const cJSON *res;
    cJSON_ArrayForEach(res, results)
    {
        const cJSON *ok = cJSON_GetObjectItemCaseSensitive(res, "ok");
        if (!cJSON_IsObject(res) || !is_int(cJSON_GetObjectItemCaseSensitive(res, "s"), 1) ||
            !cJSON_IsBool(ok))
            return fsy__err(r, FSY_EINVAL,
                            "acknowledgement: result %d needs \"s\" (a sequence number) and "
                            "\"ok\" (true or false)",
                            i);
        if (cJSON_IsTrue(ok)) {
            if (!is_int(cJSON_GetObjectItemCaseSensitive(res, "v"), 0))
                return fsy__err(r, FSY_EINVAL,
                                "acknowledgement: result %d is accepted without a version \"v\"",
                                i);
            const cJSON *cs = cJSON_GetObjectItemCaseSensitive(res, "c"), *c;
            if (cs && !cJSON_IsArray(cs))
                return fsy__err(r, FSY_EINVAL, "acknowledgement: result %d: \"c\" must be an array",
                                i);
            cJSON_ArrayForEach(c, cs)
            {
                const char *win = str_item(c, "win");
                if (!str_item(c, "f") || !win ||
                    (strcmp(win, "mine") != 0 && strcmp(win, "theirs") != 0) ||
                    !cJSON_GetObjectItemCaseSensitive(c, "theirs") ||
                    (strcmp(win, "theirs") == 0 &&
                     !is_int(cJSON_GetObjectItemCaseSensitive(c, "ver"), 1)))
                    return fsy__err(r, FSY_EINVAL,
                                    "acknowledgement: result %d has a malformed conflict", i);
            }
        } else if (!str_item(res, "code") || !str_item(res, "msg")) {
            return fsy__err(r, FSY_EINVAL,
                            "acknowledgement: refused result %d needs \"code\" and \"msg\"", i);
        }
        i++;
    }
    *results_out = results;
    return FSY_OK;
}

static int set_ver(fsy_confirmed *c, const char *field, const cJSON *value, int64_t ver)
{
    const cJSON *have = cJSON_GetObjectItemCaseSensitive(c->vers, field);
    if (cJSON_IsNumber(have) && (int64_t)have->valuedouble >= ver)
        return 0; /* S2: never move a field back to an older server version */
    cJSON *dup = cJSON_Duplicate(value, true);
    cJSON *num = cJSON_CreateNumber((double)ver);
    if (!dup || !num) {
        cJSON_Delete(dup);
        cJSON_Delete(num);
        return -1;
    }
    if (cJSON_GetObjectItemCaseSensitive(c->vals, field))
        cJSON_ReplaceItemInObjectCaseSensitive(c->vals, field, dup);
    else
        cJSON_AddItemToObject(c->vals, field, dup);
    if (have)
        cJSON_ReplaceItemInObjectCaseSensitive(c->vers, field, num);
    else
        cJSON_AddItemToObject(c->vers, field, num);
    return 1;
}

static void derive_state(fsy_confirmed *c)
{
    c->state = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(c->vals, FSY_TOMBSTONE))
                   ? FSY_ROW_DELETED
                   : FSY_ROW_LIVE;
}

static int record_conflict(fsy_replica *r, const fsy_table *t, const char *id, const cJSON *cf,
                           const cJSON *mine, int64_t seq)
{
    sqlite3_stmt *st = NULL;
    char *pm = mine ? fsy__json_print(mine) : NULL;
    char *pt = fsy__json_print(cJSON_GetObjectItemCaseSensitive(cf, "theirs"));
    int rc = FSY_OK;
    int s;
    if ((rc = fsy__stmt(r, FSY_STMT_CONFLICT_INSERT, &st)) != FSY_OK)
        goto done;
    sqlite3_bind_int(st, 1, t->index);
    sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, str_item(cf, "f"), -1, SQLITE_STATIC);
    if (pm)
        sqlite3_bind_text(st, 4, pm, -1, SQLITE_STATIC);
    if (pt)
        sqlite3_bind_text(st, 5, pt, -1, SQLITE_STATIC);
    if (str_item(cf, "by"))
        sqlite3_bind_text(st, 6, str_item(cf, "by"), -1, SQLITE_STATIC);
    if (str_item(cf, "dev"))
        sqlite3_bind_text(st, 7, str_item(cf, "dev"), -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 8, str_item(cf, "win"), -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 9, seq);
    sqlite3_bind_int64(st, 10, fsy__now_ms(r));
    s = sqlite3_step(st);
    if (s != SQLITE_DONE)
        rc = fsy__sqlerr(r, s, "recording a conflict");
done:
    fsy__stmt_release(st);
    free(pm);
    free(pt);
    return rc;
}

/*
 * Trap "your own acknowledged edit is not a conflict": a later, not yet exported
 * edit of a field this change won was made on top of our own value, so its base
 * becomes the version the server just gave that field.
 */
static int rebase_later(fsy_replica *r, const fsy_table *t, const char *id, const cJSON *won,
                        int64_t v)
{
    sqlite3_stmt *sel = NULL, *upd = NULL;
    cJSON *fields = NULL, *bases = NULL;
    char *pb = NULL;
    int rc = FSY_OK, s;
    if (!won->child)
        return FSY_OK;
    if ((rc = fsy__stmt(r, FSY_STMT_J_LATER_FOR_ROW, &sel)) != FSY_OK ||
        (rc = fsy__stmt(r, FSY_STMT_J_SET_BASES, &upd)) != FSY_OK)
        goto done;
    sqlite3_bind_int(sel, 1, t->index);
    sqlite3_bind_text(sel, 2, id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(sel, 3, r->frozen_upto);
    while ((s = sqlite3_step(sel)) == SQLITE_ROW) {
        fields = cJSON_Parse((const char *)sqlite3_column_text(sel, 1));
        bases = sqlite3_column_type(sel, 2) == SQLITE_NULL
                    ? cJSON_CreateObject()
                    : cJSON_Parse((const char *)sqlite3_column_text(sel, 2));
        if (!fields || !bases) {
            rc = fsy__err(r, FSY_ECORRUPT, "journal entry %lld is damaged",
                          (long long)sqlite3_column_int64(sel, 0));
            goto done;
        }
        bool changed = false;
        for (const cJSON *f = fields->child; f; f = f->next) {
            if (!cJSON_GetObjectItemCaseSensitive(won, f->string))
                continue;
            cJSON_DeleteItemFromObjectCaseSensitive(bases, f->string);
            cJSON_AddNumberToObject(bases, f->string, (double)v);
            changed = true;
        }
        if (changed) {
            if (!(pb = fsy__json_print(bases))) {
                rc = fsy__err(r, FSY_ENOMEM, "out of memory");
                goto done;
            }
            sqlite3_bind_int64(upd, 1, sqlite3_column_int64(sel, 0));
            sqlite3_bind_text(upd, 2, pb, -1, SQLITE_STATIC);
            s = sqlite3_step(upd);
            sqlite3_reset(upd);
            if (s != SQLITE_DONE) {
                rc = fsy__sqlerr(r, s, "rebasing pending edits");
                goto done;
            }
            free(pb);
            pb = NULL;
        }
        cJSON_Delete(fields);
        cJSON_Delete(bases);
        fields = bases = NULL;
    }
    if (s != SQLITE_DONE)
        rc = fsy__sqlerr(r, s, "rebasing pending edits");
done:
    fsy__stmt_release(sel);
    fsy__stmt_release(upd);
    cJSON_Delete(fields);
    cJSON_Delete(bases);
    free(pb);
    return rc;
}

/* Whether other pending entries of the row exist besides `seq`. */
static int others_pending(fsy_replica *r, const fsy_table *t, const char *id, int64_t seq,
                          bool *out)
{
    sqlite3_stmt *st = NULL;
    int rc = fsy__stmt(r, FSY_STMT_J_OTHERS_FOR_ROW, &st);
    if (rc != FSY_OK)
        return rc;
    sqlite3_bind_int(st, 1, t->index);
    sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, seq);
    int s = sqlite3_step(st);
    fsy__stmt_release(st);
    *out = s == SQLITE_ROW;
    return s == SQLITE_ROW || s == SQLITE_DONE ? FSY_OK : fsy__sqlerr(r, s, "reading the journal");
}

/*
 * view_ok_out: whether the view already equals the new confirmed state once the
 * entry leaves the journal (S1 without a recompute): every field took our value,
 * nothing was lost, the row is live and no other edit of it is pending. That is
 * the common case, and skipping the recompute halves the cost of an ack.
 */
static int apply_accepted(fsy_replica *r, const fsy_table *t, const char *id, int64_t seq,
                          const cJSON *fields, const cJSON *res, bool *view_ok_out)
{
    fsy_confirmed c = {0};
    bool all_applied = true, others = true, was_gone = false;
    *view_ok_out = false;
    cJSON *won = cJSON_CreateObject();
    int64_t v = (int64_t)cJSON_GetObjectItemCaseSensitive(res, "v")->valuedouble;
    const cJSON *conflicts = cJSON_GetObjectItemCaseSensitive(res, "c");
    int rc = won ? fsy__confirmed_load(r, t, id, &c) : fsy__err(r, FSY_ENOMEM, "out of memory");
    if (rc != FSY_OK)
        goto done;

    /* The server removed the row from our scope after this write: its word stands. */
    if (c.exists && c.state == FSY_ROW_GONE && c.ver >= v)
        goto recompute;
    /* Accepted after the removal: the row is back in our scope, but not in the view,
     * which the shortcut below takes for granted. */
    was_gone = c.state == FSY_ROW_GONE;
    if (was_gone) {
        cJSON_Delete(c.vals);
        cJSON_Delete(c.vers);
        c.vals = cJSON_CreateObject();
        c.vers = cJSON_CreateObject();
        if (!c.vals || !c.vers) {
            rc = fsy__err(r, FSY_ENOMEM, "out of memory");
            goto done;
        }
    }
    for (const cJSON *f = fields->child; f; f = f->next) {
        const cJSON *lost = NULL, *cf;
        cJSON_ArrayForEach(cf, conflicts)
        {
            if (strcmp(str_item(cf, "f"), f->string) == 0 &&
                strcmp(str_item(cf, "win"), "theirs") == 0)
                lost = cf;
        }
        int ok = lost ? set_ver(&c, f->string, cJSON_GetObjectItemCaseSensitive(lost, "theirs"),
                                (int64_t)cJSON_GetObjectItemCaseSensitive(lost, "ver")->valuedouble)
                      : set_ver(&c, f->string, f, v);
        all_applied &= ok == 1 && !lost;
        if (ok < 0 || (!lost && !cJSON_AddTrueToObject(won, f->string))) {
            rc = fsy__err(r, FSY_ENOMEM, "out of memory");
            goto done;
        }
    }
    const cJSON *cf;
    cJSON_ArrayForEach(cf, conflicts)
    {
        rc = record_conflict(r, t, id, cf,
                             cJSON_GetObjectItemCaseSensitive(fields, str_item(cf, "f")), v);
        if (rc != FSY_OK)
            goto done;
    }
    c.exists = true;
    if (v > c.ver)
        c.ver = v;
    derive_state(&c);
    if ((rc = fsy__confirmed_store(r, t, id, &c)) != FSY_OK)
        goto done;
    if ((rc = others_pending(r, t, id, seq, &others)) != FSY_OK)
        goto done;
    if (others && v > 0 && (rc = rebase_later(r, t, id, won, v)) != FSY_OK)
        goto done;
    *view_ok_out = all_applied && !others && c.state == FSY_ROW_LIVE && !was_gone;
recompute:
    (void)seq; /* the caller recomputes the view once the entry has left the journal */
done:
    fsy__confirmed_clear(&c);
    cJSON_Delete(won);
    return rc;
}

static int apply_result(fsy_replica *r, const cJSON *res)
{
    sqlite3_stmt *st = NULL;
    cJSON *fields = NULL;
    char id[FSY_ID_LEN + 1];
    int64_t seq = (int64_t)cJSON_GetObjectItemCaseSensitive(res, "s")->valuedouble;
    int rc = fsy__stmt(r, FSY_STMT_J_GET, &st);
    if (rc != FSY_OK)
        return rc;
    sqlite3_bind_int64(st, 1, seq);
    int s = sqlite3_step(st);
    if (s == SQLITE_DONE || (s == SQLITE_ROW && sqlite3_column_int(st, 7) != FSY_JS_PENDING)) {
        fsy__stmt_release(st); /* already applied: a repeated acknowledgement is a no-op */
        return FSY_OK;
    }
    if (s != SQLITE_ROW) {
        rc = fsy__sqlerr(r, s, "reading the journal");
        fsy__stmt_release(st);
        return rc;
    }
    const fsy_table *t = fsy__schema_table_at(sqlite3_column_int(st, 0));
    fsy__strlcpy(id, (const char *)sqlite3_column_text(st, 1), sizeof(id));
    fields = cJSON_Parse((const char *)sqlite3_column_text(st, 4));
    fsy__stmt_release(st);
    if (!t || !fields) {
        rc = fsy__err(r, FSY_ECORRUPT, "journal entry %lld is damaged", (long long)seq);
        goto done;
    }

    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(res, "ok"))) {
        bool view_ok = false;
        if ((rc = apply_accepted(r, t, id, seq, fields, res, &view_ok)) != FSY_OK)
            goto done;
        if ((rc = fsy__stmt(r, FSY_STMT_J_DELETE, &st)) != FSY_OK)
            goto done;
        sqlite3_bind_int64(st, 1, seq);
        s = sqlite3_step(st);
        fsy__stmt_release(st);
        if (s != SQLITE_DONE) {
            rc = fsy__sqlerr(r, s, "updating the journal");
            goto done;
        }
        r->n_pending--;
        if (!view_ok)
            rc = fsy__row_recompute(r, t, id);
    } else {
        sqlite3_stmt *p = NULL;
        if ((rc = fsy__stmt(r, FSY_STMT_J_PARK, &p)) != FSY_OK)
            goto done;
        sqlite3_bind_int64(p, 1, seq);
        sqlite3_bind_text(p, 2, str_item(res, "code"), -1, SQLITE_STATIC);
        sqlite3_bind_text(p, 3, str_item(res, "msg"), -1, SQLITE_STATIC);
        s = sqlite3_step(p);
        fsy__stmt_release(p);
        if (s != SQLITE_DONE) {
            rc = fsy__sqlerr(r, s, "parking a refused change");
            goto done;
        }
        r->n_pending--;
        rc = fsy__row_recompute(r, t, id); /* S4: its values revert to the confirmed state */
    }
done:
    cJSON_Delete(fields);
    return rc;
}

int fsy_push_apply_ack(fsy_replica *r, const char *json, size_t len)
{
    cJSON *doc = NULL;
    const cJSON *results, *res;
    int rc;

    FSY_CHECK_ARG(r && r->db);
    fsy__err_clear(r);
    if ((rc = fsy__json_parse_object(r, json, len, "acknowledgement", &doc)) != FSY_OK ||
        (rc = validate_ack(r, doc, &results)) != FSY_OK)
        goto done;
    if ((rc = fsy__tx_begin(r)) != FSY_OK)
        goto done;
    int64_t pending_before = r->n_pending, hlc_before = r->hlc;
    int64_t h;
    if (fsy__hlc_parse(str_item(doc, "hlc"), &h))
        fsy__hlc_observe(r, h);
    cJSON_ArrayForEach(res, results)
    {
        if ((rc = apply_result(r, res)) != FSY_OK)
            break;
    }
    if (rc == FSY_OK)
        rc = fsy__replica_save_floors(r);
    if (rc == FSY_OK)
        rc = fsy__tx_commit(r);
    if (rc != FSY_OK) {
        fsy__tx_rollback(r);
        r->n_pending = pending_before;
        (void)hlc_before; /* the clock may stay ahead: it only has to never go back */
    }
done:
    cJSON_Delete(doc);
    return rc;
}

/* ---- pull -------------------------------------------------------------- */

static int validate_pull(fsy_replica *r, const cJSON *doc, const cJSON **changes_out)
{
    char err[FSY_ERRMSG_LEN];
    int rc = check_schema(r, doc, "pull batch");
    if (rc != FSY_OK)
        return rc;
    if (!is_int(cJSON_GetObjectItemCaseSensitive(doc, "upto"), 0))
        return fsy__err(r, FSY_EINVAL, "pull batch: \"upto\" must be a sequence number");
    const cJSON *more = cJSON_GetObjectItemCaseSensitive(doc, "more");
    if (more && !cJSON_IsBool(more))
        return fsy__err(r, FSY_EINVAL, "pull batch: \"more\" must be true or false");
    int64_t hv;
    if (cJSON_GetObjectItemCaseSensitive(doc, "hlc") && !fsy__hlc_parse(str_item(doc, "hlc"), &hv))
        return fsy__err(r, FSY_EINVAL, "pull batch: \"hlc\" is not a clock value");
    const cJSON *changes = cJSON_GetObjectItemCaseSensitive(doc, "changes"), *ch;
    if (!cJSON_IsArray(changes))
        return fsy__err(r, FSY_EINVAL, "pull batch: \"changes\" must be an array");
    int i = 0;
    cJSON_ArrayForEach(ch, changes)
    {
        const fsy_table *t = fsy__schema_table(str_item(ch, "t"));
        const char *id = str_item(ch, "id");
        if (!cJSON_IsObject(ch) || !is_int(cJSON_GetObjectItemCaseSensitive(ch, "q"), 1))
            return fsy__err(r, FSY_EINVAL, "pull batch: change %d needs a sequence number \"q\"",
                            i);
        if (!t)
            return fsy__err(r, FSY_EINVAL, "pull batch: change %d names unknown table \"%.40s\"", i,
                            str_item(ch, "t") ? str_item(ch, "t") : "");
        if (!fsy__is_uuid(id))
            return fsy__err(r, FSY_EINVAL, "pull batch: change %d: \"%.40s\" is not a row id", i,
                            id ? id : "");
        const cJSON *gone = cJSON_GetObjectItemCaseSensitive(ch, "gone");
        if (gone && !cJSON_IsBool(gone))
            return fsy__err(r, FSY_EINVAL, "pull batch: change %d: \"gone\" must be a boolean", i);
        if (cJSON_IsTrue(gone))
            goto next;
        const cJSON *f = cJSON_GetObjectItemCaseSensitive(ch, "f"), *v;
        const cJSON *vs = cJSON_GetObjectItemCaseSensitive(ch, "vs");
        if (!cJSON_IsObject(f) || (vs && !cJSON_IsObject(vs)))
            return fsy__err(r, FSY_EINVAL, "pull batch: change %d (%s %s) needs a \"f\" object", i,
                            t->name, id);
        cJSON_ArrayForEach(v, vs)
        {
            if (!is_int(v, 1))
                return fsy__err(r, FSY_EINVAL, "pull batch: change %d: bad version for %.60s", i,
                                v->string);
        }
        cJSON_ArrayForEach(v, f)
        {
            if (strcmp(v->string, FSY_TOMBSTONE) == 0) {
                if (!cJSON_IsBool(v))
                    return fsy__err(r, FSY_EINVAL, "pull batch: %s %s: %s must be a boolean",
                                    t->name, id, FSY_TOMBSTONE);
                continue;
            }
            const fsy_field *fd = fsy__schema_field(t, v->string);
            if (!fd)
                continue; /* from a newer schema: kept and passed on, never dropped */
            if (fd->type == FSY_T_ENUM && cJSON_IsString(v))
                continue; /* a value a newer server added: shown as sent */
            if ((rc = fsy__schema_check(t, fd, v, err, sizeof(err))) != FSY_OK)
                return fsy__err(r, FSY_EINVAL, "pull batch: %s (row %s)", err, id);
        }
    next:
        i++;
    }
    *changes_out = changes;
    return FSY_OK;
}

static int apply_change(fsy_replica *r, const cJSON *ch)
{
    const fsy_table *t = fsy__schema_table(str_item(ch, "t"));
    const char *id = str_item(ch, "id");
    int64_t q = (int64_t)cJSON_GetObjectItemCaseSensitive(ch, "q")->valuedouble;
    fsy_confirmed c = {0};
    int rc = fsy__confirmed_load(r, t, id, &c);
    if (rc != FSY_OK)
        return rc;
    bool changed = false;

    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(ch, "gone"))) {
        if (!c.exists || q > c.ver) {
            cJSON_Delete(c.vals);
            cJSON_Delete(c.vers);
            c.vals = cJSON_CreateObject();
            c.vers = cJSON_CreateObject();
            c.exists = true;
            c.state = FSY_ROW_GONE;
            c.ver = q;
            changed = true;
        }
    } else if (!(c.exists && c.state == FSY_ROW_GONE && q <= c.ver)) {
        const cJSON *vs = cJSON_GetObjectItemCaseSensitive(ch, "vs");
        if (c.state == FSY_ROW_GONE) {
            cJSON_Delete(c.vals);
            cJSON_Delete(c.vers);
            c.vals = cJSON_CreateObject();
            c.vers = cJSON_CreateObject();
        }
        if (!c.vals || !c.vers) {
            rc = fsy__err(r, FSY_ENOMEM, "out of memory");
            goto done;
        }
        const cJSON *v;
        cJSON_ArrayForEach(v, cJSON_GetObjectItemCaseSensitive(ch, "f"))
        {
            const cJSON *fv = cJSON_GetObjectItemCaseSensitive(vs, v->string);
            int s = set_ver(&c, v->string, v, fv ? (int64_t)fv->valuedouble : q);
            if (s < 0) {
                rc = fsy__err(r, FSY_ENOMEM, "out of memory");
                goto done;
            }
            changed |= s > 0;
        }
        if (!c.exists || c.state == FSY_ROW_GONE || q > c.ver)
            changed = true;
        c.exists = true;
        if (q > c.ver)
            c.ver = q;
        derive_state(&c);
    }
    if (!changed)
        goto done; /* S2: an old or repeated change is a no-op */
    if ((rc = fsy__confirmed_store(r, t, id, &c)) != FSY_OK)
        goto done;
    rc = fsy__row_recompute_with(r, t, id, &c);
done:
    fsy__confirmed_clear(&c);
    return rc;
}

int fsy_pull_apply(fsy_replica *r, const char *json, size_t len, bool *more_out)
{
    cJSON *doc = NULL;
    const cJSON *changes, *ch;
    int64_t cursor = 0, h;
    int rc;

    FSY_CHECK_ARG(r && r->db);
    fsy__err_clear(r);
    if (more_out)
        *more_out = false;
    if ((rc = fsy__json_parse_object(r, json, len, "pull batch", &doc)) != FSY_OK ||
        (rc = validate_pull(r, doc, &changes)) != FSY_OK)
        goto done;
    if ((rc = fsy__tx_begin(r)) != FSY_OK)
        goto done;
    if (fsy__hlc_parse(str_item(doc, "hlc"), &h))
        fsy__hlc_observe(r, h);
    cJSON_ArrayForEach(ch, changes)
    {
        if (fsy__hlc_parse(str_item(ch, "h"), &h))
            fsy__hlc_observe(r, h);
        if ((rc = apply_change(r, ch)) != FSY_OK)
            goto fail;
    }
    int64_t upto = (int64_t)cJSON_GetObjectItemCaseSensitive(doc, "upto")->valuedouble;
    if ((rc = fsy__meta_get_int(r, "fsy.cursor", &cursor)) != FSY_OK)
        goto fail;
    if (upto > cursor && (rc = fsy__meta_set_int(r, "fsy.cursor", upto)) != FSY_OK)
        goto fail;
    if ((rc = fsy__replica_save_floors(r)) != FSY_OK || (rc = fsy__tx_commit(r)) != FSY_OK)
        goto fail;
    if (more_out)
        *more_out = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(doc, "more"));
    goto done;
fail:
    fsy__tx_rollback(r);
done:
    cJSON_Delete(doc);
    return rc;
}

int fsy_pull_cursor(fsy_replica *r, int64_t *out)
{
    FSY_CHECK_ARG(r && r->db && out);
    fsy__err_clear(r);
    return fsy__meta_get_int(r, "fsy.cursor", out);
}

int fsy_sync_record(fsy_replica *r, bool ok, const char *error)
{
    FSY_CHECK_ARG(r && r->db);
    fsy__err_clear(r);
    int64_t now = fsy__now_ms(r);
    int rc = fsy__tx_begin(r);
    if (rc != FSY_OK)
        return rc;
    rc = fsy__meta_set_int(r, "fsy.last_attempt_ms", now);
    if (rc == FSY_OK && ok)
        rc = fsy__meta_set_int(r, "fsy.last_sync_ms", now);
    if (rc == FSY_OK) {
        char msg[512];
        fsy__strlcpy(msg, ok || !error ? "" : error, sizeof(msg));
        rc = fsy__meta_set_text(r, "fsy.last_error", msg);
    }
    if (rc == FSY_OK)
        rc = fsy__tx_commit(r);
    if (rc != FSY_OK)
        fsy__tx_rollback(r);
    return rc;
}

int fsy_parked_retry(fsy_replica *r, int64_t seq)
{
    sqlite3_stmt *st = NULL;
    cJSON *fields = NULL;
    char id[FSY_ID_LEN + 1], err[FSY_ERRMSG_LEN];
    int rc;

    FSY_CHECK_ARG(r && r->db);
    fsy__err_clear(r);
    if ((rc = fsy__tx_begin(r)) != FSY_OK)
        return rc;
    int64_t pending_before = r->n_pending;
    if ((rc = fsy__stmt(r, FSY_STMT_J_GET, &st)) != FSY_OK)
        goto fail;
    sqlite3_bind_int64(st, 1, seq);
    int s = sqlite3_step(st);
    if (s != SQLITE_ROW || sqlite3_column_int(st, 7) != FSY_JS_PARKED) {
        rc = s == SQLITE_ROW || s == SQLITE_DONE
                 ? fsy__err(r, FSY_ENOTFOUND, "no parked change %lld", (long long)seq)
                 : fsy__sqlerr(r, s, "reading the journal");
        goto fail;
    }
    const fsy_table *t = fsy__schema_table_at(sqlite3_column_int(st, 0));
    int op = sqlite3_column_int(st, 2);
    fsy__strlcpy(id, (const char *)sqlite3_column_text(st, 1), sizeof(id));
    fields = cJSON_Parse((const char *)sqlite3_column_text(st, 4));
    fsy__stmt_release(st);
    st = NULL;
    if (!t || !fields) {
        rc = fsy__err(r, FSY_ECORRUPT, "journal entry %lld is damaged", (long long)seq);
        goto fail;
    }
    /* The rep may have typed newer values since the change was parked (pending, or
     * parked too): those win, or retrying an old change would bring back a value the
     * rep already replaced. */
    s = sqlite3_prepare_v2(r->db,
                           "SELECT fields FROM fsy_journal WHERE tbl = ?1 AND id = ?2 AND"
                           " seq > ?3 AND op != 2 ORDER BY seq",
                           -1, &st, NULL);
    if (s == SQLITE_OK) {
        sqlite3_bind_int(st, 1, t->index);
        sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, seq);
        while ((s = sqlite3_step(st)) == SQLITE_ROW) {
            cJSON *later = cJSON_Parse((const char *)sqlite3_column_text(st, 0));
            for (const cJSON *v = later ? later->child : NULL; v; v = v->next)
                if (cJSON_GetObjectItemCaseSensitive(fields, v->string))
                    cJSON_ReplaceItemInObjectCaseSensitive(fields, v->string,
                                                           cJSON_Duplicate(v, true));
            cJSON_Delete(later);
        }
    }
    sqlite3_finalize(st);
    st = NULL;
    if (s != SQLITE_DONE) {
        rc = fsy__sqlerr(r, s, "reading the journal");
        goto fail;
    }
    if (op != FSY_OP_DELETE && (rc = fsy__schema_check_fields(t, fields, op == FSY_OP_CREATE, false,
                                                              err, sizeof(err))) != FSY_OK) {
        fsy__err(r, rc, "%s", err);
        goto fail;
    }
    if ((rc = fsy__stmt(r, FSY_STMT_J_DELETE, &st)) != FSY_OK)
        goto fail;
    sqlite3_bind_int64(st, 1, seq);
    s = sqlite3_step(st);
    fsy__stmt_release(st);
    st = NULL;
    if (s != SQLITE_DONE) {
        rc = fsy__sqlerr(r, s, "updating the journal");
        goto fail;
    }
    /* Requeue as a fresh entry: new seq and clock, bases from today's confirmed state. */
    cJSON *row = NULL;
    if (op == FSY_OP_UPDATE) {
        rc = fsy__view_load(r, t, id, &row);
        if (rc == FSY_ENOTFOUND) {
            rc =
                fsy__err(r, FSY_ENOTFOUND,
                         "%s %s is no longer on this device; the change stays parked", t->name, id);
            goto fail;
        }
        for (const cJSON *v = rc == FSY_OK ? fields->child : NULL; v; v = v->next)
            cJSON_ReplaceItemInObjectCaseSensitive(row, v->string, cJSON_Duplicate(v, true));
    }
    if (rc == FSY_OK)
        rc = fsy__local_write(r, t, id, op, fields, op == FSY_OP_CREATE ? fields : row);
    cJSON_Delete(row);
    if (rc == FSY_OK)
        rc = fsy__row_recompute(r, t, id);
    if (rc == FSY_OK)
        rc = fsy__tx_commit(r);
    if (rc != FSY_OK)
        goto fail;
    cJSON_Delete(fields);
    return FSY_OK;
fail:
    fsy__stmt_release(st);
    fsy__tx_rollback(r);
    r->n_pending = pending_before;
    cJSON_Delete(fields);
    return rc;
}

int fsy_parked_discard(fsy_replica *r, int64_t seq)
{
    FSY_CHECK_ARG(r && r->db);
    fsy__err_clear(r);
    int rc = fsy__tx_begin(r);
    if (rc != FSY_OK)
        return rc;
    sqlite3_stmt *st = NULL;
    int s = sqlite3_prepare_v2(r->db, "DELETE FROM fsy_journal WHERE seq = ?1 AND state = 1", -1,
                               &st, NULL);
    if (s == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, seq);
        s = sqlite3_step(st);
    }
    sqlite3_finalize(st);
    if (s != SQLITE_DONE)
        rc = fsy__sqlerr(r, s, "discarding a parked change");
    else if (sqlite3_changes(r->db) == 0)
        rc = fsy__err(r, FSY_ENOTFOUND, "no parked change %lld", (long long)seq);
    if (rc == FSY_OK)
        rc = fsy__replica_save_floors(r);
    if (rc == FSY_OK)
        rc = fsy__tx_commit(r);
    if (rc != FSY_OK)
        fsy__tx_rollback(r);
    return rc;
}
