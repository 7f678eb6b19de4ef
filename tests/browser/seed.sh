# seed.sh — a review scenario on a running daemon (sourced after
# tests/e2e_client/lib.sh, with the server started). Two teams:
#   sue (supervisor): alice, bob (territory south)   tom (supervisor): carl (north)
#   root (admin). Passwords: <name>-pw-1234.
# Data: customer Acme (south) whose address alice and bob edited concurrently,
# alice's visit V_ALICE whose outcome alice and bob edited concurrently, bob's
# visit V_BOB, carl's visit V_CARL at Nordhaus (north). Exports the ids.
seed_users() {
    "$FIELDSYNCD" user-add "$W/server" root --role admin --password root-pw-1234 >/dev/null
    for s in sue tom; do
        "$FIELDSYNCD" user-add "$W/server" "$s" --role supervisor --password "$s-pw-1234" >/dev/null
    done
    "$FIELDSYNCD" user-add "$W/server" alice --role rep --territory south --supervisor sue \
        --password alice-pw-1234 >/dev/null
    "$FIELDSYNCD" user-add "$W/server" bob --role rep --territory south --supervisor sue >/dev/null
    "$FIELDSYNCD" user-add "$W/server" carl --role rep --territory north --supervisor tom >/dev/null
}

seed_data() {
    device alice alice
    device bob bob
    device carl carl
    ACME=$(on alice customer add --name "Acme Wholesale" --territory south --tier A \
        --address "Marienplatz 1, München")
    V_ALICE=$(on alice visit plan --customer "$ACME" --at 2026-11-20T09:00:00Z \
        --kind existing-customer --purpose "Q1 shelf listing")
    on alice visit start "$V_ALICE" --lat 48.1374 --lon 11.5755 >/dev/null
    on alice visit end "$V_ALICE" --outcome "Listing agreed for 12 SKUs" --satisfaction 5 >/dev/null
    on alice sync >/dev/null
    on bob sync >/dev/null
    V_BOB=$(on bob visit plan --customer "$ACME" --at 2026-11-21T15:00:00Z \
        --kind existing-customer --purpose '=SUM(1+1) "Merchandising" check')
    on bob sync >/dev/null
    # Offline on both tablets: the same fields edited twice.
    on alice customer edit "$ACME" --address "Marienplatz 2, München" >/dev/null
    on alice visit edit "$V_ALICE" --outcome "Listing agreed for 14 SKUs" >/dev/null
    sleep 0.05
    on bob customer edit "$ACME" --address "Kaufingerstraße 5, München" >/dev/null
    on bob visit edit "$V_ALICE" --outcome "=HYPERLINK(\"http://x\") 12 SKUs, \"confirmed\"" >/dev/null
    on alice sync >/dev/null
    on bob sync >/dev/null
    on alice sync >/dev/null
    NORD=$(on carl customer add --name "Nordhaus GmbH" --territory north --tier B)
    V_CARL=$(on carl visit plan --customer "$NORD" --at 2026-11-19T10:00:00Z --kind cold \
        --purpose "First contact")
    on carl sync >/dev/null
    export ACME NORD V_ALICE V_BOB V_CARL
}
