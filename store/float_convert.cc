#include "store/float_convert.h"

#include <bit>
#include <cmath>
#include <limits>

namespace ckptdb {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

// Assembled byte by byte so the result is the same on a big-endian host.
uint64_t LoadLittle(const uint8_t* p, int bytes) {
  uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

// A small IEEE-style format: `exp_bits` exponent bits with bias 2^(exp_bits-1) - 1, `man_bits`
// mantissa bits, exponent 0 subnormal. Callers handle the all-ones exponent (inf/NaN) first.
double DecodeFinite(uint32_t bits, int exp_bits, int man_bits) {
  const bool negative = (bits >> (exp_bits + man_bits)) & 1;
  const int exp = static_cast<int>((bits >> man_bits) & ((1u << exp_bits) - 1));
  const uint32_t man = bits & ((1u << man_bits) - 1);
  const int bias = (1 << (exp_bits - 1)) - 1;
  // Subnormal: 0.man x 2^(1-bias); normal: 1.man x 2^(exp-bias). Both are integers times a power
  // of two, which ldexp computes exactly.
  const double magnitude = exp == 0 ? std::ldexp(static_cast<double>(man), 1 - bias - man_bits)
                                    : std::ldexp(static_cast<double>((1u << man_bits) | man), exp - bias - man_bits);
  return negative ? -magnitude : magnitude;
}

}  // namespace

double HalfToDouble(uint16_t bits) {
  if (((bits >> 10) & 0x1F) == 0x1F) {
    if (bits & 0x3FF) return kNaN;
    return (bits & 0x8000) ? -kInf : kInf;
  }
  return DecodeFinite(bits, 5, 10);
}

double BFloat16ToDouble(uint16_t bits) {
  // bfloat16 is binary32 with the low 16 mantissa bits dropped; binary32 -> double is exact.
  return static_cast<double>(std::bit_cast<float>(static_cast<uint32_t>(bits) << 16));
}

double Fp8E4M3ToDouble(uint8_t bits) {
  if ((bits & 0x7F) == 0x7F) return kNaN;  // the only non-finite encodings; the rest are numbers
  return DecodeFinite(bits, 4, 3);
}

double Fp8E5M2ToDouble(uint8_t bits) {
  if (((bits >> 2) & 0x1F) == 0x1F) {
    if (bits & 0x3) return kNaN;
    return (bits & 0x80) ? -kInf : kInf;
  }
  return DecodeFinite(bits, 5, 2);
}

double ElementToDouble(DType d, const uint8_t* p) {
  switch (d) {
    case DType::kF64: return std::bit_cast<double>(LoadLittle(p, 8));
    case DType::kF32: return std::bit_cast<float>(static_cast<uint32_t>(LoadLittle(p, 4)));
    case DType::kF16: return HalfToDouble(static_cast<uint16_t>(LoadLittle(p, 2)));
    case DType::kBF16: return BFloat16ToDouble(static_cast<uint16_t>(LoadLittle(p, 2)));
    case DType::kF8_E4M3: return Fp8E4M3ToDouble(p[0]);
    case DType::kF8_E5M2: return Fp8E5M2ToDouble(p[0]);
    default: return kNaN;  // not a float dtype: the REQUIRES is broken; NaN poisons any statistic
  }
}

void ConvertToDouble(DType d, const uint8_t* src, uint64_t count, double* dst) {
  const size_t size = DTypeSize(d);
  // One switch per element is cheap next to reading the tensor from the store.
  for (uint64_t i = 0; i < count; ++i) dst[i] = ElementToDouble(d, src + i * size);
}

}  // namespace ckptdb
