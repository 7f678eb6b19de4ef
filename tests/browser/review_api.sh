#!/usr/bin/env bash
# The review API against a real fieldsyncd over HTTPS on 127.0.0.1: login and
# sessions, CSRF, rate limits, team isolation, reps refused, visit filters,
# history, reviews and conflict resolution as synced writes, CSV, sync health.
source "$(dirname "$0")/../e2e_client/lib.sh"
source "$(dirname "$0")/seed.sh"

server_init
seed_users
server_start
seed_data

JAR=$W/jar
# api PATH [curl args...]: prints the body, then the status on the last line.
api() {
    local p=$1
    shift
    curl -s --cacert "$W/server/ca.crt" -w '\n%{http_code}' "$@" "https://127.0.0.1:$PORT$p"
}
status() { tail -1; }
body() { sed '$d'; }
login() { # login USER PASSWORD JAR
    api /api/review/login -X POST -H 'Content-Type: application/json' -c "$3" \
        -d "{\"user\":\"$1\",\"password\":\"$2\"}"
}
expect() { # expect WANT GOT WHAT
    [ "$1" = "$2" ] || fail "$3: expected $1, got $2"
    ok "$3"
}

# --- login and session cookie
out=$(api /api/review/visits)
expect 401 "$(status <<<"$out")" "no session: 401"
out=$(login sue sue-pw-1234 "$JAR")
expect 200 "$(status <<<"$out")" "supervisor logs in"
CSRF=$(body <<<"$out" | json 'd["csrf"]')
hdr=$(curl -s -D - -o /dev/null --cacert "$W/server/ca.crt" -X POST -H 'Content-Type: application/json' \
    -d '{"user":"sue","password":"sue-pw-1234"}' "https://127.0.0.1:$PORT/api/review/login" |
    grep -i '^set-cookie')
for a in HttpOnly Secure SameSite=Strict; do
    grep -q "$a" <<<"$hdr" || fail "cookie lacks $a: $hdr"
done
ok "cookie is HttpOnly, Secure, SameSite=Strict"
out=$(login sue wrong-password "$W/jar-x")
expect 401 "$(status <<<"$out")" "wrong password: 401"
grep -q bad_credentials <<<"$out" || fail "wrong password code"
out=$(login nobody whatever "$W/jar-x")
expect 401 "$(status <<<"$out")" "unknown user: 401 with the same message"
grep -q '"password_hash"\|pw_hash' "$W/server.log" && fail "hash in log"

# --- reps are refused
out=$(login alice alice-pw-1234 "$W/jar-alice")
expect 403 "$(status <<<"$out")" "rep login: 403"
TOKEN=$(sqlite3 "$W/alice.db" "select value from fsy_config where key='client.token'" 2>/dev/null || true)
[ -n "$TOKEN" ] || fail "no device token in alice's replica"
if true; then
    out=$(api /api/review/visits -H "Authorization: Bearer $TOKEN")
    expect 403 "$(status <<<"$out")" "rep device token on the review API: 403"
fi

# --- team isolation
out=$(api /api/review/visits -b "$JAR")
expect 200 "$(status <<<"$out")" "visit list"
ids=$(body <<<"$out" | json '" ".join(sorted(v["id"] for v in d["visits"]))')
expect "$(tr ' ' '\n' <<<"$V_ALICE $V_BOB" | sort | xargs)" "$ids" "sue sees exactly her team's visits"
out=$(api "/api/review/visits/$V_CARL" -b "$JAR")
expect 404 "$(status <<<"$out")" "another team's visit: 404"
login tom tom-pw-1234 "$W/jar-tom" >/dev/null
out=$(api /api/review/visits -b "$W/jar-tom")
expect "$V_CARL" "$(body <<<"$out" | json '" ".join(v["id"] for v in d["visits"])')" "tom sees carl only"
out=$(api /api/review/conflicts -b "$W/jar-tom")
expect 0 "$(body <<<"$out" | json 'len(d["conflicts"])')" "tom sees no conflicts of sue's team"
out=$(api /api/review/conflicts -b "$JAR")
expect "Acme Wholesale,Acme Wholesale" "$(body <<<"$out" | json '",".join(c["customer"] for c in d["conflicts"])')" "sue's conflicts name their customer"
out=$(api /api/review/devices -b "$W/jar-tom")
expect carl "$(body <<<"$out" | json '",".join(x["user"] for x in d["devices"])')" "tom's sync health: carl's device only"
login root root-pw-1234 "$W/jar-root" >/dev/null
out=$(api /api/review/visits -b "$W/jar-root")
expect 3 "$(body <<<"$out" | json 'd["total"]')" "admin sees all visits"
out=$(api /api/review/reps -b "$JAR")
expect "alice,bob" "$(body <<<"$out" | json '",".join(r["name"] for r in d["reps"])')" "sue's reps"

# --- filters and pagination
f() { api "/api/review/visits?$1" -b "$JAR" | body | json "$2"; }
expect "$V_BOB" "$(f 'rep=bob' '" ".join(v["id"] for v in d["visits"])')" "filter by rep"
expect 2 "$(f 'customer=acme' 'd["total"]')" "filter by customer name part"
expect "$V_ALICE" "$(f 'from=2026-11-20&to=2026-11-21' '" ".join(v["id"] for v in d["visits"])')" "filter by date range"
expect "$V_ALICE" "$(f 'status=done' '" ".join(v["id"] for v in d["visits"])')" "filter by status"
expect 2 "$(f 'conflicts=1' 'd["total"]')" "filter by open conflicts (visit or customer)"
expect 2 "$(f 'review=none' 'd["total"]')" "filter: not reviewed"
expect "1 2 1" "$(f 'per_page=1&page=2' '"%d %d %d" % (len(d["visits"]), d["total"], d["page"]-1)')" "pagination"
out=$(api '/api/review/visits?per_page=100000' -b "$JAR")
expect 400 "$(status <<<"$out")" "per_page is bounded"

# --- one visit: history with devices and skew, conflicts side by side
out=$(api "/api/review/visits/$V_ALICE" -b "$JAR")
expect 200 "$(status <<<"$out")" "visit detail"
d=$(body <<<"$out")
expect True "$(json 'all("device_skew_ms" in h and h["device"] for h in d["history"])' <<<"$d")" "history names device and skew"
expect True "$(json '{"alice","bob"} <= {h["user"] for h in d["history"]}' <<<"$d")" "history has both writers"
expect "customers.address visits.outcome" "$(json '" ".join(sorted(c["table"]+"."+c["field"] for c in d["conflicts"]))' <<<"$d")" "both conflicts shown"
N=$(json '[c["n"] for c in d["conflicts"] if c["field"]=="outcome"][0]' <<<"$d")
LOST=$(json '[c["other"]["value"] for c in d["conflicts"] if c["field"]=="outcome"][0]' <<<"$d")

# --- CSRF on writes
out=$(api "/api/review/visits/$V_ALICE/review" -b "$JAR" -X POST -H 'Content-Type: application/json' \
    -d '{"state":"reviewed","comment":"x"}')
expect 403 "$(status <<<"$out")" "write without CSRF token: 403"
# Change the last digit to a different one (a fixed "0" equals the real token 1 time in 16).
if [ "${CSRF: -1}" = 0 ]; then WRONG="${CSRF%?}1"; else WRONG="${CSRF%?}0"; fi
out=$(api "/api/review/visits/$V_ALICE/review" -b "$JAR" -X POST -H 'Content-Type: application/json' \
    -H "X-CSRF-Token: $WRONG" -d '{"state":"reviewed","comment":"x"}')
expect 403 "$(status <<<"$out")" "write with a wrong CSRF token: 403"
out=$(api "/api/review/visits/$V_ALICE/review" -b "$JAR" -X POST -H 'Content-Type: application/json' \
    -H "X-CSRF-Token: $CSRF" -H 'Origin: https://evil.example' -d '{"state":"reviewed"}')
expect 403 "$(status <<<"$out")" "cross-origin write: 403"
out=$(api "/api/review/visits/$V_ALICE/review" -b "$JAR" -X POST -H 'Content-Type: text/plain' \
    -H "X-CSRF-Token: $CSRF" -d '{"state":"reviewed"}')
expect 415 "$(status <<<"$out")" "a form-encodable body is refused: 415"
out=$(api /api/review/login -X POST -H 'Content-Type: text/plain' -d '{"user":"sue","password":"sue-pw-1234"}')
expect 415 "$(status <<<"$out")" "login from a text/plain form: 415"
# Each login has its own token: sue's second login (above) did not end the first session.
post() { api "$1" -b "$JAR" -X POST -H 'Content-Type: application/json' -H "X-CSRF-Token: $CSRF" -d "$2"; }

# --- review and resolve: synced writes
out=$(post "/api/review/visits/$V_ALICE/review" '{"state":"needs-follow-up","comment":"Call back about SKU 7"}')
expect 201 "$(status <<<"$out")" "comment + needs-follow-up"
out=$(post "/api/review/visits/$V_ALICE/review" '{"state":"approved"}')
expect 400 "$(status <<<"$out")" "invalid review state refused"
out=$(post "/api/review/visits/$V_CARL/review" '{"state":"reviewed"}')
expect 404 "$(status <<<"$out")" "review of another team's visit: 404"
out=$(post "/api/review/conflicts/$N/resolve" '{"choose":"other"}')
expect 200 "$(status <<<"$out")" "resolve a conflict by choosing the other value"
out=$(post "/api/review/conflicts/$N/resolve" '{"choose":"other"}')
expect 409 "$(status <<<"$out")" "resolving twice: 409"
out=$(api "/api/review/conflicts/$N/resolve" -b "$W/jar-tom" -X POST -H 'Content-Type: application/json' \
    -H "X-CSRF-Token: x" -d '{"choose":"kept"}')
expect 403 "$(status <<<"$out")" "tom without his token: 403"
d=$(api "/api/review/visits/$V_ALICE" -b "$JAR" | body)
expect "sue" "$(json '[c["resolved_by"] for c in d["conflicts"] if c["n"]=='"$N"'][0]' <<<"$d")" "resolved by sue"
expect "needs-follow-up" "$(f "rep=alice" 'd["visits"][0]["review_state"]')" "list shows the latest review"
on alice sync >/dev/null
on alice export >"$W/alice.json"
python3 - "$W/alice.json" "$V_ALICE" "$LOST" <<'PY' || fail "alice's tablet lacks the review or the resolution"
import json, sys
d = json.load(open(sys.argv[1])); vid = sys.argv[2]; lost = sys.argv[3]
revs = [r for r in d["reviews"] if r["visit_id"] == vid]
assert any(r.get("comment") == "Call back about SKU 7" and r["state"] == "needs-follow-up" and r["supervisor"] == "sue" for r in revs), revs
v = [r for r in d["visits"] if r["id"] == vid][0]
assert v["outcome"] == lost, (v["outcome"], lost)
PY
ok "alice's tablet pulled the review and the chosen value"

# --- CSV: quoting and formula guard
out=$(api "/api/review/visits.csv?customer=acme" -b "$JAR")
expect 200 "$(status <<<"$out")" "CSV export"
body <<<"$out" >"$W/v.csv"
python3 - "$W/v.csv" "$V_ALICE" "$V_BOB" <<'PY' || fail "CSV content"
import csv, sys
rows = [r for r in csv.reader(open(sys.argv[1], newline="")) if r]
assert rows[0][0] == "id" and len(rows) == 3, rows
by = {r[0]: dict(zip(rows[0], r)) for r in rows[1:]}
a, b = by[sys.argv[2]], by[sys.argv[3]]
assert a["review_comment"] == "Call back about SKU 7", a
assert b["purpose"] == "'=SUM(1+1) \"Merchandising\" check", b["purpose"]  # defused, quotes kept
assert open(sys.argv[1], newline="").read().count("\r\n") == 3
PY
ok "CSV is quoted and formulas are defused"
grep -q 'filename="visits.csv"' <(curl -s -D - -o /dev/null --cacert "$W/server/ca.crt" -b "$JAR" \
    "https://127.0.0.1:$PORT/api/review/visits.csv") || fail "no attachment header"

# --- sync health with reported queues
out=$(api /api/review/devices -b "$JAR")
d=$(body <<<"$out")
expect "alice,bob" "$(json '",".join(sorted(x["user"] for x in d["devices"]))' <<<"$d")" "sue's devices"
expect True "$(json 'all(x["pending"] == 0 and x["parked"] == 0 and x["last_sync_ms"] > 0 and x["app_version"] for x in d["devices"])' <<<"$d")" "devices report pending, parked, app version"

# --- the page itself
out=$(curl -s -D - --cacert "$W/server/ca.crt" "https://127.0.0.1:$PORT/review")
grep -qi "content-security-policy: default-src 'none'" <<<"$out" || fail "no CSP on the page"
grep -q '<script src="/review/app.js"' <<<"$out" || fail "page not served"
ok "page served with a CSP"

# --- logout ends the session
out=$(post /api/review/logout '{}')
expect 200 "$(status <<<"$out")" "logout"
out=$(api /api/review/visits -b "$JAR")
expect 401 "$(status <<<"$out")" "after logout: 401"

# --- rate limits: per user, then per address
for i in 1 2 3 4 5; do login tom bad "$W/jar-x" >/dev/null; done
out=$(login tom tom-pw-1234 "$W/jar-x")
expect 429 "$(status <<<"$out")" "6th login after 5 failures for one user: 429"
grep -q too_many_attempts <<<"$out" || fail "429 code"
out=$(login sue sue-pw-1234 "$W/jar-x")
expect 200 "$(status <<<"$out")" "another user from the same address still logs in"
for i in $(seq 1 20); do login "u$i" bad "$W/jar-x" >/dev/null; done
out=$(login sue sue-pw-1234 "$W/jar-x")
expect 429 "$(status <<<"$out")" "20 failures from one address: 429 for everyone there"
echo "review API: all passed"
