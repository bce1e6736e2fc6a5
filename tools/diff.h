// What differs between two checkpoints: pure functions over manifests and tensor bytes, no I/O.
// `ckptdb diff` (tools/cmd_diff.cc) reads the manifests and, for --stats, the tensor bytes.
// Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "ckptdb/checkpoint.h"

namespace ckptdb::cli {

// A tensor present in both checkpoints whose dtype, shape or chunk digest list differs.
struct TensorChange {
  std::string name;
  // Chunk positions i, over max(len_a, len_b) of the two digest lists, where the digests differ or
  // one side has no chunk i.
  uint64_t chunks_changed = 0;
  // Sum over those positions of B's chunk length at i (A's where B has no chunk i): the bytes a
  // reader of B finds different, plus the bytes B dropped.
  uint64_t bytes_changed = 0;
  bool dtype_or_shape_changed = false;
  // Filled in by the caller with ComputeDiffStats (diff --stats); DiffManifests leaves them empty.
  std::optional<double> max_abs_diff, l2_diff;
};

struct ManifestDiff {
  std::vector<std::string> added;      // in B, not in A
  std::vector<std::string> removed;    // in A, not in B
  // In both with equal dtype, shape and chunk digest list: the same bytes, since chunks are
  // content-addressed. Two tensors of equal content but different chunk sizes count as changed.
  std::vector<std::string> unchanged;
  std::vector<TensorChange> changed;   // in both, otherwise
};

// Compares checkpoint A with checkpoint B. Every array is sorted by name (bytewise).
ManifestDiff DiffManifests(const CheckpointManifest& a, const CheckpointManifest& b);

struct DiffStats {
  double max_abs_diff = 0;  // max |b[i] - a[i]|
  double l2_diff = 0;       // sqrt(sum (b[i] - a[i])^2)
};

// Element-wise statistics of B - A over `count` elements of float dtype `d` (tensor bytes as
// stored: little-endian), computed in double. An element pair that compares equal (including the
// same infinity) contributes 0; if either side of any pair is NaN, both statistics are NaN; an
// infinity against a different value makes them infinite. The L2 norm is rescaled when its sum of
// squares would overflow or underflow a double, so it stays finite where the result is.
// REQUIRES: IsFloatDType(d); a and b each hold count x DTypeSize(d) bytes.
DiffStats ComputeDiffStats(DType d, const uint8_t* a, const uint8_t* b, uint64_t count);

}  // namespace ckptdb::cli
