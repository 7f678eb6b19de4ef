#!/bin/bash
# Size limits: oversized header block -> 431, oversized body (declared, chunked) -> 413,
# both as JSON errors with stable codes; bodies at the limit pass; 100-continue works.
source "$(dirname "$0")/lib.sh" "$@"

make_pki
start_server --max-header 1024 --max-body 65536

big_header=$(head -c 2000 /dev/zero | tr '\0' a)
code=$(tcurl -o "$T/body" -w '%{http_code}' -H "X-Big: $big_header" "$URL/echo") ||
    fail "curl with a big header"
expect_eq "status for a 2000-byte header" "$code" 431
expect_error "$T/body" header_too_large
ok "2000-byte header with a 1 KiB limit -> 431 header_too_large"

code=$(tcurl -o /dev/null -w '%{http_code}' -H "X-Ok: ${big_header:0:500}" "$URL/echo")
expect_eq "status for a 500-byte header" "$code" 200
ok "500-byte header passes"

head -c 70000 /dev/zero | tr '\0' b >"$T/70k"
head -c 65536 /dev/zero | tr '\0' c >"$T/64k"
code=$(tcurl -o "$T/body" -w '%{http_code}' --data-binary "@$T/70k" "$URL/echo") ||
    fail "curl with a 70000-byte body"
expect_eq "status for a 70000-byte body" "$code" 413
expect_error "$T/body" body_too_large
ok "70000-byte body with a 64 KiB limit -> 413 body_too_large"

code=$(tcurl -o "$T/body" -w '%{http_code}' -H 'Transfer-Encoding: chunked' \
    --data-binary "@$T/70k" "$URL/echo") || fail "chunked upload"
expect_eq "status for a 70000-byte chunked body" "$code" 413
expect_error "$T/body" body_too_large
ok "chunked 70000-byte body -> 413 body_too_large"

code=$(tcurl -o "$T/body" -w '%{http_code}' --data-binary "@$T/64k" "$URL/echo")
expect_eq "status for a body at the limit" "$code" 200
expect_eq "echoed body length" "$(json_field "$T/body" body_len)" 65536
ok "body of exactly 64 KiB passes"

tcurl -v -o "$T/body" -H 'Expect: 100-continue' --data-binary "@$T/64k" "$URL/echo" \
    2>"$T/verbose" || fail "upload with Expect: 100-continue"
grep -q "HTTP/1.1 100 Continue" "$T/verbose" || fail "no 100 Continue sent"
expect_eq "echoed body length after 100-continue" "$(json_field "$T/body" body_len)" 65536
code=$(tcurl -v -o "$T/body" -w '%{http_code}' -H 'Expect: 100-continue' \
    --data-binary "@$T/70k" "$URL/echo" 2>"$T/verbose")
expect_eq "status for an oversized body announced with Expect" "$code" 413
if grep -q "HTTP/1.1 100 Continue" "$T/verbose"; then fail "100 Continue before a 413"; fi
ok "Expect: 100-continue answered with 100, or with 413 before the body is sent"

expect_eq "rejected_header_too_large" "$(server_stat rejected_header_too_large)" 1
expect_eq "rejected_body_too_large" "$(server_stat rejected_body_too_large)" 3
ok "limit rejections counted"

stop_server
expect_eq "server exit status" "$WAIT_RC" 0
