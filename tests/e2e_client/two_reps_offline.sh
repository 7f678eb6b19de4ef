#!/usr/bin/env bash
# Two reps and a supervisor; the daemon stopped; both reps record visits and edit
# the same customer (different fields, and one same field); the daemon started;
# the agents sync; every replica converges; the same-field edit leaves exactly
# one conflict record with both values; the different-field edits do not.
. "$(dirname "$0")/lib.sh"

server_init
server_start
user alice rep south
user bob rep south
user sue supervisor
device alice alice
device bob bob
device sue sue

C=$(on alice customer add --name "Acme Wholesale" --territory south --tier A --phone "+49 1")
on alice sync >/dev/null
on bob sync >/dev/null
on sue sync >/dev/null
[ "$(on bob customer show "$C" --json | json 'd["name"]')" = "Acme Wholesale" ] ||
    fail "bob did not receive the customer"

server_stop
V1=$(on alice visit plan --customer "$C" --at 2026-11-23T09:00:00Z --purpose "Q1 listing")
on alice visit start "$V1" --lat 48.1 --lon 11.5 >/dev/null
on alice visit end "$V1" --outcome "12 SKUs" --satisfaction 5 >/dev/null
V2=$(on bob visit plan --customer "$C" --at 2026-11-23T15:00:00Z --purpose "Merchandising")
on alice customer edit "$C" --phone "+49 2" --address "Alice St 1" >/dev/null
sleep 0.02
on bob customer edit "$C" --tier B --address "Bob Rd 2" >/dev/null
# Offline, the CLI still works and says the server is unreachable (exit 3).
set +e; on alice sync >/dev/null 2>&1; rc=$?; set -e
[ $rc -eq 3 ] || fail "sync while the server is down should exit 3 (offline), got $rc"
ok "offline edits recorded; sync reports offline"

server_start
for d in alice bob sue; do
    "$FIELDSYNC" --replica "$W/$d.db" agent --interval 3600 --debounce-ms 100 --backoff-min-ms 200 --backoff-max-ms 500 \
        2>>"$W/agent-$d.log" &
    PIDS+=("$!")
done
# The agents sync on their own; wait (bounded) until nothing is pending, then
# let each do one more round so everyone has pulled everyone's last push.
for _ in $(seq 300); do
    p=0
    for d in alice bob sue; do p=$((p + $(on "$d" status --json | json 'd["pending"]'))); done
    [ $p -eq 0 ] && break
    sleep 0.1
done
[ $p -eq 0 ] || fail "agents did not push everything"
for d in alice bob sue alice bob sue; do on "$d" sync >/dev/null; done
ok "agents pushed everything"

for t in customers visits; do
    rows alice "$t" >"$W/a.$t"
    rows bob "$t" >"$W/b.$t"
    rows sue "$t" >"$W/s.$t"
    cmp -s "$W/a.$t" "$W/b.$t" || { diff "$W/a.$t" "$W/b.$t"; fail "alice and bob differ on $t"; }
    cmp -s "$W/a.$t" "$W/s.$t" || { diff "$W/a.$t" "$W/s.$t"; fail "alice and sue differ on $t"; }
done
[ "$(wc -l <"$W/a.visits")" -eq 2 ] || fail "expected the two visits on every device"
ok "all three replicas converge"

row=$(on alice customer show "$C" --json)
[ "$(echo "$row" | json 'd["phone"]')" = "+49 2" ] || fail "alice's phone edit lost"
[ "$(echo "$row" | json 'd["tier"]')" = "B" ] || fail "bob's tier edit lost"
[ "$(echo "$row" | json 'd["address"]')" = "Bob Rd 2" ] || fail "the later address should win"
ok "different fields merged: phone from alice, tier from bob"

[ "$(store_sql "SELECT count(*) FROM conflicts")" -eq 1 ] || fail "expected exactly one conflict"
[ "$(store_sql "SELECT field || '|' || kept || '|' || other FROM conflicts")" = \
  'address|"Bob Rd 2"|"Alice St 1"' ] || fail "the conflict must keep both values"
[ "$(store_sql "SELECT kept_user || '|' || other_user FROM conflicts")" = "bob|alice" ] ||
    fail "the conflict must name both authors"
n=$(( $(on alice conflicts --json | json 'len(d)') + $(on bob conflicts --json | json 'len(d)') ))
[ $n -eq 1 ] || fail "the device whose edit met the other should show the conflict (got $n)"
ok "one conflict record with both values and both authors"
