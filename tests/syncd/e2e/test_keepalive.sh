#!/bin/bash
# Keep-alive and pipelining: several requests on one connection, answered in order.
source "$(dirname "$0")/lib.sh" "$@"

make_pki
start_server

fetch_stats
conns_before=$(json_field "$T/stats.json" connections_total)
reqs_before=$(json_field "$T/stats.json" requests_total)
tcurl -v -o /dev/null -o /dev/null -o /dev/null "$URL/echo?n=1" "$URL/echo?n=2" "$URL/echo?n=3" \
    2>"$T/verbose" || fail "three requests with curl"
grep -q "Re-using existing connection" "$T/verbose" || fail "curl did not reuse the connection"
fetch_stats
conns_after=$(json_field "$T/stats.json" connections_total)
reqs_after=$(json_field "$T/stats.json" requests_total)
# Between the two reads: curl's one connection plus the second /stats connection.
expect_eq "new connections for three requests" "$((conns_after - conns_before))" 2
# A /stats request is counted after it answers: the first one, then curl's three.
expect_eq "requests counted" "$((reqs_after - reqs_before))" 4
ok "three requests over one keep-alive connection (curl and counters agree)"

timeout 30 "$NET_PROBE" pipeline "$PORT" "$CA" 20 >"$T/pipe.out" ||
    fail "pipelining: $(cat "$T/pipe.out")"
grep -q "responses=20 in_order=1" "$T/pipe.out" || fail "pipelining: $(cat "$T/pipe.out")"
ok "20 pipelined requests in one write answered in order"

tcurl -0 -i -o "$T/h10" "$URL/echo" || fail "HTTP/1.0 request"
grep -qi "^Connection: close" "$T/h10" || fail "HTTP/1.0 without keep-alive must get close"
tcurl -i -o "$T/close" -H "Connection: close" "$URL/echo" || fail "Connection: close request"
grep -qi "^Connection: close" "$T/close" || fail "Connection: close not honoured"
ok "HTTP/1.0 and Connection: close end the connection after the response"

stop_server
expect_eq "server exit status" "$WAIT_RC" 0
