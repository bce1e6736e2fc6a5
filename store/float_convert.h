// Converting stored floating-point elements to double, for statistics over tensor bytes (diff --stats).
//
// Every format here converts to double exactly: each value of F16, BF16, F32 and both FP8 formats
// is a double, so no rounding happens and results do not depend on the host's float hardware.
// Elements are read little-endian, as FORMAT.md lays tensor bytes out, on any host.
// Thread safety: pure functions.
#pragma once

#include <cstdint>

#include "ckptdb/dtype.h"

namespace ckptdb {

// IEEE 754 binary16: 1 sign, 5 exponent (bias 15), 10 mantissa bits; subnormals, infinities, NaN.
// 0x3C00 = 1.0, 0x7BFF = 65504, 0x0001 = 2^-24, 0x7C00 = +inf.
double HalfToDouble(uint16_t bits);
// bfloat16: the upper half of an IEEE binary32 (1 sign, 8 exponent, 7 mantissa bits). 0x3F80 = 1.0.
double BFloat16ToDouble(uint16_t bits);
// OCP FP8 E4M3 ("FN"): 1 sign, 4 exponent (bias 7), 3 mantissa bits. No infinities; S.1111.111 is
// NaN, so the largest magnitude is S.1111.110 = 448. 0x01 = 2^-9 (smallest subnormal), 0x38 = 1.0.
double Fp8E4M3ToDouble(uint8_t bits);
// OCP FP8 E5M2: 1 sign, 5 exponent (bias 15), 2 mantissa bits, IEEE-like: exponent 31 is infinity
// (mantissa 0) or NaN. 0x7B = 57344 (largest finite), 0x7C = +inf, 0x01 = 2^-16.
double Fp8E5M2ToDouble(uint8_t bits);

// The element of dtype `d` stored little-endian at `p`. REQUIRES: IsFloatDType(d); p holds
// DTypeSize(d) bytes.
double ElementToDouble(DType d, const uint8_t* p);
// Converts `count` consecutive elements of dtype `d` at `src` into `dst`.
// REQUIRES: IsFloatDType(d); src holds count x DTypeSize(d) bytes; dst holds count doubles.
void ConvertToDouble(DType d, const uint8_t* src, uint64_t count, double* dst);

}  // namespace ckptdb
