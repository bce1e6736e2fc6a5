#!/usr/bin/env bash
# The GPU checks of the GPU path, as one prepared run for the lent GPU machine (the device tool).
#
#   gpu/device_check.sh prepare   here: builds the GPU tests and benchmark (Release) into
#                                 build-gpu/ and packs them with ../shared/tools/device-bundle into
#                                 .devbundle/ (add /.devbundle/ to .git/info/exclude)
#   gpu/device_check.sh run       there (the device tool's command, with carry [".devbundle"]):
#                                 nvidia-smi, then the tests and the benchmark; results in $OUT
#
# The tests skip without a GPU, so `run` fails if any of them skipped: there is one.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
case "${1:-}" in
  prepare)
    cmake -S . -B build-gpu -DCMAKE_BUILD_TYPE=Release -DCKPTDB_BUILD_PYTHON=OFF >/dev/null
    cmake --build build-gpu -j"$(nproc)" --target gpu_blake3_test gpu_device_save_test gpu_blake3_bench blake3_tree_test
    mkdir -p build-gpu/only && cp build-gpu/gpu_blake3_test build-gpu/gpu_device_save_test build-gpu/gpu_blake3_bench build-gpu/blake3_tree_test build-gpu/only/
    ../shared/tools/device-bundle build-gpu/only .devbundle
    ;;
  run)
    export LD_LIBRARY_PATH=$PWD/.devbundle/lib CKPTDB_TESTDATA=$PWD/.devbundle/testdata
    out=${OUT:-/tmp}
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv | tee "$out/device.txt"
    .devbundle/bin/blake3_tree_test
    .devbundle/bin/gpu_blake3_test 2>&1 | tee "$out/gpu_blake3_test.txt"
    .devbundle/bin/gpu_device_save_test 2>&1 | tee "$out/gpu_device_save_test.txt"
    if grep -q SKIPPED "$out"/gpu_*_test.txt; then echo "device_check: GPU tests skipped on the GPU machine"; exit 1; fi
    .devbundle/bin/gpu_blake3_bench --benchmark_out="$out/gpu_blake3_bench.json" 2>&1 | tee "$out/gpu_blake3_bench.txt"
    ;;
  *) echo "usage: gpu/device_check.sh prepare|run" >&2; exit 2 ;;
esac
