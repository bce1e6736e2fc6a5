// Shared by store/blake3*.cc: constants from the BLAKE3 spec, the round function written once over
// a lane type, and the per-ISA "hash many inputs at once" entry points.
//
// Each SIMD file is compiled with its own -m flags. Anything inline that two such files instantiate
// with the same mangled name could be merged by the linker into the copy built for the wider ISA
// and then run on a CPU without it. So the templates here are only ever instantiated with an `Ops`
// type that lives in an anonymous namespace, which gives every instantiation internal linkage.
#pragma once

#include <cstddef>
#include <cstdint>

#define CKPTDB_B3_INLINE inline __attribute__((always_inline))

namespace ckptdb::blake3::internal {

constexpr size_t kBlockLen = 64;
constexpr size_t kChunkLen = 1024;
constexpr size_t kBlocksPerChunk = kChunkLen / kBlockLen;

enum Flag : uint8_t { kChunkStart = 1, kChunkEnd = 2, kParent = 4, kRoot = 8 };

inline constexpr uint32_t kIV[8] = {0x6A09E667, 0xBB67AE85, 0x3C6EF372, 0xA54FF53A,
                                    0x510E527F, 0x9B05688C, 0x1F83D9AB, 0x5BE0CD19};

// Which message word each round reads where round 0 reads word i: the spec permutes the message
// between rounds; indexing through a precomputed schedule lets the SIMD code keep the message in
// registers and never move it.
struct Schedule {
  uint8_t s[7][16];
};
constexpr Schedule MakeSchedule() {
  constexpr uint8_t kPermutation[16] = {2, 6, 3, 10, 7, 0, 4, 13, 1, 11, 12, 5, 9, 14, 15, 8};
  Schedule sch{};
  for (int i = 0; i < 16; ++i) sch.s[0][i] = static_cast<uint8_t>(i);
  for (int r = 1; r < 7; ++r)
    for (int i = 0; i < 16; ++i) sch.s[r][i] = sch.s[r - 1][kPermutation[i]];
  return sch;
}
inline constexpr Schedule kSchedule = MakeSchedule();

// The quarter-round G on state words a, b, c, d with message words x, y. `Ops` supplies
// Add, Xor and the four rotations (right) for its lane type V.
template <class Ops, class V>
CKPTDB_B3_INLINE void G(V* v, int a, int b, int c, int d, V x, V y) {
  v[a] = Ops::Add(Ops::Add(v[a], v[b]), x);
  v[d] = Ops::Rot16(Ops::Xor(v[d], v[a]));
  v[c] = Ops::Add(v[c], v[d]);
  v[b] = Ops::Rot12(Ops::Xor(v[b], v[c]));
  v[a] = Ops::Add(Ops::Add(v[a], v[b]), y);
  v[d] = Ops::Rot8(Ops::Xor(v[d], v[a]));
  v[c] = Ops::Add(v[c], v[d]);
  v[b] = Ops::Rot7(Ops::Xor(v[b], v[c]));
}

template <class Ops, int R, class V>
CKPTDB_B3_INLINE void Round(V* v, const V* m) {
  constexpr const uint8_t* s = kSchedule.s[R];
  G<Ops>(v, 0, 4, 8, 12, m[s[0]], m[s[1]]);
  G<Ops>(v, 1, 5, 9, 13, m[s[2]], m[s[3]]);
  G<Ops>(v, 2, 6, 10, 14, m[s[4]], m[s[5]]);
  G<Ops>(v, 3, 7, 11, 15, m[s[6]], m[s[7]]);
  G<Ops>(v, 0, 5, 10, 15, m[s[8]], m[s[9]]);
  G<Ops>(v, 1, 6, 11, 12, m[s[10]], m[s[11]]);
  G<Ops>(v, 2, 7, 8, 13, m[s[12]], m[s[13]]);
  G<Ops>(v, 3, 4, 9, 14, m[s[14]], m[s[15]]);
}

// The seven rounds of the compression function on state v[16] with message m[16].
template <class Ops, class V>
CKPTDB_B3_INLINE void SevenRounds(V* v, const V* m) {
  Round<Ops, 0>(v, m);
  Round<Ops, 1>(v, m);
  Round<Ops, 2>(v, m);
  Round<Ops, 3>(v, m);
  Round<Ops, 4>(v, m);
  Round<Ops, 5>(v, m);
  Round<Ops, 6>(v, m);
}

// Hashes n independent inputs, input i being `blocks` 64-byte blocks at in + i * stride, each
// starting from the IV. Input i uses block counter `counter + i` if increment_counter, else
// `counter`. Every block gets `flags`; the first also `flags_start`, the last also `flags_end`.
// Writes input i's 32-byte chaining value to out + 32 * i. Full chunks are blocks=16, stride=1024,
// start/end = kChunkStart/kChunkEnd; parents are blocks=1, stride=64, flags=kParent.
//
// The SIMD versions handle only the largest multiple of their width (4, 8, 16) that fits in n and
// return how many inputs they did; the caller finishes the rest with a narrower one. Call them only
// when the CPU supports their ISA. `out` must not overlap the input.
using HashManyFn = size_t (*)(const uint8_t* in, size_t stride, size_t n, size_t blocks,
                              uint64_t counter, bool increment_counter, uint8_t flags,
                              uint8_t flags_start, uint8_t flags_end, uint8_t* out);

size_t HashManyPortable(const uint8_t* in, size_t stride, size_t n, size_t blocks, uint64_t counter,
                        bool increment_counter, uint8_t flags, uint8_t flags_start,
                        uint8_t flags_end, uint8_t* out);
size_t HashManySse41(const uint8_t* in, size_t stride, size_t n, size_t blocks, uint64_t counter,
                     bool increment_counter, uint8_t flags, uint8_t flags_start, uint8_t flags_end,
                     uint8_t* out);
size_t HashManyAvx2(const uint8_t* in, size_t stride, size_t n, size_t blocks, uint64_t counter,
                    bool increment_counter, uint8_t flags, uint8_t flags_start, uint8_t flags_end,
                    uint8_t* out);
size_t HashManyAvx512(const uint8_t* in, size_t stride, size_t n, size_t blocks, uint64_t counter,
                      bool increment_counter, uint8_t flags, uint8_t flags_start, uint8_t flags_end,
                      uint8_t* out);

}  // namespace ckptdb::blake3::internal
