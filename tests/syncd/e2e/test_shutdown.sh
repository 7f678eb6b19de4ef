#!/bin/bash
# Graceful stop on SIGTERM: the listener closes at once, a request in flight (half its
# body sent, or its handler running) still gets its response, idle connections are
# closed without waiting, and the process exits 0.
source "$(dirname "$0")/lib.sh" "$@"

make_pki
start_server

spawn "$T/partial.out" timeout 30 "$NET_PROBE" partial "$PORT" "$CA" "$T/go"
probe=$BG_PID
wait_line "$T/partial.out" "^PARTIAL" 10
sleep 0.2 # let the server read the first half
kill -TERM "$SERVER_PID"
sleep 0.3
set +e
timeout 30 curl -sS --max-time 5 --cacert "$CA" -o /dev/null "$URL/echo" 2>/dev/null
rc=$?
set -e
expect_eq "curl exit code for a new connection during shutdown" "$rc" 7
is_running "$SERVER_PID" || fail "server exited with a request in flight"
touch "$T/go"
wait_pid "$probe" 20 || fail "probe did not finish"
grep -q "status=200 body_len_10=1 close=1" "$T/partial.out" ||
    fail "in-flight request not completed: $(cat "$T/partial.out")"
wait_pid "$SERVER_PID" 10 || fail "server did not exit after the last request"
SERVER_PID=""
expect_eq "server exit status" "$WAIT_RC" 0
ok "SIGTERM with half a body received: listener closed, request answered, exit 0"

start_server
spawn "$T/slow.code" timeout 30 curl -sS --max-time 20 --cacert "$CA" -o "$T/slow.json" \
    -w '%{http_code}' "$URL/slow?ms=1500"
curl_pid=$BG_PID
sleep 0.5 # the handler is sleeping now
kill -TERM "$SERVER_PID"
wait_pid "$curl_pid" 20 || fail "curl did not finish"
expect_eq "status of the request whose handler ran during SIGTERM" "$(cat "$T/slow.code")" 200
expect_eq "its body" "$(json_field "$T/slow.json" path)" /slow
wait_pid "$SERVER_PID" 10 || fail "server did not exit"
SERVER_PID=""
expect_eq "server exit status" "$WAIT_RC" 0
ok "SIGTERM during a handler: response delivered, exit 0"

start_server
spawn "$T/hold.out" timeout 30 "$NET_PROBE" hold "$PORT" "$CA" 3 20000
wait_line "$T/hold.out" "^READY ok=3" 20
start=$(now_ms)
stop_server
t=$(($(now_ms) - start))
expect_eq "server exit status" "$WAIT_RC" 0
[ "$t" -lt 3000 ] || fail "stop with idle connections took $t ms"
ok "SIGTERM with 3 idle keep-alive connections: exit 0 after $t ms"
