#pragma once
// r2g2's own float e^x, ln x and ln(1 + x), for the per-element math that the CPU kernels,
// their SIMD copies and the CUDA kernels share (kernels/elementwise_math.h,
// kernels/gaussian_math.h). libm's and CUDA's expf / logf / log1pf differ in their last
// bits, and a libm call per element keeps a CPU loop scalar. These are musl's (fdlibm's)
// float algorithms with their branches turned into selects between values computed
// unconditionally, so that a loop over them vectorises, and every step is one IEEE
// operation rounded to nearest, never fused: every device and every SIMD width computes
// the same bits. Worst errors against the exact value (double libm), in ulps of the float
// binade of the exact value (2^-149 for subnormal results), over every float of the range
// (tests/kernels/test_fast_math.cpp; a dense sample by default, every float on request):
//   fast_expf          x in [-104, 89]                   0.9101 ulp (at x = -0x1.2e35b6p+5)
//   fast_log1pf_unit   x in [0, 1]                       0.8348 ulp (at x = 0x1.9f30c8p-2)
//   fast_logf          every positive float, subnormals  0.8348 ulp (at x = 0x1.67cc32p+0)
// and exact at the edges: e^0 = 1, ln 1 = 0, ln(1 + 0) = 0, 0 and +inf beyond the range.
#include <cstdint>
#include <type_traits>
#if !defined(__CUDA_ARCH__)
#include <bit>
#endif

#include "r2g2/kernels/host_device.h"

// The CPU loops over these functions vectorise only once they are inlined into the loop:
// an instruction-set copy of a loop (kernels/cpu/simd.h) must not call them out of line.
#if defined(__CUDA_ARCH__)
#define R2G2_FAST_MATH_INLINE __forceinline__
#elif defined(__GNUC__) || defined(__clang__)
#define R2G2_FAST_MATH_INLINE inline __attribute__((always_inline))
#else
#define R2G2_FAST_MATH_INLINE inline
#endif

namespace r2g2::kernels {

namespace fast_math_detail {

// a * b rounded once. nvcc fuses a product into a following addition (one rounding
// instead of two); __fmul_rn is never fused. On the host, g++ contracts by default even in
// ISO C++ mode (when the target has FMA, e.g. -march=native), across inlined calls too, so
// every CPU file that runs this code is compiled with -ffp-contract=off
// (R2G2_NO_FP_CONTRACT_SOURCES in CMakeLists.txt); clang fuses only within one expression,
// which the call boundary already prevents.
R2G2_HOST_DEVICE R2G2_FAST_MATH_INLINE float mul(float a, float b) {
#ifdef __CUDA_ARCH__
  return __fmul_rn(a, b);
#else
  return a * b;
#endif
}

R2G2_HOST_DEVICE R2G2_FAST_MATH_INLINE uint32_t bits_of(float x) {
#ifdef __CUDA_ARCH__
  return __float_as_uint(x);
#else
  return std::bit_cast<uint32_t>(x);
#endif
}

R2G2_HOST_DEVICE R2G2_FAST_MATH_INLINE float float_of(uint32_t bits) {
#ifdef __CUDA_ARCH__
  return __uint_as_float(bits);
#else
  return std::bit_cast<float>(bits);
#endif
}

// c ? a : b by bit masks. A ternary between two computed values may be compiled into
// branches (GCC moves the computations into them where floating-point operations may
// trap, its default), and a loop with branches does not vectorise; masks stay a blend.
R2G2_HOST_DEVICE R2G2_FAST_MATH_INLINE float select(bool c, float a, float b) {
  const uint32_t mask = 0u - static_cast<uint32_t>(c);
  return float_of((bits_of(a) & mask) | (bits_of(b) & ~mask));
}

// 2^k for k in [-126, 127].
R2G2_HOST_DEVICE R2G2_FAST_MATH_INLINE float pow2(int32_t k) {
  return float_of(static_cast<uint32_t>(k + 127) << 23);
}

// ln(1 + f) for f = m - 1, m in [sqrt(2)/2, sqrt(2)), plus k ln 2 and a small correction c:
// with s = f / (2 + f), ln(1 + f) = 2 atanh(s) = f - f^2/2 + s (f^2/2 + R(s^2)), R a
// minimax polynomial (error under 2^-34.24); ln 2 is split so that k * ln2_hi is exact.
R2G2_HOST_DEVICE R2G2_FAST_MATH_INLINE float log_kernel(float f, float k, float c) {
  constexpr float ln2_hi = 0x1.62e3p-1f, ln2_lo = 0x1.2fefa2p-17f;
  constexpr float Lg1 = 0xaaaaaa.0p-24f, Lg2 = 0xccce13.0p-25f, Lg3 = 0x91e9ee.0p-25f, Lg4 = 0xf89e26.0p-26f;
  const float s = f / (2.0f + f);
  const float z = mul(s, s);
  const float w = mul(z, z);
  const float t1 = mul(w, Lg2 + mul(w, Lg4));
  const float t2 = mul(z, Lg1 + mul(w, Lg3));
  const float r = t2 + t1;
  const float hfsq = mul(mul(0.5f, f), f);
  return (((mul(s, hfsq + r) + (mul(k, ln2_lo) + c)) - hfsq) + f) + mul(k, ln2_hi);
}

// Adding 1.0's exponent field minus sqrt(2)/2's moves the exponent's step from m = 2 to
// m = sqrt(2): the field is then k + 127, and the rest, with sqrt(2)/2's bits added back, m.
constexpr uint32_t kHalfSqrt2Bits = 0x3f3504f3u;
constexpr uint32_t kSqrt2Shift = 0x3f800000u - kHalfSqrt2Bits;

}  // namespace fast_math_detail

// c ? a : b, as a blend for float (fast_math_detail::select), a plain ternary otherwise.
template <class T>
R2G2_HOST_DEVICE R2G2_FAST_MATH_INLINE T select_of(bool c, T a, T b) {
  if constexpr (std::is_same_v<T, float>)
    return fast_math_detail::select(c, a, b);
  else
    return c ? a : b;
}

// e^x for any float x: 0 below about -103.97, +inf above about 88.72, NaN for NaN. musl's
// expf: x = k ln 2 + r with |r| <= ln(2)/2 (k the nearest integer to x / ln 2, found by
// the add-and-subtract of 1.5 * 2^23 that rounds to an integer), e^r = 1 + r + r c / (2 - c)
// with c = r - r^2 P(r^2), then 2^k applied in two exact halves, so that a subnormal result
// is rounded once.
R2G2_HOST_DEVICE R2G2_FAST_MATH_INLINE float fast_expf(float x) {
  using namespace fast_math_detail;
  constexpr float ln2_hi = 0x1.62e4p-1f, ln2_lo = 0x1.7f7d1cp-20f, inv_ln2 = 0x1.715476p+0f;
  constexpr float P1 = 0xaaaa8f.0p-26f, P2 = -0xb55215.0p-32f;
  constexpr float round_to_integer = 0x1.8p23f;
  // Outside [-104, 89] the result is 0 or +inf, and at the clamps the steps below round to
  // those. NaN goes to -104 (so that k stays a small integer) and is returned at the end.
  const float clamped = select(x >= -104.0f, select(x <= 89.0f, x, 89.0f), -104.0f);
  const float k = (mul(clamped, inv_ln2) + round_to_integer) - round_to_integer;
  const float hi = clamped - mul(k, ln2_hi);  // exact: k * ln2_hi has at most 24 significant bits
  const float lo = mul(k, ln2_lo);
  const float r = hi - lo;
  const float rr = mul(r, r);
  const float c = r - mul(rr, P1 + mul(rr, P2));
  const float y = 1.0f + ((mul(r, c) / (2.0f - c) - lo) + hi);
  const int32_t k_int = static_cast<int32_t>(k);  // in [-150, 128]
  const int32_t k_half = k_int / 2;
  const float scaled = mul(mul(y, pow2(k_half)), pow2(k_int - k_half));
  return select(x == x, scaled, x);
}

// ln(1 + x) for x in [0, 1] (NaN for NaN), the range softplus needs for x = e^-|t|. musl's
// log1pf without the branches that only serve x outside [0, 1]: below sqrt(2) - 1, f = x;
// above, u = 1 + x rounded, 1 + x = u (1 + c / u) with c = x - (u - 1) exact, and u is
// reduced to 2^k m.
R2G2_HOST_DEVICE R2G2_FAST_MATH_INLINE float fast_log1pf_unit(float x) {
  using namespace fast_math_detail;
  constexpr float sqrt2_minus_1 = 0x1.a827a0p-2f;
  const float u = 1.0f + x;
  const uint32_t shifted = bits_of(u) + kSqrt2Shift;
  const float reduced_f = float_of((shifted & 0x007fffffu) + kHalfSqrt2Bits) - 1.0f;
  const float reduced_k = static_cast<float>(static_cast<int32_t>(shifted >> 23) - 127);
  const float reduced_c = (x - (u - 1.0f)) / u;
  const bool near_zero = x < sqrt2_minus_1;
  return log_kernel(select(near_zero, x, reduced_f), select(near_zero, 0.0f, reduced_k),
                    select(near_zero, 0.0f, reduced_c));
}

// ln x for any float x: -inf at 0, NaN below 0 and for NaN, +inf at +inf. musl's logf, a
// subnormal x scaled by 2^25 first, the special cases picked at the end.
R2G2_HOST_DEVICE R2G2_FAST_MATH_INLINE float fast_logf(float x) {
  using namespace fast_math_detail;
  const bool subnormal = x < 0x1p-126f;
  const float normal = select(subnormal, mul(x, 0x1p25f), x);
  const uint32_t shifted = bits_of(normal) + kSqrt2Shift;
  const float f = float_of((shifted & 0x007fffffu) + kHalfSqrt2Bits) - 1.0f;
  const float k =
      static_cast<float>(static_cast<int32_t>(shifted >> 23) - 127) - select(subnormal, 25.0f, 0.0f);
  const float finite = log_kernel(f, k, 0.0f);
  const float inf = float_of(0x7f800000u), nan = float_of(0x7fc00000u);
  const float positive = select(x < inf, finite, x);
  const float not_positive = select(x == 0.0f, -inf, select(x == x, nan, x));
  return select(x > 0.0f, positive, not_positive);
}

}  // namespace r2g2::kernels
