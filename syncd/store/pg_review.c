/*
 * pg_review.c — the version-2 (supervisor review) members of the PostgreSQL
 * store: users, the visit list with its filters and total, a row's history,
 * conflicts, and device health. Each is a port of its sq_* twin in sqlite.c with
 * the same contract (store.h); pg.c puts them in fsy_store_pg. Every statement is
 * parameterised and runs through fsy__pg_exec, so results are complete in memory
 * before a callback runs and callbacks may run store operations of their own.
 * Text ordering and comparisons use COLLATE "C": byte order, as SQLite's BINARY.
 */
#include "pg_internal.h"
#include "fieldsync.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- result helpers --------------------------------------------------------- */

static const char *val(const PGresult *res, int row, int col)
{
    return PQgetisnull(res, row, col) ? NULL : PQgetvalue(res, row, col);
}

static void copy_text(char *dst, size_t n, const PGresult *res, int row, int col)
{
    const char *t = val(res, row, col);
    snprintf(dst, n, "%s", t ? t : "");
}

static int64_t get_i64(const PGresult *res, int row, int col)
{
    const char *t = val(res, row, col);
    return t ? strtoll(t, NULL, 10) : 0;
}

/* A boolean column or an integer flag: "t", "true" or a non-zero number. */
static bool get_bool(const PGresult *res, int row, int col)
{
    const char *t = val(res, row, col);
    if (!t)
        return false;
    if (t[0] == 't' || t[0] == 'T')
        return true;
    return strtoll(t, NULL, 10) != 0;
}

static int hexval(char c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

/* A BYTEA column in text form ("\x" + hex) into exactly 32 bytes; zeroes otherwise. */
static void get_hash32(unsigned char out[32], const PGresult *res, int row, int col)
{
    const char *t = val(res, row, col);
    memset(out, 0, 32);
    if (!t || strncmp(t, "\\x", 2) != 0 || strlen(t) != 2 + 64)
        return;
    for (int i = 0; i < 32; i++) {
        int hi = hexval(t[2 + 2 * i]), lo = hexval(t[3 + 2 * i]);
        if (hi < 0 || lo < 0) {
            memset(out, 0, 32);
            return;
        }
        out[i] = (unsigned char)(hi * 16 + lo);
    }
}

/* The columns of a device, starting at col (same order as sqlite.c's DEVICE_COLS). */
static void read_device(fsy_device *d, const PGresult *res, int row, int col)
{
    memset(d, 0, sizeof(*d));
    copy_text(d->id, sizeof(d->id), res, row, col + 0);
    copy_text(d->user, sizeof(d->user), res, row, col + 1);
    get_hash32(d->token_hash, res, row, col + 2);
    d->created_ms = get_i64(res, row, col + 3);
    d->revoked_ms = get_i64(res, row, col + 4);
    d->hwm = get_i64(res, row, col + 5);
    d->cursor = get_i64(res, row, col + 6);
    d->last_sync_ms = get_i64(res, row, col + 7);
    d->skew_ms = get_i64(res, row, col + 8);
    copy_text(d->app_version, sizeof(d->app_version), res, row, col + 9);
}

/* Columns tbl, id, ver, vals, meta, territory, owner, customer_id, info_level. */
static int read_row(void *ctx, fsy_srow *out, const PGresult *res, int row)
{
    fsy_srow_clear(out);
    out->tbl = (int)get_i64(res, row, 0);
    copy_text(out->id, sizeof(out->id), res, row, 1);
    out->exists = true;
    out->ver = get_i64(res, row, 2);
    const char *vals = val(res, row, 3), *meta = val(res, row, 4);
    out->vals = vals ? cJSON_Parse(vals) : NULL;
    out->meta = meta ? cJSON_Parse(meta) : NULL;
    copy_text(out->territory, sizeof(out->territory), res, row, 5);
    copy_text(out->owner, sizeof(out->owner), res, row, 6);
    copy_text(out->customer_id, sizeof(out->customer_id), res, row, 7);
    out->info_level = (int)get_i64(res, row, 8);
    if (!out->vals || !out->meta)
        return fsy__pg_fail(ctx, FSY_ECORRUPT, "store: row %s is damaged", out->id);
    return 0;
}

/* NULL for an absent or empty optional filter, as sqlite.c's bind_opt. */
static const char *opt(const char *v)
{
    return v && *v ? v : NULL;
}

/* ---- the review operations ------------------------------------------------------ */

int fsy__pg_user_list(void *ctx, fsy_user_cb cb, void *userdata)
{
    static const char sql[] = "SELECT name, role, territory, supervisor, created_ms FROM users"
                              " ORDER BY name COLLATE \"C\"";
    int rc;
    PGresult *res = fsy__pg_exec(ctx, "listing users", sql, 0, NULL, &rc);
    if (!res)
        return rc;
    for (int i = 0; i < PQntuples(res) && rc == 0; i++) {
        fsy_user u;
        memset(&u, 0, sizeof(u));
        copy_text(u.name, sizeof(u.name), res, i, 0);
        u.role = (int)get_i64(res, i, 1);
        copy_text(u.territory, sizeof(u.territory), res, i, 2);
        copy_text(u.supervisor, sizeof(u.supervisor), res, i, 3);
        u.created_ms = get_i64(res, i, 4);
        rc = cb(&u, userdata);
    }
    PQclear(res);
    return rc;
}

/* Times are UTC ISO 8601 text, so they compare as strings in byte order (DESIGN §9). */
#define VISIT_TIME                                                                                 \
    "coalesce(v.vals::json->>'planned_at', v.vals::json->>'checkin_at', '') COLLATE \"C\""

int fsy__pg_visit_query(void *ctx, const fsy_visit_filter *f, fsy_visit_cb cb, void *userdata,
                        int64_t *total_out)
{
    /* The latest review of each visit (highest ver) comes from the expression index
     * on (vals::json->>'visit_id') WHERE tbl = 4. A customer is deleted when its
     * _deleted value is anything but absent, null, false or 0 (SQLite: non-zero). */
    static const char sql[] =
        "WITH m AS (SELECT v.tbl, v.id, v.ver, v.vals, v.meta, v.territory, v.owner,"
        "   v.customer_id, v.info_level,"
        "   coalesce(c.vals::json->>'name', '') AS cname,"
        "   coalesce(c.vals::json->>'_deleted', 'false') NOT IN ('false', '0') AS cdel,"
        "   coalesce(rv.state, '') AS rstate, coalesce(rv.comment, '') AS rcomment,"
        "   (SELECT count(*) FROM conflicts k WHERE k.resolved_ms IS NULL AND"
        "     ((k.tbl = 2 AND k.id = v.id) OR (k.tbl = 0 AND k.id = v.customer_id))) AS nconf,"
        "   " VISIT_TIME " AS t"
        "  FROM rows v LEFT JOIN rows c ON c.tbl = 0 AND c.id = v.customer_id"
        "  LEFT JOIN LATERAL (SELECT r.vals::json->>'state' AS state,"
        "     r.vals::json->>'comment' AS comment FROM rows r"
        "     WHERE r.tbl = 4 AND (r.vals::json->>'visit_id') = v.id"
        "     ORDER BY r.ver DESC LIMIT 1) rv ON true"
        "  WHERE v.tbl = 2"
        "   AND ($1::text IS NULL OR v.owner IN (SELECT name FROM users WHERE supervisor = $1))"
        "   AND ($2::text IS NULL OR v.owner = $2)"
        "   AND ($3::text IS NULL OR v.customer_id = $3 OR"
        "        strpos(lower(coalesce(c.vals::json->>'name', '')), lower($3)) > 0)"
        "   AND ($4::text IS NULL OR " VISIT_TIME " >= $4)"
        "   AND ($5::text IS NULL OR " VISIT_TIME " < $5)"
        "   AND ($6::text IS NULL OR (v.vals::json->>'status') = $6)"
        "   AND ($7::text IS NULL OR coalesce(rv.state, 'none') = $7))"
        " SELECT tbl, id, ver, vals, meta, territory, owner, customer_id, info_level, cname,"
        "  cdel, rstate, rcomment, nconf, t, count(*) OVER ()"
        " FROM m WHERE ($8::int < 0 OR (nconf > 0) = ($8::int = 1))"
        " ORDER BY t DESC, id COLLATE \"C\" LIMIT $9::bigint OFFSET $10::bigint";
    char conflicts[16], limit[24], offset[24];
    snprintf(conflicts, sizeof(conflicts), "%d", f->has_conflicts < 0 ? -1 : f->has_conflicts);
    snprintf(limit, sizeof(limit), "%d", f->limit);
    snprintf(offset, sizeof(offset), "%d", f->offset > 0 ? f->offset : 0);
    /* SQLite reads a negative LIMIT as "no limit"; PostgreSQL's spelling is NULL. */
    const char *params[10] = {opt(f->team),   opt(f->rep), opt(f->customer),
                              opt(f->from),   opt(f->to),  opt(f->status),
                              opt(f->review), conflicts,   f->limit < 0 ? NULL : limit,
                              offset};
    fsy_srow row;
    fsy_srow_init(&row);
    *total_out = 0;
    int rc;
    PGresult *res = fsy__pg_exec(ctx, "querying visits", sql, 10, params, &rc);
    if (!res)
        return rc;
    for (int i = 0; i < PQntuples(res) && rc == 0; i++) {
        rc = read_row(ctx, &row, res, i);
        *total_out = get_i64(res, i, 15);
        if (rc == 0) {
            fsy_visit_item it = {&row,
                                 PQgetvalue(res, i, 9),
                                 get_bool(res, i, 10),
                                 PQgetvalue(res, i, 11),
                                 PQgetvalue(res, i, 12),
                                 (int)get_i64(res, i, 13)};
            rc = cb(&it, userdata);
        }
    }
    PQclear(res);
    fsy_srow_clear(&row);
    return rc;
}

int fsy__pg_row_log(void *ctx, int tbl, const char *id, fsy_log_cb cb, void *userdata)
{
    /* q is the version the change gave its fields: a row's history in the order it
     * was written. pos (the log position) is NULL until the sequencer places it. */
    static const char sql[] =
        "SELECT q, coalesce(pos, 0), tbl, id, device, \"user\", hlc, fields, at_ms"
        " FROM changes WHERE tbl = $1::int AND id = $2 AND kind = 'c' ORDER BY q";
    char tbl_s[16];
    snprintf(tbl_s, sizeof(tbl_s), "%d", tbl);
    const char *params[2] = {tbl_s, id};
    int rc;
    PGresult *res = fsy__pg_exec(ctx, "reading a row's history", sql, 2, params, &rc);
    if (!res)
        return rc;
    for (int i = 0; i < PQntuples(res) && rc == 0; i++) {
        fsy_logrec rec;
        memset(&rec, 0, sizeof(rec));
        rec.q = get_i64(res, i, 0);
        rec.pos = get_i64(res, i, 1);
        rec.kind = 'c';
        rec.tbl = (int)get_i64(res, i, 2);
        copy_text(rec.id, sizeof(rec.id), res, i, 3);
        copy_text(rec.device, sizeof(rec.device), res, i, 4);
        copy_text(rec.user, sizeof(rec.user), res, i, 5);
        copy_text(rec.hlc, sizeof(rec.hlc), res, i, 6);
        rec.fields = val(res, i, 7);
        rec.at_ms = get_i64(res, i, 8);
        rc = cb(&rec, userdata);
    }
    PQclear(res);
    return rc;
}

int fsy__pg_conflict_query(void *ctx, const fsy_conflict_filter *f, fsy_conflict_cb cb,
                           void *userdata)
{
    static const char sql[] =
        "SELECT n, tbl, id, field, kept, other, kept_device, kept_user, kept_hlc, other_device,"
        " other_user, other_hlc, q, at_ms, clamped, coalesce(resolved_by, ''),"
        " coalesce(resolved_ms, 0) FROM conflicts"
        " WHERE ($1::text IS NULL OR kept_user IN (SELECT name FROM users WHERE supervisor = $1)"
        "        OR other_user IN (SELECT name FROM users WHERE supervisor = $1))"
        "  AND ($2::bigint = 0 OR n = $2::bigint)"
        "  AND ($3::text IS NULL OR (tbl = $4::int AND id = $3) OR (tbl = 0 AND id = $5::text))"
        "  AND ($6::int = 0 OR resolved_ms IS NULL)"
        " ORDER BY n DESC LIMIT $7::bigint";
    char n_s[24], tbl_s[16], open_s[4], limit_s[24];
    snprintf(n_s, sizeof(n_s), "%" PRId64, f->n);
    snprintf(tbl_s, sizeof(tbl_s), "%d", f->tbl);
    snprintf(open_s, sizeof(open_s), "%d", f->is_open_only ? 1 : 0);
    snprintf(limit_s, sizeof(limit_s), "%d", f->limit > 0 ? f->limit : 1000);
    const char *params[7] = {opt(f->team),        n_s,    opt(f->row_id), tbl_s,
                             opt(f->customer_id), open_s, limit_s};
    int rc;
    PGresult *res = fsy__pg_exec(ctx, "querying conflicts", sql, 7, params, &rc);
    if (!res)
        return rc;
    for (int i = 0; i < PQntuples(res) && rc == 0; i++) {
        fsy_conflict_item it;
        memset(&it, 0, sizeof(it));
        it.n = get_i64(res, i, 0);
        it.c.tbl = (int)get_i64(res, i, 1);
        copy_text(it.c.id, sizeof(it.c.id), res, i, 2);
        copy_text(it.c.field, sizeof(it.c.field), res, i, 3);
        it.c.kept = val(res, i, 4);
        it.c.other = val(res, i, 5);
        copy_text(it.c.kept_device, sizeof(it.c.kept_device), res, i, 6);
        copy_text(it.c.kept_user, sizeof(it.c.kept_user), res, i, 7);
        copy_text(it.c.kept_hlc, sizeof(it.c.kept_hlc), res, i, 8);
        copy_text(it.c.other_device, sizeof(it.c.other_device), res, i, 9);
        copy_text(it.c.other_user, sizeof(it.c.other_user), res, i, 10);
        copy_text(it.c.other_hlc, sizeof(it.c.other_hlc), res, i, 11);
        it.c.q = get_i64(res, i, 12);
        it.c.at_ms = get_i64(res, i, 13);
        it.c.clock_clamped = get_bool(res, i, 14);
        copy_text(it.resolved_by, sizeof(it.resolved_by), res, i, 15);
        it.resolved_ms = get_i64(res, i, 16);
        rc = cb(&it, userdata);
    }
    PQclear(res);
    return rc;
}

int fsy__pg_conflict_resolve(void *ctx, int64_t n, const char *user, int64_t at_ms)
{
    static const char sql[] = "UPDATE conflicts SET resolved_by = $2, resolved_ms = $3::bigint"
                              " WHERE n = $1::bigint AND resolved_ms IS NULL";
    char n_s[24], at_s[24];
    snprintf(n_s, sizeof(n_s), "%" PRId64, n);
    snprintf(at_s, sizeof(at_s), "%" PRId64, at_ms);
    const char *params[3] = {n_s, user, at_s};
    int rc;
    PGresult *res = fsy__pg_exec(ctx, "resolving a conflict", sql, 3, params, &rc);
    if (!res)
        return rc;
    bool is_changed = strtoll(PQcmdTuples(res), NULL, 10) > 0;
    PQclear(res);
    if (!is_changed)
        return fsy__pg_fail(ctx, FSY_ENOTFOUND,
                            "conflict %" PRId64 " is unknown or already resolved", n);
    return 0;
}

int fsy__pg_device_report(void *ctx, const char *device, int64_t pending, int64_t parked,
                          int64_t at_ms)
{
    static const char sql[] =
        "INSERT INTO device_reports(device, pending, parked, at_ms)"
        " VALUES($1, $2::bigint, $3::bigint, $4::bigint) ON CONFLICT (device) DO UPDATE"
        " SET pending = EXCLUDED.pending, parked = EXCLUDED.parked, at_ms = EXCLUDED.at_ms";
    char p_s[24], k_s[24], at_s[24];
    snprintf(p_s, sizeof(p_s), "%" PRId64, pending);
    snprintf(k_s, sizeof(k_s), "%" PRId64, parked);
    snprintf(at_s, sizeof(at_s), "%" PRId64, at_ms);
    const char *params[4] = {device, p_s, k_s, at_s};
    int rc;
    PGresult *res = fsy__pg_exec(ctx, "saving a device report", sql, 4, params, &rc);
    PQclear(res);
    return rc;
}

int fsy__pg_device_health(void *ctx, const char *team, fsy_health_cb cb, void *userdata)
{
    static const char sql[] =
        "SELECT d.id, d.\"user\", d.token_hash, d.created_ms, d.revoked_ms, d.hwm, d.cursor,"
        " d.last_sync_ms, d.skew_ms, d.app_version, coalesce(r.pending, -1),"
        " coalesce(r.parked, -1), coalesce(r.at_ms, 0),"
        " (SELECT count(*) FROM conflicts k WHERE k.resolved_ms IS NULL AND"
        "   (k.kept_device = d.id OR k.other_device = d.id))"
        " FROM devices d LEFT JOIN device_reports r ON r.device = d.id"
        " WHERE $1::text IS NULL OR d.\"user\" IN (SELECT name FROM users WHERE supervisor = $1)"
        " ORDER BY d.last_sync_ms, d.\"user\" COLLATE \"C\", d.id COLLATE \"C\"";
    const char *params[1] = {opt(team)};
    int rc;
    PGresult *res = fsy__pg_exec(ctx, "listing device health", sql, 1, params, &rc);
    if (!res)
        return rc;
    for (int i = 0; i < PQntuples(res) && rc == 0; i++) {
        fsy_device_health h;
        memset(&h, 0, sizeof(h));
        read_device(&h.d, res, i, 0);
        h.pending = get_i64(res, i, 10);
        h.parked = get_i64(res, i, 11);
        h.reported_ms = get_i64(res, i, 12);
        h.open_conflicts = get_i64(res, i, 13);
        rc = cb(&h, userdata);
    }
    PQclear(res);
    return rc;
}
