#!/bin/bash
# Plain HTTP on the TLS port gets a plain HTTP/1.1 400 with JSON code tls_required,
# then the connection closes; the server keeps serving TLS.
source "$(dirname "$0")/lib.sh" "$@"

make_pki
start_server

code=$(timeout 30 curl -sS --max-time 20 -D "$T/headers" -o "$T/body" -w '%{http_code}' \
    "http://127.0.0.1:$PORT/echo") || fail "plain curl"
expect_eq "status for plain HTTP" "$code" 400
expect_error "$T/body" tls_required
grep -qi "^Content-Type: application/json" "$T/headers" || fail "error is not JSON"
grep -qi "^Connection: close" "$T/headers" || fail "no Connection: close"
ok "curl http:// -> 400 tls_required (JSON)"

# A raw client: the answer arrives and then end-of-stream (cat returns by itself).
start=$(now_ms)
timeout 10 bash -c "exec 3<>/dev/tcp/127.0.0.1/$PORT
    printf 'POST /v1/push HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello' >&3
    cat <&3" >"$T/raw" || fail "raw plain-text client did not see the connection close"
grep -q "^HTTP/1.1 400 Bad Request" "$T/raw" || fail "raw client got: $(head -c 200 "$T/raw")"
grep -q '"code":"tls_required"' "$T/raw" || fail "raw client got no tls_required"
ok "raw TCP client: 400 then close after $(($(now_ms) - start)) ms"

code=$(tcurl -o /dev/null -w '%{http_code}' "$URL/echo")
expect_eq "TLS after plain attempts" "$code" 200
expect_eq "rejected_tls_required" "$(server_stat rejected_tls_required)" 2
ok "TLS still served; both refusals counted"

stop_server
expect_eq "server exit status" "$WAIT_RC" 0
