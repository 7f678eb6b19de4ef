#!/usr/bin/env bash
# `fieldsyncd migrate-store`: a real daemon on SQLite with enrolled devices (real
# `fieldsync` replicas and a raw HTTPS device) that push, pull and raise a conflict;
# migrate-store refused while the daemon runs; the daemon stopped; the store moved
# into an empty PostgreSQL database (refused when the target is not empty); the
# daemon started on PostgreSQL; the same devices sync on without re-enrolling, a
# pending offline edit goes up, nothing is pulled twice, replicas converge, a
# retried old push gets the identical acknowledgement, and the review API reads
# the migrated visits and conflicts (pg_review.c).
# PostgreSQL: the ctest fixture's server (FSY_PG_CONNINFO_FILE) or a private one.
. "$(dirname "$0")/lib.sh"

mig_cleanup() {
    local rc=$?
    pg_cleanup
    (exit $rc)
    cleanup
}
trap mig_cleanup EXIT
pg_setup fsy_migrate b
CONN_B=$(sed "s/dbname=[^ ]*/dbname=${DB}_b/" <<<"$BASE")
pg() { psql "$CONN" -X -q -t -A -v ON_ERROR_STOP=1 -c "$1"; }

# --- a daemon on SQLite, three tablets and a supervisor
server_init
server_start
user alice rep south
user bob rep south
user carl rep north
"$FIELDSYNCD" user-add "$W/server" alice --role rep --territory south --supervisor sue >/dev/null
"$FIELDSYNCD" user-add "$W/server" bob --role rep --territory south --supervisor sue >/dev/null
"$FIELDSYNCD" user-add "$W/server" sue --role supervisor --password sue-pw-1234 >/dev/null
device alice alice
device bob bob
device sue sue

C=$(on alice customer add --name "Acme Wholesale" --territory south --tier A)
V1=$(on alice visit plan --customer "$C" --at 2026-11-23T09:00:00Z --purpose "Q1 listing")
on alice visit start "$V1" --lat 48.1 --lon 11.5 >/dev/null
on alice visit end "$V1" --outcome "12 SKUs" --satisfaction 5 >/dev/null
on alice sync >/dev/null
on bob sync >/dev/null
V2=$(on bob visit plan --customer "$C" --at 2026-11-24T15:00:00Z --purpose "Merchandising")
# The same field edited on two tablets before either syncs: one conflict.
on alice customer edit "$C" --address "Alice St 1" >/dev/null
sleep 0.02
on bob customer edit "$C" --address "Bob Rd 2" >/dev/null
on alice sync >/dev/null
on bob sync >/dev/null
for d in alice bob sue alice; do on "$d" sync >/dev/null; done
[ "$(store_sql "SELECT count(*) FROM conflicts")" -eq 1 ] || fail "expected one conflict"

# A supervisor's review: a synced write, and a review state for the filters below.
curl_api() { curl -s --cacert "$W/server/ca.crt" "$@"; }
JAR=$W/jar
curl_api -c "$JAR" -X POST -H 'Content-Type: application/json' \
    -d '{"user":"sue","password":"sue-pw-1234"}' "https://127.0.0.1:$PORT/api/review/login" \
    >"$W/login.json"
CSRF=$(json 'd["csrf"]' <"$W/login.json")
st=$(curl_api -o /dev/null -w '%{http_code}' -b "$JAR" -X POST -H 'Content-Type: application/json' \
    -H "X-CSRF-Token: $CSRF" -d '{"state":"needs-follow-up","comment":"Call back"}' \
    "https://127.0.0.1:$PORT/api/review/visits/$V1/review")
[ "$st" = 201 ] || fail "review post: $st"
for d in alice bob sue; do on "$d" sync >/dev/null; done
ok "daemon on SQLite: devices synced, one conflict, one review"

# --- a raw device: one push whose acknowledgement we keep
CODE=$("$FIELDSYNCD" enroll-code "$W/server" carl)
curl_api -X POST -H 'Content-Type: application/json' \
    -d "{\"user\":\"carl\",\"code\":\"$CODE\",\"app_version\":\"raw-1\"}" \
    "https://127.0.0.1:$PORT/v1/enroll" >"$W/raw-enroll.json"
RAW_ID=$(json 'd["device_id"]' <"$W/raw-enroll.json")
RAW_TOKEN=$(json 'd["token"]' <"$W/raw-enroll.json")
python3 - "$RAW_ID" >"$W/raw-push.json" <<'PY'
import json, os, sys, time
ms = int(time.time() * 1000)
r = os.urandom(10).hex()
h = "%012x" % ms + "7" + r[0:3] + "%x" % (8 | (int(r[3], 16) & 3)) + r[4:19]
uid = "%s-%s-%s-%s-%s" % (h[0:8], h[8:12], h[12:16], h[16:20], h[20:32])
print(json.dumps({"schema": 2, "device": sys.argv[1], "changes": [
    {"s": 1, "t": "customers", "id": uid, "op": "c", "h": "%012x0000" % ms,
     "f": {"name": "Raw North Co", "territory": "north", "tier": "B"}}]}))
PY
push_raw() {
    curl_api -X POST -H 'Content-Type: application/json' -H "Authorization: Bearer $RAW_TOKEN" \
        --data-binary @"$1" "https://127.0.0.1:$PORT/v1/push"
}
push_raw "$W/raw-push.json" >"$W/ack1.json"
[ "$(json 'd["results"][0]["ok"]' <"$W/ack1.json")" = True ] || fail "raw push refused: $(cat "$W/ack1.json")"
on sue sync >/dev/null
ok "raw device pushed seq 1"

# --- the review API's answers on SQLite, compared with PostgreSQL's after the move
QUERIES=("visits" "visits?customer=ACME" "visits?customer=$C" "visits?customer=zzz"
    "visits?rep=alice" "visits?rep=bob" "visits?from=2026-11-24" "visits?to=2026-11-24"
    "visits?from=2026-11-23T08:00:00Z&to=2026-11-23T10:00:00Z" "visits?status=done"
    "visits?status=planned" "visits?review=none" "visits?review=needs-follow-up"
    "visits?review=reviewed" "visits?conflicts=1" "visits?conflicts=0"
    "visits?per_page=1&page=1" "visits?per_page=1&page=2" "visits?per_page=1&page=3"
    "visits/$V1" "visits/$V2" "conflicts" "visits.csv" "reps")
review_snapshot() {
    for i in "${!QUERIES[@]}"; do
        curl_api -b "$JAR" -w '\n%{http_code}\n' "https://127.0.0.1:$PORT/api/review/${QUERIES[$i]}" \
            >"$1.$i"
    done
}
review_snapshot "$W/review-sqlite"

# --- refused while the daemon runs (it holds the store open)
set +e
out=$("$FIELDSYNCD" migrate-store "$W/server" "$CONN" 2>&1)
rc=$?
set -e
[ $rc -ne 0 ] && grep -q "stop the daemon first" <<<"$out" ||
    fail "migrate-store must refuse while the daemon runs: rc $rc: $out"
[ "$(pg "SELECT count(*) FROM information_schema.tables WHERE table_name = 'devices'")" -eq 0 ] ||
    fail "a refused migration must not touch the target"
ok "refused while the daemon runs"

# --- an edit made while the daemon is down stays pending across the migration
server_stop
on alice customer edit "$C" --phone "+49 30 999" >/dev/null
[ "$(on alice status --json | json 'd["pending"]')" -ge 1 ] || fail "alice should have a pending edit"

# Numbers to compare after the move.
declare -A COUNT
for t in users enroll_codes devices push_results rows changes conflicts events device_reports; do
    COUNT[$t]=$(store_sql "SELECT count(*) FROM $t")
done
HEAD=$(store_sql "SELECT max(q) FROM changes")
DEVICES_BEFORE=$(store_sql "SELECT id, hex(token_hash), hwm, cursor FROM devices ORDER BY id")
CONFLICT_BEFORE=$(store_sql "SELECT n, tbl, id, field, kept, other, kept_user, other_user FROM conflicts ORDER BY n")
cp -a "$W/server" "$W/server-copy"

# --- the move
"$FIELDSYNCD" migrate-store "$W/server" "$CONN" >"$W/migrate.out" 2>&1 ||
    { cat "$W/migrate.out"; fail "migrate-store failed"; }
grep -q "change log head" "$W/migrate.out" || fail "no summary: $(cat "$W/migrate.out")"
grep -q '^store = postgresql$' "$W/server/fieldsyncd.conf" || fail "config not switched"
grep -q "^postgres = $CONN\$" "$W/server/fieldsyncd.conf" || fail "conninfo not in the config"
grep -q '^port = ' "$W/server/fieldsyncd.conf" || fail "the rest of the config was not kept"
[ -s "$W/server/store.db" ] || fail "store.db must stay as the backup"
for t in "${!COUNT[@]}"; do
    [ "$(pg "SELECT count(*) FROM $t")" -eq "${COUNT[$t]}" ] ||
        fail "$t: ${COUNT[$t]} rows in SQLite, $(pg "SELECT count(*) FROM $t") in PostgreSQL"
done
[ "$(pg "SELECT count(*) FROM changes WHERE pos IS DISTINCT FROM q")" -eq 0 ] || fail "pos must equal q"
[ "$(pg "SELECT last_value FROM fsy_version")" -eq "$HEAD" ] || fail "fsy_version not set past the log"
[ "$(pg "SELECT last_value FROM fsy_pos")" -eq "$HEAD" ] || fail "fsy_pos not set past the log"
[ "$(pg "SELECT id, upper(encode(token_hash, 'hex')), hwm, cursor FROM devices ORDER BY id")" = "$DEVICES_BEFORE" ] || fail "devices (tokens, hwm, cursors) differ"
[ "$(pg "SELECT n, tbl, id, field, kept, other, kept_user, other_user FROM conflicts ORDER BY n")" = \
    "$CONFLICT_BEFORE" ] || fail "conflicts differ"
ok "migrated: every table's rows, tokens, cursors, conflicts, log positions and sequences"

set +e
out=$("$FIELDSYNCD" migrate-store "$W/server-copy" "$CONN" 2>&1)
rc=$?
set -e
[ $rc -ne 0 ] && grep -q "not empty" <<<"$out" || fail "a non-empty target must be refused: $out"
grep -q '^store = sqlite' "$W/server-copy/fieldsyncd.conf" || fail "a refused migration changed the config"
set +e
out=$("$FIELDSYNCD" migrate-store "$W/server" "$CONN_B" 2>&1)
rc=$?
set -e
[ $rc -ne 0 ] || fail "migrating an already migrated directory must be refused"
ok "refused: non-empty target, already migrated directory"

# --- the daemon on PostgreSQL: same devices, same tokens, no re-enrolment
server_start
grep -q "store postgresql" "$W/server.log" || fail "the daemon did not start on PostgreSQL"
# The same session cookie (review.key moved with the directory) and the same answers.
review_snapshot "$W/review-pg"
for i in "${!QUERIES[@]}"; do
    cmp -s "$W/review-sqlite.$i" "$W/review-pg.$i" || {
        diff "$W/review-sqlite.$i" "$W/review-pg.$i" | head -20
        fail "review API /${QUERIES[$i]}: PostgreSQL answers differently from SQLite"
    }
done
for i in "${!QUERIES[@]}"; do
    [ "$(tail -1 "$W/review-pg.$i")" = 200 ] || fail "review API /${QUERIES[$i]}: $(cat "$W/review-pg.$i")"
done
total() { head -1 "$W/review-pg.$1" | json 'd["total"]'; }
[ "$(total 0)-$(total 1)-$(total 2)-$(total 3)-$(total 4)-$(total 6)-$(total 8)" = 2-2-2-0-1-1-1 ] ||
    fail "review API: unexpected totals"
[ "$(total 12)-$(total 11)-$(total 14)-$(total 15)-$(total 9)" = 1-1-2-0-1 ] ||
    fail "review API: unexpected totals for review state, conflicts, status"
[ "$(head -1 "$W/review-pg.17" | json 'len(d["visits"])')" = 1 ] || fail "review API: page 2"
ok "review API: ${#QUERIES[@]} queries answer identically on SQLite and PostgreSQL"
for d in sue bob; do
    out=$(on "$d" sync)
    grep -q "0 up (0 refused), 0 down" <<<"$out" || fail "$d pulled something twice: $out"
done
out=$(on alice sync)
grep -q "^synced: 1 up (0 refused)" <<<"$out" || fail "alice's pending edit: $out"
for d in bob sue alice bob sue; do on "$d" sync >/dev/null; done
for t in customers visits; do
    rows alice "$t" >"$W/a.$t"
    rows bob "$t" >"$W/b.$t"
    rows sue "$t" | grep -v '"territory": "north"' >"$W/s.$t" || true # sue also sees carl's
    cmp -s "$W/a.$t" "$W/b.$t" || { diff "$W/a.$t" "$W/b.$t"; fail "alice and bob differ on $t"; }
    cmp -s "$W/a.$t" "$W/s.$t" || { diff "$W/a.$t" "$W/s.$t"; fail "alice and sue differ on $t"; }
done
[ "$(wc -l <"$W/a.visits")" -eq 2 ] || fail "expected both visits everywhere"
[ "$(rows sue customers | grep -c "Raw North Co")" -eq 1 ] || fail "sue lost the raw device's row"
[ "$(on bob customer show "$C" --json | json 'd["phone"]')" = "+49 30 999" ] ||
    fail "the edit made offline before the migration did not reach bob"
[ "$(pg "SELECT count(*) FROM conflicts")" -eq 1 ] || fail "no new conflict expected"
[ "$(pg "SELECT max(pos) FROM changes")" -gt "$HEAD" ] || fail "new changes must be numbered past the old head"
ok "devices sync on without re-enrolling; replicas converge"

# --- exactly once survives: the old push retried gets the identical acknowledgement
push_raw "$W/raw-push.json" >"$W/ack2.json"
python3 - "$W/ack1.json" "$W/ack2.json" <<'PY' || fail "retried push: a different acknowledgement"
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:])
assert a["results"] == b["results"], (a, b)
PY
[ "$(pg "SELECT count(*) FROM rows WHERE vals LIKE '%Raw North Co%'")" -eq 1 ] || fail "raw row duplicated"
ok "a retried pre-migration push returns the identical acknowledgement"

# --- the review API on the migrated store (pg_review.c)
JAR=$W/jar
curl_api -c "$JAR" -X POST -H 'Content-Type: application/json' \
    -d '{"user":"sue","password":"sue-pw-1234"}' "https://127.0.0.1:$PORT/api/review/login" >/dev/null
out=$(curl_api -b "$JAR" "https://127.0.0.1:$PORT/api/review/visits")
[ "$(json 'd["total"]' <<<"$out")" -eq 2 ] || fail "review: visits $out"
[ "$(json 'sorted(v["id"] for v in d["visits"]) == sorted(["'"$V1"'", "'"$V2"'"])' <<<"$out")" = True ] ||
    fail "review: wrong visits $out"
[ "$(json 'all(v["open_conflicts"] == 1 for v in d["visits"])' <<<"$out")" = True ] ||
    fail "review: the customer's open conflict should count on both visits: $out"
out=$(curl_api -b "$JAR" "https://127.0.0.1:$PORT/api/review/visits?customer=ACME")
[ "$(json 'd["total"]' <<<"$out")" -eq 2 ] || fail "review: case-insensitive customer filter $out"
out=$(curl_api -b "$JAR" "https://127.0.0.1:$PORT/api/review/conflicts")
[ "$(json 'len(d["conflicts"])' <<<"$out")" -eq 1 ] || fail "review: conflicts $out"
out=$(curl_api -b "$JAR" "https://127.0.0.1:$PORT/api/review/devices")
[ "$(json '",".join(sorted(x["user"] for x in d["devices"]))' <<<"$out")" = "alice,bob" ] ||
    fail "review: sue's team's devices $out"
ok "review API reads the migrated store"
server_stop
echo "migrate-store: all passed"
