#!/bin/bash
# TLS policy: the pinned CA verifies, another CA and an expired certificate do not,
# TLS 1.1 and non-AEAD or non-ECDSA suites are refused, allowed AEAD suites work.
source "$(dirname "$0")/lib.sh" "$@"

make_pki
make_pki "$T/other"
start_server

openssl verify -CAfile "$CA" "$T/pki/server.crt" >/dev/null || fail "openssl verify of server.crt"
ok "openssl verify -CAfile ca.crt server.crt"

code=$(tcurl -o "$T/body" -w '%{http_code} %{ssl_verify_result}' "$URL/echo") ||
    fail "curl with the pinned CA"
expect_eq "status and verify result" "$code" "200 0"
expect_eq "echoed path" "$(json_field "$T/body" path)" "/echo"
ok "handshake and request with the pinned CA (IP SAN 127.0.0.1)"

tcurl -o /dev/null --resolve "localhost:$PORT:127.0.0.1" "https://localhost:$PORT/echo" ||
    fail "curl by DNS name localhost"
ok "DNS SAN localhost verifies"

before=$(server_stat handshake_failures)
set +e
timeout 30 curl -sS --max-time 20 --cacert "$T/other/ca.crt" -o /dev/null "$URL/echo" 2>"$T/err"
rc=$?
set -e
expect_eq "curl exit code with another CA" "$rc" 60
after=$(server_stat handshake_failures)
[ "$after" -gt "$before" ] || fail "handshake failure not counted ($before -> $after)"
ok "another CA is refused (curl 60) and counted as a handshake failure"

# s_client NAME ARGS...: succeed (exit 0) only if the handshake completes and verifies.
s_client() {
    echo | timeout 15 openssl s_client -connect "127.0.0.1:$PORT" -servername localhost \
        -CAfile "$CA" -verify_return_error "$@" >"$T/s_client.out" 2>&1
}

s_client -tls1_2 || fail "openssl s_client -tls1_2 (control)"
grep -q "Protocol *: TLSv1.2" "$T/s_client.out" || fail "TLS 1.2 not negotiated"
# SECLEVEL=0 so the refusal is the server's, not OpenSSL's own client policy.
for old in -tls1_1 -tls1; do
    if s_client "$old" -cipher 'DEFAULT:@SECLEVEL=0'; then fail "$old was accepted"; fi
    # Refused for its version, not merely for lacking a common (TLS 1.2-only) suite.
    grep -q "alert protocol version" "$T/s_client.out" ||
        fail "$old not refused with a protocol_version alert: $(grep -i alert "$T/s_client.out")"
done
ok "TLS 1.2 accepted; TLS 1.1 and 1.0 refused with protocol_version"

for suite in ECDHE-ECDSA-AES128-GCM-SHA256 ECDHE-ECDSA-AES256-GCM-SHA384 \
    ECDHE-ECDSA-CHACHA20-POLY1305; do
    s_client -tls1_2 -cipher "$suite" || fail "AEAD suite $suite refused"
    grep -q "Cipher is $suite" "$T/s_client.out" || fail "$suite not negotiated"
done
ok "AEAD suites AES-128-GCM, AES-256-GCM, ChaCha20-Poly1305 accepted"

for suite in ECDHE-ECDSA-AES128-SHA256 ECDHE-ECDSA-AES128-SHA AES128-GCM-SHA256 \
    ECDHE-RSA-AES128-GCM-SHA256; do
    if s_client -tls1_2 -cipher "$suite:@SECLEVEL=0"; then fail "suite $suite was accepted"; fi
done
ok "CBC, static-RSA and ECDHE-RSA suites refused"

# An expired server certificate (fsy__pki_issue_server with a past window) fails.
stop_server
"$NET_TESTSERVER" issue "$T/pki" "$T/expired" -172800 -86400 || fail "issue expired cert"
start_server --cert "$T/expired.crt" --key "$T/expired.key"
set +e
tcurl -o /dev/null "$URL/echo" 2>"$T/err"
rc=$?
set -e
expect_eq "curl exit code with an expired certificate" "$rc" 60
grep -qi "expired" "$T/err" || fail "curl did not report expiry: $(cat "$T/err")"
ok "expired server certificate is refused by curl"
stop_server
expect_eq "server exit status" "$WAIT_RC" 0
