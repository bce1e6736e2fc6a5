#!/usr/bin/env bash
# Quick start: installs what is missing (Debian packages, and .venv/ with torch), builds ckptdb and
# its Python module, and runs the PyTorch demo (tools/demo.py): a training run SIGKILLed mid-run,
# resumed from ckptdb in a new process, checked bit for bit against an uninterrupted run; then
# `ckptdb log --graph` and `ckptdb du` of its store, left in build/demo-store for browsing.
# Flags go to the demo: tools/demo.sh --steps 400 --every 20
# The C++ demo (tools/demo.cc, build/ckptdb_demo) is the same story against the C++ API.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
tools/install_deps.sh
tools/python_env.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
cmake --build build -j"$(nproc)" --target ckptdb_python ckptdb_exe ckptdb_demo
rm -rf build/demo-store
PYTHONPATH=build/python exec .venv/bin/python tools/demo.py --store build/demo-store --cli build/ckptdb "$@"
