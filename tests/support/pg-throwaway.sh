#!/usr/bin/env bash
# pg-throwaway.sh — a real, private PostgreSQL server for the tests.
#
#   pg-throwaway.sh start DIR    initdb in a fresh /tmp/fsy-pg.XXXXXX (named in DIR/datadir;
#                                /tmp so the postgres user can reach it wherever DIR is),
#                                listen on 127.0.0.1 at a free port (socket there too),
#                                create role and database "fieldsync", write the libpq
#                                conninfo to DIR/conninfo
#   pg-throwaway.sh stop DIR     pg_ctl stop -m fast, then rm -rf the data and DIR
#   pg-throwaway.sh restart DIR  pg_ctl restart -m fast (same port and data)
#   pg-throwaway.sh pause DIR    pg_ctl stop -m fast, data kept;  resume DIR: start again
#
# initdb refuses to run as root, so as root the server runs as the postgres user
# (runuser). Exits 77 (ctest: skipped) when that is impossible: not root and not the
# postgres user, or no PostgreSQL binaries. The role may create databases: each test
# makes its own, so tests can run in parallel on one server.
set -euo pipefail

PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
cmd=${1:-}
dir=${2:-}
if [ -z "$cmd" ] || [ -z "$dir" ]; then
    echo "usage: $0 start|stop|restart|pause|resume DIR" >&2
    exit 2
fi

as_pg() {
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

skip() {
    echo "pg-throwaway: SKIPPED: $*" >&2
    exit 77
}

data() {
    cat "$dir/datadir"
}

ctl() {
    as_pg "$PGBIN/pg_ctl" -D "$(data)/data" -l "$(data)/server.log" -w -t 30 "$@"
}

case "$cmd" in
start)
    [ -x "$PGBIN/initdb" ] || skip "no PostgreSQL server binaries in $PGBIN (apt-get install postgresql)"
    if [ "$(id -u)" -eq 0 ]; then
        id postgres >/dev/null 2>&1 || skip "running as root but there is no postgres user"
    elif [ "$(id -un)" != postgres ]; then
        skip "initdb refuses root and the tests need to run it as postgres: run as root or postgres"
    fi
    if [ -f "$dir/datadir" ]; then
        "$0" stop "$dir" || true # a leftover from an interrupted run
    fi
    rm -rf "$dir"
    mkdir -p "$dir"
    pgdir=$(mktemp -d /tmp/fsy-pg.XXXXXX)
    echo "$pgdir" >"$dir/datadir"
    if [ "$(id -u)" -eq 0 ]; then chown postgres: "$pgdir"; fi
    as_pg "$PGBIN/initdb" -D "$pgdir/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 \
        >"$pgdir/initdb.log" 2>&1 || { cat "$pgdir/initdb.log" >&2; exit 1; }
    # Throwaway: durability does not matter between tests, speed does. The daemon
    # still sets synchronous_commit = on per session, so commits wait for the WAL
    # write (fsync is off for the whole cluster: a machine crash loses the cluster).
    # FSY_PG_DURABLE=1 (the benchmarks) keeps fsync and full-page writes on, so figures
    # compare with SQLite at synchronous=FULL.
    durable=off
    if [ "${FSY_PG_DURABLE:-0}" = 1 ]; then durable=on; fi
    cat >>"$pgdir/data/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
unix_socket_directories = '$pgdir'
fsync = $durable
full_page_writes = $durable
max_connections = 200
shared_buffers = 32MB
log_min_messages = warning
EOF
    started=0
    for attempt in 1 2 3 4 5 6 7 8; do
        port=$((20000 + (RANDOM * 32768 + RANDOM) % 40000))
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            continue # taken
        fi
        if ctl -o "-p $port" start >/dev/null 2>&1; then
            started=1
            break
        fi
    done
    if [ "$started" -ne 1 ]; then
        tail -20 "$pgdir/server.log" >&2 || true
        echo "pg-throwaway: the server did not start" >&2
        exit 1
    fi
    echo "$port" >"$dir/port"
    as_pg "$PGBIN/psql" -X -q -h 127.0.0.1 -p "$port" -U postgres -d postgres -v ON_ERROR_STOP=1 \
        -c "CREATE ROLE fieldsync LOGIN CREATEDB" -c "CREATE DATABASE fieldsync OWNER fieldsync" >&2
    echo "host=127.0.0.1 port=$port dbname=fieldsync user=fieldsync" >"$dir/conninfo"
    echo "pg-throwaway: PostgreSQL on 127.0.0.1:$port, data in $pgdir/data"
    ;;
stop)
    if [ -f "$dir/datadir" ]; then
        pgdir=$(data)
        case "$pgdir" in
        /tmp/fsy-pg.*)
            if [ -d "$pgdir/data" ]; then ctl stop -m fast >/dev/null 2>&1 || true; fi
            rm -rf "$pgdir"
            ;;
        esac
    fi
    rm -rf "$dir"
    ;;
restart)
    ctl -o "-p $(cat "$dir/port")" restart -m fast >/dev/null
    ;;
pause)
    ctl stop -m fast >/dev/null
    ;;
resume)
    ctl -o "-p $(cat "$dir/port")" start >/dev/null
    ;;
*)
    echo "usage: $0 start|stop|restart|pause|resume DIR" >&2
    exit 2
    ;;
esac
