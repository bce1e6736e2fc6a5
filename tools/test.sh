#!/usr/bin/env bash
# The README's test command: installs what is missing (Debian packages, and the Python packages
# into .venv/), builds from scratch, runs every test: ctest, then pytest over the Python module.
#   tools/test.sh            # the CI suite
#   CKPTDB_LONG_TESTS=1 tools/test.sh   # also the long crash trials
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install_deps.sh
tools/python_env.sh
build=build/test
rm -rf "$build"
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCKPTDB_BUILD_BENCH=ON
cmake --build "$build" -j"$(nproc)"
(cd "$build" && ctest --output-on-failure -j"$(nproc)" --timeout 900)
# pytest exits non-zero on a failure and (5) when it collected no test; its summary line is printed.
PYTHONPATH="$build/python" .venv/bin/python -m pytest -p no:cacheprovider -q api/python/tests
