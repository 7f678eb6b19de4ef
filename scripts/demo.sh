#!/usr/bin/env bash
# The fieldsync story on the embedded SQLite default: start a daemon, enrol two
# reps, record visits while the server is down, bring it back, and show the
# merged visit log and the conflict. Installs what is missing and builds first.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
cmake -S . -B build-demo -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFIELDSYNC_TESTS=OFF >/dev/null
ninja -C build-demo fieldsync fieldsyncd >/dev/null

D=build-demo/syncd/fieldsyncd
F=build-demo/client/fieldsync
W=build-demo/demo
rm -rf "$W"
mkdir -p "$W"
pids=()
cleanup() {
    for p in "${pids[@]:-}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
trap cleanup EXIT
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
alice() { "$F" --replica "$W/alice.db" "$@"; }
bob() { "$F" --replica "$W/bob.db" "$@"; }
start_server() {
    "$D" serve "$W/server" 2>>"$W/server.log" &
    server_pid=$!
    pids+=("$server_pid")
    for _ in $(seq 100); do [ -s "$W/server/fieldsyncd.port" ] && break; sleep 0.05; done
}

say "1. The operator creates and starts the daemon (embedded SQLite store)"
"$D" init "$W/server" | sed 's/^/   /'
sed -i 's/^port = 8443/port = 0/' "$W/server/fieldsyncd.conf"
start_server
PORT=$(cat "$W/server/fieldsyncd.port")
# Keep the same port across restarts: the tablets know this address.
sed -i "s/^port = 0/port = $PORT/" "$W/server/fieldsyncd.conf"
echo "   listening on https://127.0.0.1:$PORT"

say "2. The admin adds a supervisor and her two reps of territory south, and enrols their tablets"
"$D" user-add "$W/server" sue --role supervisor --password demo-sue-pw
"$D" user-add "$W/server" alice --role rep --territory south --supervisor sue
"$D" user-add "$W/server" bob --role rep --territory south --supervisor sue
for u in alice bob; do
    "$F" --replica "$W/$u.db" init --server "https://127.0.0.1:$PORT" --ca "$W/server/ca.crt"
    "$F" --replica "$W/$u.db" enroll "$u" "$("$D" enroll-code "$W/server" "$u")"
done

say "3. Online: alice adds a customer; both tablets sync"
ACME=$(alice customer add --name "Acme Wholesale" --territory south --tier A --status loyal \
    --phone "+49 89 555 0100" --address "Marienplatz 1, München")
echo "   customer $ACME"
alice sync
bob sync

say "4. The background agents start; then the server goes down"
for u in alice bob; do
    "$F" --replica "$W/$u.db" agent --interval 3600 --debounce-ms 200 --backoff-min-ms 500 \
        --backoff-max-ms 2000 2>>"$W/agent-$u.log" &
    pids+=("$!")
done
sleep 0.5
kill -TERM "$server_pid"
wait "$server_pid" 2>/dev/null || true
echo "   fieldsyncd stopped: $(tail -1 "$W/server.log" | cut -d' ' -f2-)"

say "5. Offline, the reps keep working (every command touches only the tablet)"
V1=$(alice visit plan --customer "$ACME" --at 2026-11-23T09:00:00Z --kind existing-customer \
    --purpose "Q1 shelf listing")
alice visit start "$V1" --lat 48.1374 --lon 11.5755 >/dev/null
alice visit end "$V1" --lat 48.1375 --lon 11.5757 --outcome "Listing agreed for 12 SKUs" \
    --next-steps "Send contract draft" --satisfaction 5 >/dev/null
V2=$(bob visit plan --customer "$ACME" --at 2026-11-23T15:00:00Z --kind existing-customer \
    --purpose "Merchandising check")
bob visit start "$V2" >/dev/null
bob visit end "$V2" --outcome "End-cap needs restocking" --satisfaction 3 >/dev/null
echo "   alice edits the phone and the address; bob edits the tier and, later, the address"
alice customer edit "$ACME" --phone "+49 89 555 0199" --address "Marienplatz 2, München" >/dev/null
sleep 0.05
bob customer edit "$ACME" --tier B --address "Kaufingerstraße 5, München" >/dev/null
echo "   pending on alice's tablet: $(alice status --json | python3 -c 'import json,sys;print(json.load(sys.stdin)["pending"])')," \
    "on bob's: $(bob status --json | python3 -c 'import json,sys;print(json.load(sys.stdin)["pending"])')"

say "6. The server is back; the agents sync on their own"
start_server
for p in "${pids[@]:1:2}"; do kill -USR2 "$p" 2>/dev/null || true; done # connectivity returned
pending() { "$F" --replica "$W/$1.db" status --json | python3 -c 'import json,sys;print(json.load(sys.stdin)["pending"])'; }
for _ in $(seq 200); do
    [ "$(pending alice)" = 0 ] && [ "$(pending bob)" = 0 ] && break
    sleep 0.1
done
# One more round each so both have pulled the other's last push.
alice sync >/dev/null
bob sync >/dev/null
alice sync >/dev/null
echo "   agent logs:"
sed 's/^/     /' "$W/agent-alice.log" "$W/agent-bob.log" | grep -v "^ *$" | tail -6

say "7. The merged visit log, the same on both tablets"
echo "   alice's tablet:"
alice visit list --customer "$ACME" | sed 's/^/     /'
echo "   bob's tablet:"
bob visit list --customer "$ACME" | sed 's/^/     /'
echo "   the customer after the merge (different fields merged, no conflict):"
bob customer show "$ACME" | sed 's/^/     /'

say "8. The conflict: both changed the address while offline"
echo "   what each tablet was told about its own edits:"
alice conflicts | sed 's/^/     alice: /'
bob conflicts | sed 's/^/     bob:   /'
echo "   what the server keeps for the supervisor's review:"
sqlite3 "$W/server/store.db" \
    "SELECT '     ' || field || ' kept ' || kept || ' (' || kept_user || '), other '
            || other || ' (' || other_user || ')' FROM conflicts" 2>/dev/null || true
echo
echo "Data left in $W (server directory, replicas, logs)."
echo "To review it as the supervisor: $D serve $W/server"
echo "then open https://127.0.0.1:$PORT/review (user sue, password demo-sue-pw;"
echo "the browser must trust $W/server/ca.crt, or accept the warning)."
