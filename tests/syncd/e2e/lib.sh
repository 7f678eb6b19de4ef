# lib.sh — shared by tests/syncd/e2e/test_*.sh: a private temp dir, certificates made
# with fsy_pki, the test server as a child process, bounded waits and small assertions.
# Everything a test starts is killed and its temp dir removed on exit, pass or fail.
#
# Usage (ctest passes the arguments):
#   source "$(dirname "$0")/lib.sh" NET_TESTSERVER NET_PROBE sanitize=<FIELDSYNC_SANITIZE>

set -euo pipefail

NET_TESTSERVER=${1:?path to net_testserver}
NET_PROBE=${2:?path to net_probe}
SANITIZE=${3:-sanitize=}
SANITIZE=${SANITIZE#sanitize=}

for tool in curl openssl timeout gzip od; do
    command -v "$tool" >/dev/null || { echo "SKIP: $tool is not installed"; exit 77; }
done

T=$(mktemp -d "${TMPDIR:-/tmp}/fsy-net-e2e.XXXXXX")
SERVER_PID=""
BG_PIDS=()
WAIT_RC=0

cleanup() {
    local pid
    # TERM first: `timeout` passes it on to the command it runs; KILL what is left.
    for pid in "${BG_PIDS[@]}" $SERVER_PID; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    sleep 0.2
    for pid in "${BG_PIDS[@]}" $SERVER_PID; do
        kill -KILL "$pid" 2>/dev/null || true
    done
    exec 2>/dev/null # no "Killed" job notices for what cleanup ended
    wait || true
    rm -rf "$T"
}
trap cleanup EXIT

fail() {
    echo "FAIL: $*" >&2
    if [ -s "$T/server.log" ]; then
        echo "--- server log (last 30 lines):" >&2
        tail -n 30 "$T/server.log" >&2
    fi
    exit 1
}

ok() {
    echo "ok   $*"
}

now_ms() {
    echo $(($(date +%s%N) / 1000000))
}

# True while pid runs (a zombie child does not count: it has exited).
is_running() {
    local state
    state=$(sed -n 's/^.*) \(.\).*/\1/p' "/proc/$1/stat" 2>/dev/null || true)
    [ -n "$state" ] && [ "$state" != Z ]
}

# wait_pid PID SECONDS: wait for a child to exit, at most SECONDS; its status in WAIT_RC.
wait_pid() {
    local pid=$1 limit=$(($(now_ms) + $2 * 1000))
    while is_running "$pid"; do
        [ "$(now_ms)" -lt "$limit" ] || return 1
        sleep 0.05
    done
    set +e
    wait "$pid"
    WAIT_RC=$?
    set -e
    return 0
}

# wait_line FILE PATTERN SECONDS: until a line matching PATTERN (grep -E) appears.
wait_line() {
    local limit=$(($(now_ms) + $3 * 1000))
    until grep -qE "$2" "$1" 2>/dev/null; do
        [ "$(now_ms)" -lt "$limit" ] || fail "no line matching '$2' in $1 within $3 s"
        sleep 0.05
    done
}

# make_pki [DIR]: CA + server certificate via fsy_pki (default $T/pki); sets CA.
make_pki() {
    local dir=${1:-$T/pki}
    "$NET_TESTSERVER" pki "$dir" >/dev/null || fail "certificate generation in $dir"
    CA=$T/pki/ca.crt
}

# start_server [OPTIONS...]: serve $T/pki with net_testserver options; sets SERVER_PID,
# PORT and URL. One server per test at a time.
start_server() {
    : >"$T/server.out"
    "$NET_TESTSERVER" serve "$T/pki" "$@" >"$T/server.out" 2>>"$T/server.log" &
    SERVER_PID=$!
    local limit=$(($(now_ms) + 10000))
    while :; do
        PORT=$(sed -n 's/^PORT //p' "$T/server.out")
        if [ -n "$PORT" ]; then
            URL="https://127.0.0.1:$PORT"
            return 0
        fi
        is_running "$SERVER_PID" || fail "server exited during start-up"
        [ "$(now_ms)" -lt "$limit" ] || fail "server did not report its port within 10 s"
        sleep 0.05
    done
}

# stop_server: SIGTERM, then wait (bounded); the exit status is in WAIT_RC.
stop_server() {
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    wait_pid "$SERVER_PID" 20 || fail "server still running 20 s after SIGTERM"
    SERVER_PID=""
}

# spawn OUTFILE CMD...: run CMD in the background with stdout to OUTFILE, stopped at
# exit; its pid in BG_PID. No shell wrapper, so the pid is the command itself.
spawn() {
    local out=$1
    shift
    "$@" >"$out" &
    BG_PID=$!
    BG_PIDS+=("$BG_PID")
}

# curl pinned to our CA, TLS 1.2 or later, bounded in time. Extra args follow.
tcurl() {
    timeout 30 curl -sS --max-time 20 --cacert "$CA" --tlsv1.2 "$@"
}

# json_field FILE NAME: the value of "NAME": in a one-line JSON object (ours only).
json_field() {
    sed -n "s/.*\"$2\":\"\{0,1\}\([^\",}]*\).*/\1/p" "$1"
}

# fetch_stats: one GET /stats (itself a request on a new connection) into $T/stats.json.
fetch_stats() {
    tcurl -o "$T/stats.json" "$URL/stats" || fail "GET /stats"
}

# server_stat NAME: one counter, fetched afresh.
server_stat() {
    fetch_stats
    json_field "$T/stats.json" "$1"
}

# expect_eq WHAT ACTUAL EXPECTED
expect_eq() {
    [ "$2" = "$3" ] || fail "$1: got '$2', expected '$3'"
}

# expect_error FILE CODE: the body is our JSON error with that stable code.
expect_error() {
    grep -q "^{\"error\":{\"code\":\"$2\",\"message\":\"[^\"]" "$1" ||
        fail "expected JSON error code $2, body: $(head -c 300 "$1")"
}

# vm_kb PID FIELD: VmRSS / VmHWM of a process in kB.
vm_kb() {
    sed -n "s/^$2:[[:space:]]*\([0-9]*\) kB/\1/p" "/proc/$1/status"
}
