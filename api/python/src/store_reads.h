// The reads the package's Checkpoint (lazy tensors) and Store.diff are built on, bound as methods
// of _Store beside those in module.cc. Each resolves its selector tuples (convert.h), runs the store
// call without the GIL and raises the ckptdb.errors class of a failure.
#pragma once

#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>

#include "ckptdb/ckptdb.h"

namespace ckptdb::python {

// Bytes [offset, offset + length) of tensor `name` of checkpoint `which` (Store::ReadTensorRange),
// as (bytes, chunks_read, bytes_read): bytes a _RestoredBytes for _tensors.from_restored, then the
// number and total length of the chunks read. REQUIRES: the GIL; `length` is at most the tensor's
// size (the buffer is allocated before the store checks the range).
pybind11::tuple ReadRange(Store& store, const pybind11::tuple& which, const std::string& name, uint64_t offset,
                          uint64_t length, bool verify);

// What changed from checkpoint `a` to `b`, as the dict `ckptdb diff --json` prints: "added",
// "removed" and "unchanged" (lists of names) and "changed" (dicts with name, chunks_changed,
// bytes_changed and, with `stats`, max_abs_diff and l2_diff for float tensors of unchanged dtype
// and shape; NaN stays a float NaN where the CLI writes null). REQUIRES: the GIL.
pybind11::dict Diff(Store& store, const pybind11::tuple& a, const pybind11::tuple& b, bool stats, bool verify);

}  // namespace ckptdb::python
