#!/usr/bin/env bash
# Review sessions across daemons: two fieldsyncd on one PostgreSQL store, their data
# directories copies of one (same review.key). A supervisor logged in through one
# daemon is logged in on the other (same user, same CSRF token), a renewed cookie
# works on both, a daemon with another key refuses it, logout ends it on the daemon
# that saw it, a password change ends it everywhere.
# PostgreSQL: the ctest fixture's server (FSY_PG_CONNINFO_FILE) or a private one.
. "$(dirname "$0")/lib.sh"

B_PID=
two_cleanup() {
    local rc=$?
    pg_cleanup
    (exit $rc)
    cleanup
}
trap two_cleanup EXIT
pg_setup fsy_review2

"$FIELDSYNCD" init "$W/server" --postgres "$CONN" >/dev/null
sed -i 's/^port = 8443/port = 0/' "$W/server/fieldsyncd.conf"
[ "$(stat -c %a "$W/server/review.key")" = 600 ] || fail "init must create review.key, mode 600"
"$FIELDSYNCD" user-add "$W/server" sue --role supervisor --password sue-pw-1234 >/dev/null
"$FIELDSYNCD" user-add "$W/server" alice --role rep --territory south --supervisor sue >/dev/null
cp -a "$W/server" "$W/server2" # what an operator does for the second daemon

start_b() {
    rm -f "$W/server2/fieldsyncd.port"
    "$FIELDSYNCD" serve "$W/server2" 2>>"$W/server2.log" &
    B_PID=$!
    PIDS+=("$B_PID")
    for _ in $(seq 200); do [ -s "$W/server2/fieldsyncd.port" ] && break; sleep 0.05; done
    [ -s "$W/server2/fieldsyncd.port" ] || fail "daemon B did not start"
    PORT_B=$(cat "$W/server2/fieldsyncd.port")
}
stop_b() {
    kill -TERM "$B_PID"
    wait "$B_PID" 2>/dev/null || true
}
server_start
PORT_A=$PORT
start_b

# on A|B PATH [curl args]: body, then the status on the last line
on_d() {
    local port=$PORT_A
    [ "$1" = B ] && port=$PORT_B
    local p=$2
    shift 2
    curl -s --cacert "$W/server/ca.crt" -w '\n%{http_code}' "$@" "https://127.0.0.1:$port$p"
}
status() { tail -1; }
body() { sed '$d'; }
expect() { [ "$1" = "$2" ] || fail "$3: expected $1, got $2"; ok "$3"; }

out=$(on_d A /api/review/login -X POST -H 'Content-Type: application/json' -c "$W/jar" \
    -d '{"user":"sue","password":"sue-pw-1234"}')
expect 200 "$(status <<<"$out")" "login on daemon A"
CSRF=$(body <<<"$out" | json 'd["csrf"]')
out=$(on_d B /api/review/session -b "$W/jar")
expect 200 "$(status <<<"$out")" "the session from A is valid on B"
expect sue "$(body <<<"$out" | json 'd["user"]')" "B sees the same user"
expect "$CSRF" "$(body <<<"$out" | json 'd["csrf"]')" "B derives the same CSRF token"
out=$(on_d B /api/review/visits/nope/review -b "$W/jar" -X POST -H 'Content-Type: application/json' \
    -H "X-CSRF-Token: $CSRF" -d '{"state":"reviewed"}')
expect 404 "$(status <<<"$out")" "a write on B with A's CSRF token passes the CSRF check"
out=$(on_d B /api/review/visits/nope/review -b "$W/jar" -X POST -H 'Content-Type: application/json' \
    -H "X-CSRF-Token: ${CSRF%?}x" -d '{"state":"reviewed"}')
expect 403 "$(status <<<"$out")" "a wrong CSRF token is refused on B"

# The idle clock: a request renews the cookie (at most once a second); the renewed one
# works on the other daemon.
sleep 1.1
hdr=$(curl -s -D - -o /dev/null --cacert "$W/server/ca.crt" -b "$W/jar" -c "$W/jar2" \
    "https://127.0.0.1:$PORT_B/api/review/session")
grep -qi '^set-cookie: fsy_session=.*HttpOnly; Secure; SameSite=Strict' <<<"$hdr" ||
    fail "B did not renew the cookie: $hdr"
cmp -s <(grep fsy_session "$W/jar" | awk '{print $7}') <(grep fsy_session "$W/jar2" | awk '{print $7}') &&
    fail "the renewed cookie should differ"
out=$(on_d A /api/review/visits -b "$W/jar2")
expect 200 "$(status <<<"$out")" "the cookie renewed by B is valid on A"

# Tampering: another user name in the cookie breaks the MAC.
tampered=$(grep fsy_session "$W/jar" | awk '{print $7}' |
    python3 -c "import sys; p=sys.stdin.read().strip().split('.'); p[3]='616c696365'; print('.'.join(p))")
out=$(on_d A /api/review/session -H "Cookie: fsy_session=$tampered")
expect 401 "$(status <<<"$out")" "a cookie with another user name is refused"

# A daemon with another key does not accept the session.
stop_b
rm "$W/server2/review.key"
start_b
[ -s "$W/server2/review.key" ] || fail "serve must create a missing review.key"
out=$(on_d B /api/review/session -b "$W/jar")
expect 401 "$(status <<<"$out")" "a daemon with another review.key refuses the session"
stop_b
cp "$W/server/review.key" "$W/server2/review.key"
start_b
out=$(on_d B /api/review/session -b "$W/jar")
expect 200 "$(status <<<"$out")" "the same key again: accepted (sessions survive restarts)"

# Logout on A: refused on A from then on, and the browser's cookie is cleared.
hdr=$(curl -s -D - -o /dev/null --cacert "$W/server/ca.crt" -b "$W/jar" -X POST \
    -H 'Content-Type: application/json' -H "X-CSRF-Token: $CSRF" -d '{}' \
    "https://127.0.0.1:$PORT_A/api/review/logout")
grep -qi '^set-cookie: fsy_session=; .*Max-Age=0' <<<"$hdr" || fail "logout must clear the cookie"
out=$(on_d A /api/review/session -b "$W/jar")
expect 401 "$(status <<<"$out")" "after logout on A the session is refused on A"

# A password change ends every session of that user on every daemon.
on_d B /api/review/login -X POST -H 'Content-Type: application/json' -c "$W/jar3" \
    -d '{"user":"sue","password":"sue-pw-1234"}' >/dev/null
expect 200 "$(on_d A /api/review/session -b "$W/jar3" | status)" "login on B, valid on A"
"$FIELDSYNCD" user-add "$W/server" sue --role supervisor --password sue-pw-5678 >/dev/null
expect 401 "$(on_d A /api/review/session -b "$W/jar3" | status)" "password changed: refused on A"
expect 401 "$(on_d B /api/review/session -b "$W/jar3" | status)" "password changed: refused on B"

# A supervisor demoted to rep is refused at once on both.
on_d A /api/review/login -X POST -H 'Content-Type: application/json' -c "$W/jar4" \
    -d '{"user":"sue","password":"sue-pw-5678"}' >/dev/null
"$FIELDSYNCD" user-add "$W/server" sue --role rep --territory south >/dev/null
expect 403 "$(on_d B /api/review/session -b "$W/jar4" | status)" "demoted: refused on B"
stop_b
server_stop
echo "review sessions across daemons: all passed"
