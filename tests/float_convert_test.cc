// Element conversions to double (store/float_convert.h): known encodings of each float format,
// cross-checked exhaustively where an independent reference exists.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>

#include "store/float_convert.h"

namespace ckptdb {
namespace {

TEST(FloatConvertTest, HalfKnownValues) {
  EXPECT_EQ(HalfToDouble(0x3C00), 1.0);
  EXPECT_EQ(HalfToDouble(0xC000), -2.0);
  EXPECT_EQ(HalfToDouble(0x3555), 0x1.554p-2);  // the binary16 nearest 1/3
  EXPECT_EQ(HalfToDouble(0x7BFF), 65504.0);     // largest finite
  EXPECT_EQ(HalfToDouble(0x0400), std::ldexp(1.0, -14));  // smallest normal
  EXPECT_EQ(HalfToDouble(0x0001), std::ldexp(1.0, -24));  // smallest subnormal
  EXPECT_EQ(HalfToDouble(0x03FF), 1023 * std::ldexp(1.0, -24));  // largest subnormal
  EXPECT_EQ(HalfToDouble(0x0000), 0.0);
  EXPECT_TRUE(std::signbit(HalfToDouble(0x8000)));
  EXPECT_EQ(HalfToDouble(0x7C00), INFINITY);
  EXPECT_EQ(HalfToDouble(0xFC00), -INFINITY);
  EXPECT_TRUE(std::isnan(HalfToDouble(0x7E00)));
  EXPECT_TRUE(std::isnan(HalfToDouble(0x7C01)));
  EXPECT_TRUE(std::isnan(HalfToDouble(0xFFFF)));
}

#if defined(__FLT16_MAX__)
// The compiler's own _Float16 is an independent reference for all 65536 encodings.
TEST(FloatConvertTest, HalfMatchesCompilerFloat16Exhaustively) {
  for (uint32_t bits = 0; bits <= 0xFFFF; ++bits) {
    const uint16_t h = static_cast<uint16_t>(bits);
    _Float16 f;
    std::memcpy(&f, &h, 2);
    const double want = static_cast<double>(f), got = HalfToDouble(h);
    if (std::isnan(want)) {
      EXPECT_TRUE(std::isnan(got)) << std::hex << bits;
    } else {
      EXPECT_EQ(got, want) << std::hex << bits;
      EXPECT_EQ(std::signbit(got), std::signbit(want)) << std::hex << bits;
    }
  }
}
#endif

TEST(FloatConvertTest, BFloat16KnownValues) {
  EXPECT_EQ(BFloat16ToDouble(0x3F80), 1.0);
  EXPECT_EQ(BFloat16ToDouble(0xBF80), -1.0);
  EXPECT_EQ(BFloat16ToDouble(0x4000), 2.0);
  EXPECT_EQ(BFloat16ToDouble(0x4049), 3.140625);
  EXPECT_EQ(BFloat16ToDouble(0x7F7F), 0x1.FEp127);          // largest finite
  EXPECT_EQ(BFloat16ToDouble(0x0001), std::ldexp(1.0, -133));  // smallest subnormal
  EXPECT_EQ(BFloat16ToDouble(0x7F80), INFINITY);
  EXPECT_EQ(BFloat16ToDouble(0xFF80), -INFINITY);
  EXPECT_TRUE(std::isnan(BFloat16ToDouble(0x7FC0)));
  EXPECT_TRUE(std::isnan(BFloat16ToDouble(0x7F81)));  // signalling NaN stays NaN
}

TEST(FloatConvertTest, Fp8E4M3KnownValues) {
  EXPECT_EQ(Fp8E4M3ToDouble(0x38), 1.0);
  EXPECT_EQ(Fp8E4M3ToDouble(0x7E), 448.0);   // largest: S.1111.110
  EXPECT_EQ(Fp8E4M3ToDouble(0xFE), -448.0);
  EXPECT_EQ(Fp8E4M3ToDouble(0x78), 256.0);   // exponent 15 is an ordinary exponent here
  EXPECT_EQ(Fp8E4M3ToDouble(0x08), std::ldexp(1.0, -6));  // smallest normal
  EXPECT_EQ(Fp8E4M3ToDouble(0x01), std::ldexp(1.0, -9));  // smallest subnormal
  EXPECT_EQ(Fp8E4M3ToDouble(0x07), 7 * std::ldexp(1.0, -9));
  EXPECT_EQ(Fp8E4M3ToDouble(0x00), 0.0);
  EXPECT_TRUE(std::signbit(Fp8E4M3ToDouble(0x80)));
  EXPECT_TRUE(std::isnan(Fp8E4M3ToDouble(0x7F)));  // S.1111.111 is the only NaN; no infinities
  EXPECT_TRUE(std::isnan(Fp8E4M3ToDouble(0xFF)));
}

TEST(FloatConvertTest, Fp8E4M3IsMonotonicAndSignSymmetric) {
  for (int x = 1; x <= 0x7E; ++x) {
    EXPECT_LT(Fp8E4M3ToDouble(x - 1), Fp8E4M3ToDouble(x)) << x;
    EXPECT_EQ(Fp8E4M3ToDouble(x | 0x80), -Fp8E4M3ToDouble(x)) << x;
  }
}

TEST(FloatConvertTest, Fp8E5M2KnownValues) {
  EXPECT_EQ(Fp8E5M2ToDouble(0x3C), 1.0);
  EXPECT_EQ(Fp8E5M2ToDouble(0x7B), 57344.0);  // largest finite
  EXPECT_EQ(Fp8E5M2ToDouble(0x04), std::ldexp(1.0, -14));
  EXPECT_EQ(Fp8E5M2ToDouble(0x01), std::ldexp(1.0, -16));
  EXPECT_EQ(Fp8E5M2ToDouble(0x7C), INFINITY);
  EXPECT_EQ(Fp8E5M2ToDouble(0xFC), -INFINITY);
  for (uint8_t nan : {0x7D, 0x7E, 0x7F, 0xFD, 0xFE, 0xFF}) EXPECT_TRUE(std::isnan(Fp8E5M2ToDouble(nan))) << int(nan);
}

// E5M2 is binary16 with the low 8 mantissa bits dropped: an independent check of all 256 codes.
TEST(FloatConvertTest, Fp8E5M2IsTheTopByteOfHalf) {
  for (int x = 0; x < 256; ++x) {
    const double half = HalfToDouble(static_cast<uint16_t>(x << 8)), fp8 = Fp8E5M2ToDouble(x);
    if (std::isnan(half)) EXPECT_TRUE(std::isnan(fp8)) << x;
    else EXPECT_EQ(fp8, half) << x;
  }
}

TEST(FloatConvertTest, ElementsAreReadLittleEndian) {
  const uint8_t f32[] = {0x00, 0x00, 0x80, 0x3F}, f16[] = {0x00, 0x3C}, bf16[] = {0x80, 0x3F};
  uint8_t f64[8];
  const double v = -1.5;
  std::memcpy(f64, &v, 8);  // the test host is little-endian, as the stored bytes are
  EXPECT_EQ(ElementToDouble(DType::kF32, f32), 1.0);
  EXPECT_EQ(ElementToDouble(DType::kF16, f16), 1.0);
  EXPECT_EQ(ElementToDouble(DType::kBF16, bf16), 1.0);
  EXPECT_EQ(ElementToDouble(DType::kF64, f64), -1.5);
  const uint8_t e4m3 = 0x7E, e5m2 = 0x7B;
  EXPECT_EQ(ElementToDouble(DType::kF8_E4M3, &e4m3), 448.0);
  EXPECT_EQ(ElementToDouble(DType::kF8_E5M2, &e5m2), 57344.0);
}

TEST(FloatConvertTest, ConvertToDoubleConvertsEachElement) {
  const uint16_t halves[] = {0x3C00, 0xC000, 0x7BFF, 0x0001};
  double out[4];
  ConvertToDouble(DType::kF16, reinterpret_cast<const uint8_t*>(halves), 4, out);
  EXPECT_EQ(out[0], 1.0);
  EXPECT_EQ(out[1], -2.0);
  EXPECT_EQ(out[2], 65504.0);
  EXPECT_EQ(out[3], std::ldexp(1.0, -24));
}

}  // namespace
}  // namespace ckptdb
