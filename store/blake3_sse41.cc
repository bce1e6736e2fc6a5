// 4-way BLAKE3: four inputs side by side, one per 32-bit lane of an xmm register. Built with
// -msse4.1; reached only after the run-time check in blake3.cc. It mops up what the wider paths
// leave over and is the best path on CPUs without AVX2.
#include <immintrin.h>

#include "store/blake3_impl.h"

namespace ckptdb::blake3::internal {
namespace {

struct Ops {
  static CKPTDB_B3_INLINE __m128i Add(__m128i a, __m128i b) { return _mm_add_epi32(a, b); }
  static CKPTDB_B3_INLINE __m128i Xor(__m128i a, __m128i b) { return _mm_xor_si128(a, b); }
  // Rotations by whole bytes are one byte shuffle instead of two shifts and an or.
  static CKPTDB_B3_INLINE __m128i Rot16(__m128i a) {
    return _mm_shuffle_epi8(a, _mm_set_epi8(13, 12, 15, 14, 9, 8, 11, 10, 5, 4, 7, 6, 1, 0, 3, 2));
  }
  static CKPTDB_B3_INLINE __m128i Rot8(__m128i a) {
    return _mm_shuffle_epi8(a, _mm_set_epi8(12, 15, 14, 13, 8, 11, 10, 9, 4, 7, 6, 5, 0, 3, 2, 1));
  }
  static CKPTDB_B3_INLINE __m128i Rot12(__m128i a) {
    return _mm_or_si128(_mm_srli_epi32(a, 12), _mm_slli_epi32(a, 20));
  }
  static CKPTDB_B3_INLINE __m128i Rot7(__m128i a) {
    return _mm_or_si128(_mm_srli_epi32(a, 7), _mm_slli_epi32(a, 25));
  }
};

// In place: afterwards r[j] lane i holds what r[i] lane j held.
CKPTDB_B3_INLINE void Transpose4(__m128i r[4]) {
  __m128i a0 = _mm_unpacklo_epi32(r[0], r[1]), a1 = _mm_unpackhi_epi32(r[0], r[1]);
  __m128i a2 = _mm_unpacklo_epi32(r[2], r[3]), a3 = _mm_unpackhi_epi32(r[2], r[3]);
  r[0] = _mm_unpacklo_epi64(a0, a2);
  r[1] = _mm_unpackhi_epi64(a0, a2);
  r[2] = _mm_unpacklo_epi64(a1, a3);
  r[3] = _mm_unpackhi_epi64(a1, a3);
}

}  // namespace

size_t HashManySse41(const uint8_t* in, size_t stride, size_t n, size_t blocks, uint64_t counter,
                     bool increment_counter, uint8_t flags, uint8_t flags_start, uint8_t flags_end,
                     uint8_t* out) {
  size_t done = 0;
  for (; done + 4 <= n; done += 4) {
    const uint8_t* base = in + done * stride;
    alignas(16) uint32_t lo[4], hi[4];
    for (int i = 0; i < 4; ++i) {
      uint64_t c = counter + (increment_counter ? done + i : 0);
      lo[i] = static_cast<uint32_t>(c);
      hi[i] = static_cast<uint32_t>(c >> 32);
    }
    const __m128i counter_lo = _mm_load_si128(reinterpret_cast<const __m128i*>(lo));
    const __m128i counter_hi = _mm_load_si128(reinterpret_cast<const __m128i*>(hi));
    __m128i h[8];
#pragma GCC unroll 8
    for (int i = 0; i < 8; ++i) h[i] = _mm_set1_epi32(static_cast<int>(kIV[i]));

    for (size_t blk = 0; blk < blocks; ++blk) {
      // m[4q + j] starts as quarter q of input j's block; after the transposes m[w] is word w.
      __m128i m[16];
#pragma GCC unroll 4
      for (int j = 0; j < 4; ++j) {
        const uint8_t* p = base + j * stride + blk * kBlockLen;
#pragma GCC unroll 4
        for (int q = 0; q < 4; ++q)
          m[4 * q + j] = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 16 * q));
      }
#pragma GCC unroll 4
      for (int q = 0; q < 4; ++q) Transpose4(m + 4 * q);
      uint32_t f = flags;
      if (blk == 0) f |= flags_start;
      if (blk + 1 == blocks) f |= flags_end;
      __m128i v[16];
#pragma GCC unroll 8
      for (int i = 0; i < 8; ++i) v[i] = h[i];
#pragma GCC unroll 4
      for (int i = 0; i < 4; ++i) v[8 + i] = _mm_set1_epi32(static_cast<int>(kIV[i]));
      v[12] = counter_lo;
      v[13] = counter_hi;
      v[14] = _mm_set1_epi32(static_cast<int>(kBlockLen));
      v[15] = _mm_set1_epi32(static_cast<int>(f));
      SevenRounds<Ops>(v, m);
#pragma GCC unroll 8
      for (int i = 0; i < 8; ++i) h[i] = _mm_xor_si128(v[i], v[i + 8]);
    }

    Transpose4(h);
    Transpose4(h + 4);
#pragma GCC unroll 4
    for (int i = 0; i < 4; ++i) {
      _mm_storeu_si128(reinterpret_cast<__m128i*>(out + (done + i) * 32), h[i]);
      _mm_storeu_si128(reinterpret_cast<__m128i*>(out + (done + i) * 32 + 16), h[4 + i]);
    }
  }
  return done;
}

}  // namespace ckptdb::blake3::internal
