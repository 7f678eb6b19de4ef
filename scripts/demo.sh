#!/usr/bin/env bash
# Install what is missing, build, and run the demo: a rep records visits with no
# network, and the pending journal shows what will sync.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
ninja -C build fieldsync-offline-demo >/dev/null
mkdir -p build/demo
exec build/client/fieldsync-offline-demo build/demo/alice.db
