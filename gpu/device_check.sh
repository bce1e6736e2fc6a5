#!/usr/bin/env bash
# The GPU checks of the GPU path, as one prepared run for the lent GPU machine (the device tool).
#
#   gpu/device_check.sh prepare   here: builds the GPU tests, the benchmarks and the libraries
#                                 (Release) into build-gpu/ and packs them with
#                                 ../shared/tools/device-bundle into .devbundle/, with a kit to
#                                 build the Python extension there (add /.devbundle/ to
#                                 .git/info/exclude)
#   gpu/device_check.sh run       there (the device tool's command, with carry [".devbundle"],
#                                 timeout_s 600): nvidia-smi; builds the Python extension against
#                                 the machine's own Python and PyTorch; the C++ GPU tests; the
#                                 Python CUDA tests; the benchmarks. Everything lands in $OUT.
#
# The GPU tests skip without a GPU, so `run` fails if any of them skipped there. Each stage has its
# own time limit so that the whole run fits in the device tool's 10 minutes.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
tests=(blake3_tree_test gpu_blake3_test gpu_device_saver_test gpu_persist_crash_test)
case "${1:-}" in
  prepare)
    set -e
    cmake -S . -B build-gpu -DCMAKE_BUILD_TYPE=Release -DCKPTDB_BUILD_PYTHON=OFF -DCKPTDB_BUILD_BENCH=ON >/dev/null
    cmake --build build-gpu -j"$(nproc)" --target "${tests[@]}" gpu_blake3_bench gpu_save ckptdb ckptdb_gpu
    rm -rf build-gpu/only && mkdir -p build-gpu/only
    for t in "${tests[@]}" gpu_blake3_bench gpu_save; do cp "build-gpu/$t" build-gpu/only/; done
    ../shared/tools/device-bundle build-gpu/only .devbundle
    kit=.devbundle/pykit  # the extension's sources and headers, laid out as their includes name them
    mkdir -p "$kit/include/api/python" "$kit/include/gpu" "$kit/include/store" "$kit/include/schema" "$kit/lib" "$kit/python"
    cp -r api/ckptdb "$kit/include/ckptdb"
    cp -r api/python/src "$kit/include/api/python/src"
    cp gpu/*.h "$kit/include/gpu/" && cp store/*.h "$kit/include/store/"
    cp "$(dirname "$(find build-gpu -name state_tree_generated.h | head -1)")"/*_generated.h "$kit/include/schema/"
    cp -r /usr/include/flatbuffers /usr/include/dlpack "$kit/include/"
    cp build-gpu/libckptdb.a build-gpu/gpu/libckptdb_gpu.a "$kit/lib/"
    cp -r api/python/ckptdb "$kit/python/" && find "$kit/python" -name __pycache__ -prune -exec rm -rf {} +
    mkdir -p .devbundle/src && cp -r api/python/tests bench/gpu_restore_bench.py .devbundle/src/
    du -sh .devbundle
    ;;
  run)
    export LD_LIBRARY_PATH=$PWD/.devbundle/lib CKPTDB_TESTDATA=$PWD/.devbundle/testdata PYTHONUNBUFFERED=1
    out=${OUT:-/tmp}
    scratch=${TMPDIR:-/tmp}/ckptdb-gpu-check
    rm -rf "$scratch" && mkdir -p "$scratch"
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv | tee "$out/device.txt"
    df -h "$scratch" | tee -a "$out/device.txt"
    failed=0
    # 1. The Python extension, built here against this machine's Python (3.12) and PyTorch.
    kit=$PWD/.devbundle/pykit
    (
      cd "$kit" && mkdir -p obj
      flags="-O2 -std=c++20 -fPIC -fvisibility=hidden -DCKPTDB_PY_GPU $(python3 -m pybind11 --includes) -Iinclude"
      ls include/api/python/src/*.cc | xargs -P 16 -I{} sh -c "g++ $flags -c {} -o obj/\$(basename {} .cc).o"
      ext=$(python3 -c 'import sysconfig; print(sysconfig.get_config_var("EXT_SUFFIX"))')
      g++ -shared -o "python/ckptdb/_ckptdb$ext" obj/*.o lib/libckptdb_gpu.a lib/libckptdb.a \
        -L/usr/local/cuda/lib64 -lcudart_static -L"$LD_LIBRARY_PATH" -l:librocksdb.so.7.8 \
        -l:libboost_filesystem.so.1.74.0 -lpthread -ldl -lrt
    ) > "$out/python_build.txt" 2>&1 || { echo "device_check: building the Python extension failed"; failed=1; }
    tail -5 "$out/python_build.txt"
    # 2. The C++ GPU tests.
    for t in "${tests[@]}"; do
      TMPDIR=$scratch timeout 150 ".devbundle/bin/$t" 2>&1 | tee "$out/$t.txt" | tail -3 || failed=1
      grep -q "PASSED" "$out/$t.txt" && ! grep -q "FAILED" "$out/$t.txt" || { echo "device_check: $t failed"; failed=1; }
    done
    if grep -q "SKIPPED" "$out"/gpu_*_test.txt; then echo "device_check: GPU tests skipped on the GPU machine"; failed=1; fi
    # 3. The Python CUDA tests, with the extension just built.
    PYTHONPATH=$kit/python timeout 150 python3 -m pytest -p no:cacheprovider -q -rs .devbundle/src/tests/test_cuda.py \
      .devbundle/src/tests/test_tensors.py 2>&1 | tee "$out/pytest_cuda.txt" | tail -5 || failed=1
    if grep -q "skipped" "$out/pytest_cuda.txt"; then echo "device_check: CUDA tests skipped on the GPU machine"; failed=1; fi
    # 4. The benchmarks.
    timeout 30 .devbundle/bin/gpu_blake3_bench 2>&1 | tee "$out/gpu_blake3_bench.txt" | tail -8
    CKPTDB_GPU_BENCH_GB=${CKPTDB_GPU_BENCH_GB:-16} timeout 200 .devbundle/bin/gpu_save "$scratch/bench" 2>&1 | tee "$out/gpu_save.txt"
    PYTHONPATH=$kit/python timeout 150 python3 .devbundle/src/gpu_restore_bench.py --dir "$scratch/restore" \
      --gb "${CKPTDB_GPU_BENCH_GB:-16}" 2>&1 | tee "$out/gpu_restore_bench.txt"
    rm -rf "$scratch"
    exit $failed
    ;;
  *) echo "usage: gpu/device_check.sh prepare|run" >&2; exit 2 ;;
esac
