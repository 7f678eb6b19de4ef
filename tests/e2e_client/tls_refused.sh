#!/usr/bin/env bash
# The rep's client refuses a daemon it cannot trust (issue 6, security tests): a
# certificate from another CA, an expired certificate from the pinned CA, and a
# server that only speaks TLS 1.1. Each time the sync fails with a TLS error,
# nothing reaches the daemon (its change log does not move), the pending edit stays
# pending, and once the real daemon is back the same replica syncs normally.
# Needs NET_TESTSERVER (tests/syncd/net_testserver) to issue the expired certificate.
. "$(dirname "$0")/lib.sh"
: "${NET_TESTSERVER:?path to net_testserver}"
command -v openssl >/dev/null || { echo "openssl missing"; exit 77; }

log_head() { curl -s --cacert "$W/server/ca.crt" "https://127.0.0.1:$PORT/healthz" | json 'd["log_head"]'; }
pending() { on alice status --json | json 'd["pending"]'; }

server_init
server_start
user alice rep south
device alice alice
C=$(on alice customer add --name "Trusted only" --territory south)
on alice sync >/dev/null
on alice customer edit "$C" --phone "+49 30 5555" >/dev/null
head0=$(log_head)
p0=$(pending)
[ "$p0" -ge 1 ] || fail "expected a pending edit, got $p0"

# 1. Another CA: the pinned copy next to the replica is replaced by a stranger's CA.
cp "$W/alice.db.ca.crt" "$W/pinned.crt"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj "/CN=other CA" -keyout "$W/other.key" -out "$W/alice.db.ca.crt" 2>/dev/null
set +e; out=$(on alice sync 2>&1); rc=$?; set -e
[ $rc -ne 0 ] || fail "sync with another CA pinned should fail"
echo "$out" | grep -Eqi "certificate|SSL|TLS" || fail "not reported as a TLS error: $out"
[ "$(log_head)" = "$head0" ] || fail "the daemon's log moved although the client refused it"
[ "$(pending)" = "$p0" ] || fail "pending changed after a refused sync"
cp "$W/pinned.crt" "$W/alice.db.ca.crt"
ok "a daemon certificate from another CA is refused; nothing sent, nothing lost ($(echo "$out" | head -1))"

# 2. An expired certificate signed by the pinned CA (valid two days ago to yesterday).
server_stop
cp "$W/server/server.crt" "$W/good.crt"
cp "$W/server/server.key" "$W/good.key"
"$NET_TESTSERVER" issue "$W/server" "$W/server/server" -172800 -86400 >/dev/null ||
    fail "cannot issue an expired certificate"
server_start
set +e; out=$(on alice sync 2>&1); rc=$?; set -e
[ $rc -ne 0 ] || fail "sync against an expired certificate should fail"
echo "$out" | grep -Eqi "expired|certificate" || fail "not reported as expired: $out"
[ "$(pending)" = "$p0" ] || fail "pending changed after a refused sync"
server_stop
cp "$W/good.crt" "$W/server/server.crt"
cp "$W/good.key" "$W/server/server.key"
server_start
[ "$(log_head)" = "$head0" ] || fail "the daemon's log moved although the client refused it"
ok "an expired daemon certificate from the pinned CA is refused ($(echo "$out" | head -1))"

# 3. A server offering only TLS 1.1 (with the daemon's own, valid certificate).
P11=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
openssl s_server -accept "127.0.0.1:$P11" -tls1_1 -cipher 'DEFAULT:@SECLEVEL=0' \
    -cert "$W/server/server.crt" -key "$W/server/server.key" -www -quiet \
    >"$W/s_server.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$P11") 2>/dev/null && break
    sleep 0.05
done
"$FIELDSYNC" --replica "$W/old.db" init --server "https://127.0.0.1:$P11" \
    --ca "$W/server/ca.crt" >/dev/null
code=$("$FIELDSYNCD" enroll-code "$W/server" alice)
set +e; out=$("$FIELDSYNC" --replica "$W/old.db" enroll alice "$code" 2>&1); rc=$?; set -e
[ $rc -ne 0 ] || fail "enrolling over TLS 1.1 should fail"
echo "$out" | grep -Eqi "SSL|TLS|version|handshake|protocol" || fail "not a TLS error: $out"
grep -q "POST" "$W/s_server.log" && fail "the client sent its request over TLS 1.1"
ok "a server speaking only TLS 1.1 is refused before any request is sent ($(echo "$out" | head -1))"

# The same replica, pointed back at the real daemon with the right CA, syncs.
on alice sync >/dev/null
[ "$(pending)" = "0" ] || fail "the pending edit did not go through after the refusals"
[ "$(log_head)" -gt "$head0" ] || fail "the daemon did not receive the edit"
ok "after the refusals the replica syncs normally; nothing was lost"
