#!/usr/bin/env bash
# A rep's client killed with SIGKILL at random points during sync, 50 times:
# nothing lost (every visit the rep recorded reaches the server and the other
# device), nothing duplicated (no change applied twice: one create per visit in
# the server's change log, hwm-guarded retries answered from stored results).
. "$(dirname "$0")/lib.sh"
SEED=${FSY_TEST_SEED:-$(date +%s)}
echo "FSY_TEST_SEED=$SEED"
RANDOM=$SEED
ROUNDS=${FSY_KILL_ROUNDS:-50}

server_init
server_start
user alice rep south
user bob rep south
device alice alice
device bob bob
C=$(on alice customer add --name "Acme" --territory south)
: >"$W/created"
kills=0
for i in $(seq "$ROUNDS"); do
    for k in 1 2 3; do
        on alice visit plan --customer "$C" --purpose "round $i visit $k" >>"$W/created"
    done
    on alice customer edit "$C" --phone "round $i" >/dev/null
    # The binary itself, not a shell function: SIGKILL must hit the client.
    "$FIELDSYNC" --replica "$W/alice.db" sync >/dev/null 2>&1 &
    pid=$!
    # Somewhere between "before the first byte" and "after the last ack".
    sleep "0.0$((RANDOM % 60 + 5))"
    if kill -9 "$pid" 2>/dev/null; then kills=$((kills + 1)); fi
    wait "$pid" 2>/dev/null || true
done
echo "killed $kills of $ROUNDS syncs mid-flight"
on alice sync >/dev/null
on alice sync >/dev/null
on bob sync >/dev/null

[ "$(on alice status --json | json 'd["pending"]')" -eq 0 ] || fail "alice still has pending changes"
[ "$(on alice status --json | json 'd["parked"]')" -eq 0 ] || fail "changes were refused"
n_created=$(wc -l <"$W/created")
[ "$(store_sql "SELECT count(*) FROM rows WHERE tbl = 2")" -eq "$n_created" ] ||
    fail "server has $(store_sql "SELECT count(*) FROM rows WHERE tbl = 2") visits, alice made $n_created"
dups=$(store_sql "SELECT count(*) FROM (SELECT id FROM changes WHERE tbl = 2 GROUP BY id
                  HAVING count(*) > 1)")
[ "$dups" -eq 0 ] || fail "$dups visits were applied more than once"
on bob visit list --limit 10000 --json | json '"\n".join(sorted(r["id"] for r in d))' >"$W/bob_ids"
sort "$W/created" >"$W/created_sorted"
cmp -s "$W/bob_ids" "$W/created_sorted" || fail "bob's visits differ from what alice recorded"
[ "$(on bob customer show "$C" --json | json 'd["phone"]')" = "round $ROUNDS" ] ||
    fail "the last edit did not win"
[ "$(store_sql "SELECT count(*) FROM conflicts")" -eq 0 ] ||
    fail "retries of alice's own edits were taken for conflicts"
ok "$n_created visits, $ROUNDS edits, $kills kills: nothing lost, nothing applied twice"
