#!/usr/bin/env bash
# A revoked device wipes its replica on its next sync (the only thing that ever
# deletes unsynced work); the agent stops; the token no longer works.
. "$(dirname "$0")/lib.sh"

server_init
server_start
user alice rep south
device alice alice
C=$(on alice customer add --name "Acme" --territory south)
on alice sync >/dev/null
on alice visit plan --customer "$C" --purpose "unsynced" >/dev/null
DEV=$(on alice status --json | json 'd["device_id"]')
"$FIELDSYNCD" revoke "$W/server" "$DEV" >/dev/null

set +e; out=$(on alice sync 2>&1); rc=$?; set -e
[ $rc -ne 0 ] || fail "sync of a revoked device should fail"
echo "$out" | grep -q "device_revoked" || fail "the refusal should say device_revoked: $out"
exp=$(on alice export)
[ "$(echo "$exp" | json 'sum(len(v) for v in d.values())')" -eq 0 ] || fail "replica not wiped: $exp"
[ "$(on alice status --json | json 'd["device_id"]')" = "None" ] || fail "identity not wiped"
[ "$(on alice status --json | json 'd["pending"]')" -eq 0 ] || fail "journal not wiped"
ok "revoked device wiped its replica"

# The agent of a second revoked device wipes and exits with code 3.
device alice2 alice
on alice2 sync >/dev/null
DEV2=$(on alice2 status --json | json 'd["device_id"]')
"$FIELDSYNCD" revoke "$W/server" "$DEV2" >/dev/null
set +e; timeout 20 "$FIELDSYNC" --replica "$W/alice2.db" agent --interval 3600 2>"$W/agent.log"
rc=$?; set -e
[ $rc -eq 3 ] || fail "agent should exit 3 after a wipe, got $rc"
[ "$(on alice2 export | json 'sum(len(v) for v in d.values())')" -eq 0 ] || fail "agent did not wipe"
ok "the agent obeys the wipe instruction and stops"
