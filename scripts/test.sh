#!/usr/bin/env bash
# Install what is missing, build everything twice (gcc, and clang with
# ASan+UBSan), check formatting, run the whole ctest suite on both builds, fuzz
# each target briefly, and cross-build and test the core for ARM and Windows.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/deps.sh

echo "== format check"
git ls-files '*.c' '*.h' '*.cpp' | xargs clang-format --dry-run --Werror

echo "== gcc build"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFIELDSYNC_TESTS=ON >/dev/null
ninja -C build
echo "== clang ASan+UBSan build"
CC=clang CXX=clang++ cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug \
    -DFIELDSYNC_SANITIZE=address,undefined -DFIELDSYNC_TESTS=ON >/dev/null
ninja -C build-asan

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
echo "== tests (gcc)"
(cd build && ctest --output-on-failure -j2 --timeout 900)
echo "== tests (ASan+UBSan)"
(cd build-asan && ctest --output-on-failure -j2 --timeout 1800)

echo "== fuzz (20 s per target; the long run is tests/fuzz/run-fuzz.sh 600)"
tests/fuzz/run-fuzz.sh 20

# Tablets are ARM (and some Windows): build core+client for aarch64, armhf and
# mingw-w64 and run the core tests under qemu-user and wine. Set FSY_SKIP_CROSS=1
# to skip it on a developer machine; CI always runs it.
if [ "${FSY_SKIP_CROSS:-0}" != 1 ]; then
    echo "== cross builds (cross/README.md)"
    bash cross/build-and-test.sh
fi
