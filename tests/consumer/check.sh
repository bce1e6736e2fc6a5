#!/usr/bin/env bash
# Builds tests/consumer/ against ckptdb one of two ways and runs it (ctest: consumer.*).
#   check.sh package       stages `cmake --install BIN` under WORK (DESTDIR) and checks the tree
#                          (library, headers, tool, CMake package, Python package, man page; no
#                          build-tree paths), then find_package(ckptdb) from there
#   check.sh subdirectory  add_subdirectory(SRC): only ckptdb's library is built
# Environment (tests/consumer/tests.cmake sets it): CMAKE SRC BIN WORK CONFIG CXX LAUNCHER PREFIX
# LIBDIR INCLUDEDIR BINDIR MANDIR DATADIR TOOL MAN PYTHON PYDIR.
set -euo pipefail
mode=$1
fail() { echo "consumer.$mode: FAILED: $*" >&2; exit 1; }

launcher=${LAUNCHER//|/;}
[[ -n $launcher ]] || launcher=$(command -v ccache || true)
args=(-DCMAKE_BUILD_TYPE="$CONFIG" -DCMAKE_CXX_COMPILER="$CXX" -DCKPTDB_CONSUMER_MODE="$mode")
[[ -z $launcher ]] || args+=(-DCMAKE_CXX_COMPILER_LAUNCHER="$launcher")

case $mode in
  package)
    stage=$WORK/package
    rm -rf "$stage"
    mkdir -p "$stage"
    # DESTDIR keeps absolute destinations (a virtual environment's site-packages) inside the stage.
    DESTDIR=$stage/root "$CMAKE" --install "$BIN" --config "$CONFIG" > "$stage/install.log" 2>&1 ||
      { cat "$stage/install.log" >&2; fail "cmake --install $BIN (is everything built?)"; }
    root=$stage/root$PREFIX
    need=("$LIBDIR/libckptdb.a" "$INCLUDEDIR/ckptdb/store.h" "$INCLUDEDIR/ckptdb/ckptdb.h"
          "$LIBDIR/cmake/ckptdb/ckptdbConfig.cmake" "$LIBDIR/cmake/ckptdb/ckptdbConfigVersion.cmake"
          "$LIBDIR/cmake/ckptdb/ckptdbTargets.cmake")
    [[ $TOOL != 1 ]] || need+=("$BINDIR/ckptdb")
    [[ $MAN != 1 ]] || need+=("$MANDIR/man1/ckptdb.1")
    [[ $TOOL != 1 || ! -f $SRC/tools/completion/ckptdb.bash ]] ||
      need+=("$DATADIR/bash-completion/completions/ckptdb")
    for f in "${need[@]}"; do [[ -f $root/$f ]] || fail "the install lacks $PREFIX/$f"; done
    if grep -rlF -e "$BIN" -e "$SRC" "$root/$LIBDIR/cmake/ckptdb"; then
      fail "the installed CMake package names the build or source tree (files above)"
    fi
    [[ $TOOL != 1 ]] || "$root/$BINDIR/ckptdb" --help > /dev/null || fail "the installed ckptdb --help failed"
    if [[ -n $PYTHON ]]; then
      [[ $PYDIR == /* ]] && pyroot=$stage/root$PYDIR || pyroot=$root/$PYDIR
      PYTHONPATH=$pyroot "$PYTHON" -c '
import importlib, sys
for name in ("ckptdb", "ckptdb._ckptdb"):
    f = importlib.import_module(name).__file__
    if not f.startswith(sys.argv[1] + "/"):
        sys.exit("%s came from %s, not the installed %s" % (name, f, sys.argv[1]))
' "$pyroot" || fail "the installed Python package at $PYDIR does not import"
    fi
    args+=(-DCMAKE_PREFIX_PATH="$root" -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF)
    ;;
  subdirectory)
    stage=$WORK/subdirectory  # kept between runs, so a rerun rebuilds only what changed
    mkdir -p "$stage"
    args+=(-DCKPTDB_SOURCE_DIR="$SRC")
    ;;
  *) fail "unknown mode (package or subdirectory)" ;;
esac

"$CMAKE" -S "$SRC/tests/consumer" -B "$stage/build" "${args[@]}" > "$stage/configure.log" 2>&1 ||
  { cat "$stage/configure.log" >&2; fail "configuring the consumer"; }
# A user's configure and build of ckptdb should print nothing to worry about.
if grep -q 'CMake Warning' "$stage/configure.log"; then
  cat "$stage/configure.log" >&2; fail "configuring the consumer printed a CMake warning (above)"
fi
if [[ $mode == package ]]; then
  found=$(sed -n 's/^ckptdb_DIR:PATH=//p' "$stage/build/CMakeCache.txt")
  [[ $found == "$root/$LIBDIR/cmake/ckptdb" ]] || fail "find_package found ckptdb in '$found', not the install"
fi
"$CMAKE" --build "$stage/build" -j"$(nproc)" > "$stage/build.log" 2>&1 ||
  { cat "$stage/build.log" >&2; fail "building the consumer"; }
if grep -q 'warning:' "$stage/build.log"; then
  cat "$stage/build.log" >&2; fail "building the consumer printed a compiler warning (above)"
fi
rm -rf "$stage/store"
"$stage/build/consumer" "$stage/store" || fail "the consumer program"
