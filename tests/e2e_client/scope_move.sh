#!/usr/bin/env bash
# A customer moved to another territory while the old rep has unsynced edits to
# it: edits made before the move are pushed first; edits the server can no
# longer accept become visible rejections; then the customer disappears from the
# old rep's tablet and appears, whole, with its visits, on the new rep's. The
# old rep keeps their own visits (DESIGN §4: scope is territory plus own records).
. "$(dirname "$0")/lib.sh"

server_init
server_start
user alice rep south
user carol rep north
user sue supervisor
device alice alice
device carol carol
device sue sue

C=$(on alice customer add --name "Kaufhaus Nord" --territory south --tier B)
V=$(on alice visit plan --customer "$C" --purpose "first visit")
C2=$(on alice customer add --name "Stays South" --territory south)
on alice sync >/dev/null
on sue sync >/dev/null
on carol sync >/dev/null
[ "$(on carol customer list --json | json 'len(d)')" -eq 0 ] || fail "carol sees south customers"

# alice edits offline (not yet synced); meanwhile the supervisor moves the customer.
on alice customer edit "$C" --phone "+49 40 1" >/dev/null
on alice visit edit "$V" --outcome "ordered 3 pallets" >/dev/null
on alice customer edit "$C2" --phone "+49 89 2" >/dev/null
on sue customer edit "$C" --territory north >/dev/null
on sue sync >/dev/null

on alice sync >/dev/null
rej=$(on alice rejections --json)
[ "$(echo "$rej" | json 'len(d)')" -eq 1 ] || fail "expected alice's edit of the moved customer refused: $rej"
[ "$(echo "$rej" | json 'd[0]["code"] + " " + d[0]["id"]')" = "out_of_scope $C" ] ||
    fail "the refusal should say out_of_scope for the customer: $rej"
[ "$(echo "$rej" | json 'd[0]["fields"]["phone"]')" = "+49 40 1" ] ||
    fail "the refused value must stay visible to the rep: $rej"
ok "an edit the server can no longer accept is a visible rejection"
[ "$(on alice customer show "$C2" --json | json 'd["phone"]')" = "+49 89 2" ] ||
    fail "the edit of the customer that stayed was lost"
set +e; on alice customer show "$C" >/dev/null 2>&1; rc=$?; set -e
[ $rc -ne 0 ] || fail "the moved customer is still on alice's tablet"
[ "$(on alice visit show "$V" --json | json 'd["outcome"]')" = "ordered 3 pallets" ] ||
    fail "alice's own visit (and her edit of it) should stay with her"
ok "the customer left alice's tablet; her own visit stayed"

on carol sync >/dev/null
row=$(on carol customer show "$C" --json)
[ "$(echo "$row" | json 'd["name"]')" = "Kaufhaus Nord" ] || fail "carol did not get the whole row"
[ "$(echo "$row" | json 'd["tier"]')" = "B" ] || fail "carol's copy misses fields set before the move"
[ "$(on carol visit show "$V" --json | json 'd["purpose"] + "/" + d["outcome"]')" = \
  "first visit/ordered 3 pallets" ] || fail "carol did not get the customer's visit whole"
[ "$(on carol customer list --json | json 'len(d)')" -eq 1 ] || fail "carol got more than the moved customer"
ok "the customer and its visit arrived whole on carol's tablet"

# Edits pushed before the move are kept.
C3=$(on alice customer add --name "Moves Later" --territory south)
on alice sync >/dev/null
on alice customer edit "$C3" --phone "+49 30 3" >/dev/null
on alice sync >/dev/null
on sue sync >/dev/null
on sue customer edit "$C3" --territory north >/dev/null
on sue sync >/dev/null
on carol sync >/dev/null
[ "$(on carol customer show "$C3" --json | json 'd["phone"]')" = "+49 30 3" ] ||
    fail "an edit pushed before the move was lost"
on alice sync >/dev/null
set +e; on alice customer show "$C3" >/dev/null 2>&1; rc=$?; set -e
[ $rc -ne 0 ] || fail "C3 is still on alice's tablet"
ok "edits synced before a move survive it"
