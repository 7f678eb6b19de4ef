#!/bin/bash
# Timeouts: a request dribbled one byte (one TLS record) a second is dropped with 408
# once the request timeout passes; a dawdling handshake and a silent connection are
# closed at the handshake timeout; an idle keep-alive connection at the idle timeout;
# a client that stops reading its response at the write timeout.
source "$(dirname "$0")/lib.sh" "$@"

make_pki
start_server --handshake-ms 1500 --request-ms 2000 --idle-ms 1500 --write-ms 1000

# in_range WHAT VALUE LOW HIGH
in_range() {
    [ "$2" -ge "$3" ] && [ "$2" -le "$4" ] || fail "$1: $2 ms not within [$3, $4]"
}

timeout 30 "$NET_PROBE" slow "$PORT" "$CA" 1000 15000 >"$T/slow.out" ||
    fail "slow client was not dropped: $(cat "$T/slow.out")"
t=$(sed -n 's/.*dropped_after_ms=\([0-9]*\).*/\1/p' "$T/slow.out")
in_range "slow request dropped after" "$t" 1500 5000
grep -q "status=408" "$T/slow.out" || fail "no 408 for the slow request: $(cat "$T/slow.out")"
ok "1 byte/s request dropped after $t ms with 408 timeout (request timeout 2000 ms)"

timeout 30 "$NET_PROBE" slowhs "$PORT" 1000 15000 >"$T/slowhs.out" ||
    fail "slow handshake was not dropped: $(cat "$T/slowhs.out")"
t=$(sed -n 's/.*dropped_after_ms=\([0-9]*\).*/\1/p' "$T/slowhs.out")
in_range "slow handshake dropped after" "$t" 1000 4500
ok "1 byte/s TLS handshake dropped after $t ms (handshake timeout 1500 ms)"

start=$(now_ms)
timeout 10 bash -c "exec 3<>/dev/tcp/127.0.0.1/$PORT; cat <&3" >/dev/null ||
    fail "silent connection not closed within 10 s"
t=$(($(now_ms) - start))
in_range "silent connection closed after" "$t" 1000 4500
ok "connection that never speaks closed after $t ms"

timeout 30 "$NET_PROBE" idle "$PORT" "$CA" 10000 >"$T/idle.out" ||
    fail "idle connection not closed: $(cat "$T/idle.out")"
t=$(sed -n 's/.*closed_after_ms=\([0-9]*\).*/\1/p' "$T/idle.out")
in_range "idle keep-alive connection closed after" "$t" 1000 4500
ok "idle keep-alive connection closed after $t ms (idle timeout 1500 ms)"

# 40 MB is far more than loopback socket buffers hold, so the write stalls.
spawn "$T/noread.out" timeout 30 "$NET_PROBE" noread "$PORT" "$CA" "/big?n=40000000" 15000
wait_line "$T/noread.out" "^SENT" 10
limit=$(($(now_ms) + 8000))
until fetch_stats && [ "$(json_field "$T/stats.json" write_timeouts)" = 1 ]; do
    [ "$(now_ms)" -lt "$limit" ] || fail "a client that stopped reading was not dropped"
    sleep 0.2
done
expect_eq "connections open (just /stats)" "$(json_field "$T/stats.json" connections_open)" 1
ok "client that stops reading a 40 MB response dropped by the write timeout"

code=$(tcurl -o /dev/null -w '%{http_code}' "$URL/echo")
expect_eq "normal request under short timeouts" "$code" 200
[ "$(server_stat request_timeouts)" -ge 1 ] || fail "request timeout not counted"
[ "$(server_stat handshake_timeouts)" -ge 2 ] || fail "handshake timeouts not counted"
[ "$(server_stat idle_closes)" -ge 1 ] || fail "idle close not counted"
ok "normal requests unaffected; timeouts counted"

stop_server
expect_eq "server exit status" "$WAIT_RC" 0
