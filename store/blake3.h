// BLAKE3-256 (hash mode only) with run-time selection of the SIMD implementation.
// Internal to ckptdb: callers outside store/ use ckptdb::HashBytes from api/ckptdb/digest.h.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

namespace ckptdb::blake3 {

// Every backend computes the same function; they differ only in speed. Tests and benchmarks pin one
// with HashWith so that each is checked and measured on the machine at hand.
enum class Backend { kPortable, kSse41, kAvx2, kAvx512 };

constexpr size_t kOutLen = 32;

// The fastest backend this CPU (and OS) supports. Detected once, on first use; thread-safe.
Backend BestBackend();
// The backends this CPU supports, slowest first; always includes kPortable.
std::vector<Backend> SupportedBackends();
// "portable", "sse41", "avx2" or "avx512".
const char* BackendName(Backend b);

// Writes the 32-byte BLAKE3 hash of `len` bytes at `data` to `out`, using BestBackend().
// `data` needs no alignment and may be null when `len` is 0. Thread-safe; no heap allocation (about
// 16 KiB of stack).
void Hash(const void* data, size_t len, uint8_t out[kOutLen]);
// Brings bytes [offset, offset + n) of the input into place; false stops the hash.
using FillFn = std::function<bool(size_t offset, size_t n)>;
// Bytes HashFilled hands to `fill` at a time: a group small enough to stay in L2 between being
// written and being hashed.
constexpr size_t kFillBytes = 256 * 1024;
// As Hash, but the input need not be in memory yet: `fill` is called in order for consecutive
// pieces of kFillBytes (the last one shorter; none for len 0) covering [0, len), each just before
// it is hashed, so that bytes read into `data` are hashed while they are still in cache instead of
// being read back from memory (a restore's read-and-verify ran ~10% faster so). Returns false, with
// `out` untouched, as soon as `fill` does. Thread-safe.
bool HashFilled(const void* data, size_t len, const FillFn& fill, uint8_t out[kOutLen]);
// As Hash, with a chosen backend. REQUIRES: `b` is in SupportedBackends() (aborts otherwise, rather
// than dying later of an illegal instruction).
void HashWith(Backend b, const void* data, size_t len, uint8_t out[kOutLen]);

}  // namespace ckptdb::blake3
