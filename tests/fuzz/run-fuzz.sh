#!/usr/bin/env bash
# Build the libFuzzer binaries (clang, -DFIELDSYNC_FUZZ=ON, ASan+UBSan, separate build
# dir) and fuzz each target for SECONDS with its seed corpus, one process at a time.
#
#   tests/fuzz/run-fuzz.sh 20                  # CI: 20 s per target
#   tests/fuzz/run-fuzz.sh 600                 # the documented long run: 10 min per target
#   tests/fuzz/run-fuzz.sh 60 http_request     # one target
#
# New interesting inputs go to <build>/fuzz-corpus/<target> (the seed corpus in the repo
# is only read). A crash leaves crash-* in <build>/fuzz-artifacts/<target>; the script
# prints it, exits 1, and the input belongs in tests/fuzz/regressions/<target>/ once the
# bug is fixed. FSY_FUZZ_BUILD overrides the build dir (default build-fuzz).
set -euo pipefail
cd "$(dirname "$0")/../.."
secs=${1:?usage: run-fuzz.sh SECONDS [target...]}
shift
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(pull_apply ack_apply http_request push_apply hlc_time_parse)
build=${FSY_FUZZ_BUILD:-build-fuzz}

CC=clang CXX=clang++ cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DFIELDSYNC_FUZZ=ON -DFIELDSYNC_SANITIZE=address,undefined -DFIELDSYNC_CLIENT=OFF \
    -DFIELDSYNC_TESTS=ON >/dev/null
ninja -C "$build" $(printf '%s_fuzz ' "${targets[@]}")

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:symbolize=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
status=0
for t in "${targets[@]}"; do
    corpus="$build/fuzz-corpus/$t"
    artifacts="$build/fuzz-artifacts/$t"
    mkdir -p "$corpus" "$artifacts"
    dict=()
    [ -f "tests/fuzz/$t.dict" ] && dict=(-dict="tests/fuzz/$t.dict")
    log="$build/fuzz-artifacts/$t.log"
    echo "== $t: ${secs}s"
    set +e
    "$build/tests/fuzz/${t}_fuzz" "$corpus" "tests/fuzz/corpus/$t" "tests/fuzz/regressions/$t" \
        "${dict[@]}" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
        -print_final_stats=1 -artifact_prefix="$artifacts/" >"$log" 2>&1
    rc=$?
    set -e
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1)
    echo "$t: ${execs:-?} executions (${rate:-?}/s), ${cov:-cov: ?}, exit $rc"
    if [ $rc -ne 0 ]; then
        status=1
        echo "!! $t crashed; last lines of $log:"
        tail -40 "$log"
        ls -l "$artifacts"
    fi
done
exit $status
