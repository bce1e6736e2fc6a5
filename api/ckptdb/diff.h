// What differs between two checkpoints: which tensors were added, removed, changed (by how many
// chunks and bytes) or kept, and for changed float tensors by how much (max |Δ|, L2 of Δ).
// DiffManifests and ComputeDiffStats are pure functions over manifests and tensor bytes (no I/O);
// AddDiffStats reads the tensors they need from a store. `ckptdb diff` and the Python module's
// Store.diff are built on them.
// Thread safety: every function may be called from any thread (AddDiffStats as Store's reads).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "ckptdb/checkpoint.h"
#include "ckptdb/status.h"
#include "ckptdb/store.h"

namespace ckptdb {

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
  // Filled in by AddDiffStats (diff --stats); DiffManifests leaves them empty.
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

// Fills max_abs_diff and l2_diff (ComputeDiffStats) of every change in `diff` whose tensor kept its
// dtype and shape and holds floats; the others stay empty. Each tensor pair is read by checkpoint
// id (a.info.id, b.info.id) with `options`, one pair in memory at a time.
// REQUIRES: diff == DiffManifests(a, b), a and b as Describe returned them from `store`.
// Errors: those of Store::RestoreInto (NotFound naming the checkpoint if it was removed meanwhile,
// Corruption naming checkpoint, tensor and chunk); `diff` may then hold some statistics.
Status AddDiffStats(Store& store, const CheckpointManifest& a, const CheckpointManifest& b, ManifestDiff& diff,
                    const ReadOptions& options = {});

}  // namespace ckptdb
