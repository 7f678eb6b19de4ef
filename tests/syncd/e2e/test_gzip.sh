#!/bin/bash
# gzip both ways: request bodies inflated (checked by CRC-32), a decompression bomb
# refused without inflating it, corrupt gzip refused, responses gzipped on request.
source "$(dirname "$0")/lib.sh" "$@"

make_pki
start_server --max-body 1048576 --max-inflated 4194304

# 200 KB of varied text; its CRC-32 is the gzip trailer's first 4 bytes (little endian,
# which od -tx4 prints as a number on this little-endian host).
for i in $(seq 1 6000); do echo "line $i of the field visit report, fieldsync"; done >"$T/lines"
head -c 200000 "$T/lines" >"$T/plain"
gzip -9 -c "$T/plain" >"$T/plain.gz"
crc=$(tail -c 8 "$T/plain.gz" | head -c 4 | od -An -tx4 | tr -d ' \n')
code=$(tcurl -o "$T/body" -w '%{http_code}' -H 'Content-Encoding: gzip' \
    --data-binary "@$T/plain.gz" "$URL/echo") || fail "gzip upload"
expect_eq "status" "$code" 200
expect_eq "inflated length" "$(json_field "$T/body" body_len)" 200000
expect_eq "wire length" "$(json_field "$T/body" wire_body_len)" "$(wc -c <"$T/plain.gz")"
expect_eq "inflated CRC-32" "$(json_field "$T/body" body_crc32)" "$crc"
expect_eq "gzipped flag" "$(json_field "$T/body" gzipped)" true
ok "gzip request body inflated intact ($(wc -c <"$T/plain.gz") -> 200000 bytes)"

# 100 MB of zeros is about 100 KB of gzip: under the wire limit, far over the inflated one.
head -c 100000000 /dev/zero | gzip -9 >"$T/bomb.gz"
hwm_before=$(vm_kb "$SERVER_PID" VmHWM)
code=$(tcurl -o "$T/body" -w '%{http_code}' -H 'Content-Encoding: gzip' \
    --data-binary "@$T/bomb.gz" "$URL/echo") || fail "bomb upload"
hwm_after=$(vm_kb "$SERVER_PID" VmHWM)
expect_eq "status for a gzip bomb" "$code" 413
expect_error "$T/body" body_too_large
grep -q "after gunzip" "$T/body" || fail "413 does not say the inflated size was the problem"
# Inflating the whole bomb would take 100 MB; the cap is 4 MiB.
[ $((hwm_after - hwm_before)) -lt 40000 ] ||
    fail "peak RSS grew by $((hwm_after - hwm_before)) kB on the bomb"
ok "gzip bomb ($(wc -c <"$T/bomb.gz") bytes -> 100 MB) refused with 413;" \
    "peak RSS +$((hwm_after - hwm_before)) kB"

printf 'definitely not gzip' >"$T/junk"
code=$(tcurl -o "$T/body" -w '%{http_code}' -H 'Content-Encoding: gzip' \
    --data-binary "@$T/junk" "$URL/echo")
expect_eq "status for corrupt gzip" "$code" 400
expect_error "$T/body" bad_gzip
head -c 1000 "$T/plain.gz" >"$T/truncated.gz"
code=$(tcurl -o "$T/body" -w '%{http_code}' -H 'Content-Encoding: gzip' \
    --data-binary "@$T/truncated.gz" "$URL/echo")
expect_eq "status for truncated gzip" "$code" 400
expect_error "$T/body" bad_gzip
code=$(tcurl -o "$T/body" -w '%{http_code}' -H 'Content-Encoding: br' \
    --data-binary "@$T/junk" "$URL/echo")
expect_eq "status for an unsupported encoding" "$code" 415
expect_error "$T/body" unsupported_encoding
ok "corrupt or truncated gzip -> 400 bad_gzip; br -> 415 unsupported_encoding"

size=$(tcurl --compressed -D "$T/headers" -o "$T/big" -w '%{size_download}' "$URL/big?n=300000")
grep -qi "^Content-Encoding: gzip" "$T/headers" || fail "large response not gzipped"
grep -qi "^Vary: Accept-Encoding" "$T/headers" || fail "no Vary header"
expect_eq "decompressed size" "$(wc -c <"$T/big")" 300000
[ "$size" -lt 30000 ] || fail "gzipped response is $size bytes"
ok "300000-byte response sent gzipped ($size bytes on the wire) when asked"

tcurl -D "$T/headers" -o "$T/big" "$URL/big?n=300000"
if grep -qi "^Content-Encoding" "$T/headers"; then fail "gzip without Accept-Encoding"; fi
expect_eq "plain size" "$(wc -c <"$T/big")" 300000
tcurl --compressed -D "$T/headers" -o /dev/null "$URL/echo"
if grep -qi "^Content-Encoding" "$T/headers"; then fail "small response gzipped"; fi
ok "no gzip without Accept-Encoding, nor below the size threshold"

stop_server
expect_eq "server exit status" "$WAIT_RC" 0
