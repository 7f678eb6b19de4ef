# lib.sh — shared helpers for the client end-to-end tests: a real fieldsyncd on
# 127.0.0.1, real `fieldsync` CLI replicas, every wait bounded, everything
# cleaned up on exit. Sourced by each test; needs FIELDSYNCD and FIELDSYNC.
set -euo pipefail

: "${FIELDSYNCD:?path to fieldsyncd}"
: "${FIELDSYNC:?path to fieldsync}"
W=$(mktemp -d "${TMPDIR:-/tmp}/fsy-e2e.XXXXXX")
PIDS=()
SERVER_PID=
PORT=

cleanup() {
    local rc=$?
    for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill -9 "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    if [ $rc -ne 0 ]; then
        echo "--- server log:"; tail -20 "$W/server.log" 2>/dev/null || true
        for f in "$W"/*.log; do [ -f "$f" ] && { echo "--- $f"; tail -10 "$f"; }; done
    fi
    rm -rf "$W"
    exit $rc
}
trap cleanup EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }
ok() { echo "ok - $*"; }

# PostgreSQL for a test: the ctest fixture's server (FSY_PG_CONNINFO_FILE) or a private
# throwaway one. pg_setup PREFIX [SUFFIX...] creates the database PREFIX_<pid>_<n> (and
# one more per SUFFIX, its name with _SUFFIX appended) and sets BASE (the server's
# conninfo), DB and CONN (conninfo of DB); exit 77 without psql or a server. Call
# pg_cleanup from the test's EXIT trap, before cleanup.
PG_THROWAWAY=$(cd "$(dirname "${BASH_SOURCE[0]}")/../support" && pwd)/pg-throwaway.sh
PG_OWN=
PG_DBS=()
BASE=
DB=
CONN=
pg_setup() {
    command -v psql >/dev/null || { echo "SKIPPED: no psql"; exit 77; }
    if [ -n "${FSY_PG_CONNINFO_FILE:-}" ] && [ -s "$FSY_PG_CONNINFO_FILE" ]; then
        BASE=$(cat "$FSY_PG_CONNINFO_FILE")
    else
        PG_OWN=$(mktemp -u /tmp/fsy-pg-e2e.XXXXXX)
        local rc=0
        bash "$PG_THROWAWAY" start "$PG_OWN" >/dev/null || rc=$?
        [ $rc -eq 77 ] && { PG_OWN=; echo "SKIPPED: no PostgreSQL"; exit 77; }
        [ $rc -eq 0 ] || fail "could not start a throwaway PostgreSQL"
        BASE=$(cat "$PG_OWN/conninfo")
    fi
    DB=$1_$$_$RANDOM
    PG_DBS=("$DB")
    shift
    for suffix in "$@"; do PG_DBS+=("${DB}_$suffix"); done
    for d in "${PG_DBS[@]}"; do
        psql "$BASE" -X -q -v ON_ERROR_STOP=1 -c "CREATE DATABASE $d" >/dev/null
    done
    CONN=$(sed "s/dbname=[^ ]*/dbname=$DB/" <<<"$BASE")
}

# Daemons first (a database in use cannot be dropped), then the databases and server.
pg_cleanup() {
    for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill -9 "$p" 2>/dev/null || true; done
    if [ -n "$BASE" ]; then
        for d in "${PG_DBS[@]:-}"; do
            [ -n "$d" ] && psql "$BASE" -X -q -c "DROP DATABASE IF EXISTS $d" >/dev/null 2>&1 || true
        done
    fi
    [ -n "$PG_OWN" ] && bash "$PG_THROWAWAY" stop "$PG_OWN" >/dev/null 2>&1 || true
    return 0
}

# json FILTER: read JSON on stdin, print the Python expression FILTER applied to it as `d`.
json() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

server_init() {
    "$FIELDSYNCD" init "$W/server" >/dev/null
    sed -i 's/^port = 8443/port = 0/' "$W/server/fieldsyncd.conf"
    for kv in "$@"; do
        local k=${kv%%=*}
        sed -i "s/^$k = .*/$kv/" "$W/server/fieldsyncd.conf"
        sed -i "s/^$k=/$k = /" "$W/server/fieldsyncd.conf"
    done
}

server_start() {
    rm -f "$W/server/fieldsyncd.port"
    "$FIELDSYNCD" serve "$W/server" 2>>"$W/server.log" &
    SERVER_PID=$!
    PIDS+=("$SERVER_PID")
    for _ in $(seq 200); do [ -s "$W/server/fieldsyncd.port" ] && break; sleep 0.05; done
    [ -s "$W/server/fieldsyncd.port" ] || fail "daemon did not start"
    PORT=$(cat "$W/server/fieldsyncd.port")
    # Restarts keep the address the tablets were given.
    sed -i "s/^port = .*/port = $PORT/" "$W/server/fieldsyncd.conf"
}

server_stop() {
    kill -TERM "$SERVER_PID"
    for _ in $(seq 200); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.05; done
    kill -0 "$SERVER_PID" 2>/dev/null && fail "daemon did not stop"
    wait "$SERVER_PID" 2>/dev/null || true
}

# user NAME ROLE [TERRITORY]
user() {
    if [ -n "${3:-}" ]; then
        "$FIELDSYNCD" user-add "$W/server" "$1" --role "$2" --territory "$3" >/dev/null
    else
        "$FIELDSYNCD" user-add "$W/server" "$1" --role "$2" >/dev/null
    fi
}

# device NAME USER: a replica at $W/NAME.db enrolled as USER
device() {
    "$FIELDSYNC" --replica "$W/$1.db" init --server "https://127.0.0.1:$PORT" \
        --ca "$W/server/ca.crt" >/dev/null
    "$FIELDSYNC" --replica "$W/$1.db" enroll "$2" "$("$FIELDSYNCD" enroll-code "$W/server" "$2")" \
        >/dev/null
}

# on NAME ARGS...: run the CLI against device NAME
on() { local d=$1; shift; "$FIELDSYNC" --replica "$W/$d.db" "$@"; }

store_sql() { sqlite3 "$W/server/store.db" "$1"; }

# Rows of one table on a device, as sorted "id field=value ..." lines (stable to compare).
rows() {
    on "$1" export | python3 -c "
import json,sys
d=json.load(sys.stdin)
for r in sorted(d['$2'], key=lambda r: r['id']):
    print(json.dumps(r, sort_keys=True))"
}
