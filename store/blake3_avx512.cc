// 16-way BLAKE3: sixteen inputs side by side, one per 32-bit lane of a zmm register. Built with
// -mavx512f -mavx512vl -mavx512bw; reached only after the run-time check in blake3.cc.
#include <immintrin.h>

#include "store/blake3_impl.h"

namespace ckptdb::blake3::internal {
namespace {

// GCC 12's unmasked AVX-512 intrinsics start from a self-initialized "undefined" vector that
// -Wmaybe-uninitialized reports wherever they are inlined (GCC bug 105593), and no pragma reaches
// it. The all-ones-mask forms below compile to the same instructions without that vector.
constexpr __mmask16 kAll = 0xFFFF;

// The rotate count is an instruction immediate, so it must be a constant even at -O0.
template <int kBits>
CKPTDB_B3_INLINE __m512i Ror(__m512i a) { return _mm512_mask_ror_epi32(a, kAll, a, kBits); }

template <int kImm>
CKPTDB_B3_INLINE __m512i Shuffle128(__m512i a, __m512i b) {
  return _mm512_mask_shuffle_i32x4(a, kAll, a, b, kImm);
}

CKPTDB_B3_INLINE __m512i Unpacklo32(__m512i a, __m512i b) {
  return _mm512_mask_unpacklo_epi32(a, kAll, a, b);
}
CKPTDB_B3_INLINE __m512i Unpackhi32(__m512i a, __m512i b) {
  return _mm512_mask_unpackhi_epi32(a, kAll, a, b);
}
CKPTDB_B3_INLINE __m512i Unpacklo64(__m512i a, __m512i b) {
  return _mm512_mask_unpacklo_epi64(a, 0xFF, a, b);
}
CKPTDB_B3_INLINE __m512i Unpackhi64(__m512i a, __m512i b) {
  return _mm512_mask_unpackhi_epi64(a, 0xFF, a, b);
}

struct Ops {
  static CKPTDB_B3_INLINE __m512i Add(__m512i a, __m512i b) { return _mm512_add_epi32(a, b); }
  static CKPTDB_B3_INLINE __m512i Xor(__m512i a, __m512i b) { return _mm512_xor_si512(a, b); }
  // AVX-512 has a true rotate, so no shuffle masks or shift pairs are needed.
  static CKPTDB_B3_INLINE __m512i Rot16(__m512i a) { return Ror<16>(a); }
  static CKPTDB_B3_INLINE __m512i Rot12(__m512i a) { return Ror<12>(a); }
  static CKPTDB_B3_INLINE __m512i Rot8(__m512i a) { return Ror<8>(a); }
  static CKPTDB_B3_INLINE __m512i Rot7(__m512i a) { return Ror<7>(a); }
};

// In place: afterwards r[j] lane i holds what r[i] lane j held. Interleaves 32-bit, then 64-bit
// pairs inside 128-bit lanes, then moves whole 128-bit lanes.
CKPTDB_B3_INLINE void Transpose16(__m512i r[16]) {
  __m512i a[16], b[16];
#pragma GCC unroll 8
  for (int i = 0; i < 8; ++i) {
    a[2 * i] = Unpacklo32(r[2 * i], r[2 * i + 1]);
    a[2 * i + 1] = Unpackhi32(r[2 * i], r[2 * i + 1]);
  }
  // b[4i + c], 128-bit lane l: column 4l + c of rows 4i .. 4i + 3.
#pragma GCC unroll 4
  for (int i = 0; i < 4; ++i) {
    b[4 * i + 0] = Unpacklo64(a[4 * i], a[4 * i + 2]);
    b[4 * i + 1] = Unpackhi64(a[4 * i], a[4 * i + 2]);
    b[4 * i + 2] = Unpacklo64(a[4 * i + 1], a[4 * i + 3]);
    b[4 * i + 3] = Unpackhi64(a[4 * i + 1], a[4 * i + 3]);
  }
#pragma GCC unroll 4
  for (int c = 0; c < 4; ++c) {
    __m512i s0 = Shuffle128<_MM_SHUFFLE(1, 0, 1, 0)>(b[c], b[4 + c]);
    __m512i s1 = Shuffle128<_MM_SHUFFLE(3, 2, 3, 2)>(b[c], b[4 + c]);
    __m512i s2 = Shuffle128<_MM_SHUFFLE(1, 0, 1, 0)>(b[8 + c], b[12 + c]);
    __m512i s3 = Shuffle128<_MM_SHUFFLE(3, 2, 3, 2)>(b[8 + c], b[12 + c]);
    r[c] = Shuffle128<_MM_SHUFFLE(2, 0, 2, 0)>(s0, s2);
    r[4 + c] = Shuffle128<_MM_SHUFFLE(3, 1, 3, 1)>(s0, s2);
    r[8 + c] = Shuffle128<_MM_SHUFFLE(2, 0, 2, 0)>(s1, s3);
    r[12 + c] = Shuffle128<_MM_SHUFFLE(3, 1, 3, 1)>(s1, s3);
  }
}

}  // namespace

size_t HashManyAvx512(const uint8_t* in, size_t stride, size_t n, size_t blocks, uint64_t counter,
                      bool increment_counter, uint8_t flags, uint8_t flags_start, uint8_t flags_end,
                      uint8_t* out) {
  size_t done = 0;
  for (; done + 16 <= n; done += 16) {
    const uint8_t* base = in + done * stride;
    alignas(64) uint32_t lo[16], hi[16];
    for (int i = 0; i < 16; ++i) {
      uint64_t c = counter + (increment_counter ? done + i : 0);
      lo[i] = static_cast<uint32_t>(c);
      hi[i] = static_cast<uint32_t>(c >> 32);
    }
    const __m512i counter_lo = _mm512_load_si512(lo), counter_hi = _mm512_load_si512(hi);
    __m512i h[8];
#pragma GCC unroll 8
    for (int i = 0; i < 8; ++i) h[i] = _mm512_set1_epi32(static_cast<int>(kIV[i]));

    for (size_t blk = 0; blk < blocks; ++blk) {
      __m512i m[16];
#pragma GCC unroll 16
      for (int i = 0; i < 16; ++i) {
        const uint8_t* p = base + i * stride + blk * kBlockLen;
        m[i] = _mm512_loadu_si512(p);
        // Sixteen interleaved streams are more than the hardware prefetcher keeps up with: this
        // made 64 MiB inputs (out of cache) about a third faster on the Zen 4 we measured.
        _mm_prefetch(reinterpret_cast<const char*>(p + 4 * kBlockLen), _MM_HINT_T0);
      }
      Transpose16(m);
      uint32_t f = flags;
      if (blk == 0) f |= flags_start;
      if (blk + 1 == blocks) f |= flags_end;
      __m512i v[16];
#pragma GCC unroll 8
      for (int i = 0; i < 8; ++i) v[i] = h[i];
#pragma GCC unroll 4
      for (int i = 0; i < 4; ++i) v[8 + i] = _mm512_set1_epi32(static_cast<int>(kIV[i]));
      v[12] = counter_lo;
      v[13] = counter_hi;
      v[14] = _mm512_set1_epi32(static_cast<int>(kBlockLen));
      v[15] = _mm512_set1_epi32(static_cast<int>(f));
      SevenRounds<Ops>(v, m);
#pragma GCC unroll 8
      for (int i = 0; i < 8; ++i) h[i] = _mm512_xor_si512(v[i], v[i + 8]);
    }

    // Transposing back with eight zero rows leaves input i's chaining value in the low half of
    // r[i].
    __m512i r[16];
#pragma GCC unroll 8
    for (int i = 0; i < 8; ++i) {
      r[i] = h[i];
      r[i + 8] = _mm512_setzero_si512();
    }
    Transpose16(r);
#pragma GCC unroll 16
    for (int i = 0; i < 16; ++i) _mm512_mask_storeu_epi32(out + (done + i) * 32, 0x00FF, r[i]);
  }
  return done;
}

}  // namespace ckptdb::blake3::internal
