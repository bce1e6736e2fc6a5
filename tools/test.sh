#!/usr/bin/env bash
# The README's test command: installs what is missing, builds from scratch, runs every test.
#   tools/test.sh            # the CI suite
#   CKPTDB_LONG_TESTS=1 tools/test.sh   # also the long crash trials
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install_deps.sh
build=build/test
rm -rf "$build"
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCKPTDB_BUILD_BENCH=ON
cmake --build "$build" -j"$(nproc)"
cd "$build"
ctest --output-on-failure -j"$(nproc)" --timeout 900
