#!/bin/bash
# Held responses (group commit): a response the handler defers goes out only after
# batch_end has run; when batch_end fails, the client gets 503 store_error with
# Retry-After instead of the handler's answer, and the connection goes on serving.
source "$(dirname "$0")/lib.sh" "$@"

make_pki
start_server

code=$(tcurl -o "$T/body" -w '%{http_code}' "$URL/held?n=1") || fail "held request"
expect_eq "status of a held response" "$code" 200
expect_eq "its body is the handler's" "$(json_field "$T/body" path)" /held
expect_eq "batch_end ran" "$(server_stat held_batches)" 1
ok "a held response is sent after batch_end, unchanged"

code=$(tcurl -D "$T/headers" -o "$T/body" -w '%{http_code}' "$URL/held?fail=1") ||
    fail "failing held request"
expect_eq "status when the batch fails" "$code" 503
expect_error "$T/body" store_error
grep -qi '^Retry-After: 5' "$T/headers" || fail "no Retry-After on the 503: $(cat "$T/headers")"
grep -q '"path"' "$T/body" && fail "the handler's answer leaked out of a failed batch"
ok "a failed batch turns its held response into 503 store_error with Retry-After"

# One kept-alive connection: a failed batch, then a plain request, then a held one.
tcurl -o "$T/b1" -o "$T/b2" -o "$T/b3" -w '%{http_code} %{num_connects}\n' \
    "$URL/held?fail=1" "$URL/echo" "$URL/held?n=2" >"$T/codes" || fail "keep-alive sequence"
expect_eq "statuses on one connection" "$(awk '{printf "%s ", $1}' "$T/codes")" "503 200 200 "
expect_eq "connections used" "$(awk '{s += $2} END {print s}' "$T/codes")" 1
expect_eq "the next held response" "$(json_field "$T/b3" query)" n=2
expect_eq "failed batches" "$(server_stat held_batches_failed)" 2
ok "the connection serves on after a failed batch (503, then 200, 200)"

stop_server
expect_eq "server exit status" "$WAIT_RC" 0
