#!/bin/bash
# Memory: the server's RSS with 1000 idle TLS connections (handshake done) must stay
# well under 64 MB. Prints the figures; the bound is only checked without sanitizers.
source "$(dirname "$0")/lib.sh" "$@"

N=1000
[ "$(ulimit -n)" -ge $((N + 100)) ] || ulimit -n $((N + 100)) 2>/dev/null ||
    { echo "SKIP: open-file limit $(ulimit -n) is below $((N + 100))"; exit 77; }

make_pki
start_server
tcurl -o /dev/null "$URL/echo" || fail "warm-up request"
rss_idle=$(vm_kb "$SERVER_PID" VmRSS)

start=$(now_ms)
spawn "$T/hold.out" timeout 100 "$NET_PROBE" hold "$PORT" "$CA" "$N" 5000
wait_line "$T/hold.out" "^READY" 90
took=$(($(now_ms) - start))
grep -q "READY ok=$N failed=0" "$T/hold.out" || fail "not all connections: $(cat "$T/hold.out")"
sleep 0.5
open=$(server_stat connections_open)
rss=$(vm_kb "$SERVER_PID" VmRSS)
echo "connections open: $open (1 of them /stats); handshakes took $took ms"
echo "server RSS: $((rss_idle / 1024)) MB idle, $((rss / 1024)) MB with $N idle TLS connections" \
    "($(((rss - rss_idle) / N)) kB per connection)"
[ "$open" -ge "$N" ] || fail "only $open connections open"
if [ -n "$SANITIZE" ]; then
    ok "RSS measured (bound not checked under sanitizers: $SANITIZE)"
else
    [ "$rss" -lt $((64 * 1024)) ] || fail "RSS $((rss / 1024)) MB with $N connections"
    ok "RSS $((rss / 1024)) MB < 64 MB with $N idle TLS connections"
fi
stop_server
expect_eq "server exit status" "$WAIT_RC" 0
