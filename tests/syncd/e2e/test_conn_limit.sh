#!/bin/bash
# Connection limit: with max 4 connections, the 5th and 6th are closed at accept;
# once connections close, new ones are served again.
source "$(dirname "$0")/lib.sh" "$@"

make_pki
start_server --max-conns 4

spawn "$T/hold.out" timeout 30 "$NET_PROBE" hold "$PORT" "$CA" 6 3000
probe=$BG_PID
wait_line "$T/hold.out" "^READY" 20
grep -q "READY ok=4 failed=2" "$T/hold.out" ||
    fail "expected 4 served, 2 refused: $(cat "$T/hold.out")"
ok "6 connections with max 4: 4 handshakes, 2 closed at accept"

set +e
timeout 30 curl -sS --max-time 10 --cacert "$CA" -o /dev/null "$URL/echo" 2>"$T/err"
rc=$?
set -e
[ "$rc" -ne 0 ] || fail "a 5th connection was served while 4 were held"
ok "curl refused while the limit is reached (curl exit $rc)"

wait_pid "$probe" 30 || fail "probe did not finish"
limit=$(($(now_ms) + 5000))
until code=$(tcurl -o /dev/null -w '%{http_code}' "$URL/echo" 2>/dev/null) && [ "$code" = 200 ]; do
    [ "$(now_ms)" -lt "$limit" ] || fail "not served again after the held connections closed"
    sleep 0.1
done
ok "served again once the held connections closed"

[ "$(server_stat rejected_connections)" -ge 3 ] || fail "refusals not counted"
grep -q "refused: 4 connections open (max_connections 4)" "$T/server.log" ||
    fail "refusal not logged"
ok "refusals counted and logged"

stop_server
expect_eq "server exit status" "$WAIT_RC" 0
