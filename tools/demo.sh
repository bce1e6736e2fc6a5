#!/usr/bin/env bash
# Quick start: installs the build dependencies, builds ckptdb and runs the demo trainer, which
# crashes a training run, resumes it from ckptdb and checks the result bit for bit.
# Flags go to the demo: tools/demo.sh --steps 800 --every 100 --kill-at 555 --keep
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
tools/install_deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
cmake --build build -j"$(nproc)" --target ckptdb_demo ckptdb_exe
exec build/ckptdb_demo "$@"
