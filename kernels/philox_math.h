#pragma once
// The arithmetic of the generator specified in core/random.h, shared by
// kernels/cpu/random.cpp and kernels/cuda/random_kernels.cuh: the Philox4x32-10 rounds,
// the integer-to-uniform map, and r2g2's own ln u and cos/sin(2 pi u). The math is
// branch-free (so that the CPU loop vectorises) and every step is one IEEE operation
// rounded to nearest, never fused: both devices compute the same bits.
#include <cstdint>
#if !defined(__CUDA_ARCH__)
#include <bit>
#endif

#include "r2g2/kernels/host_device.h"

namespace r2g2::kernels {

// Ten rounds on counter (c0, c1, c2, c3) with key (k0, k1), in place. Inlined, so that a
// loop over many counters becomes straight-line vector code on the CPU; the 64-bit
// products compile to the device's 32-bit high/low multiplies.
R2G2_HOST_DEVICE inline void philox4x32_10_rounds(uint32_t& c0, uint32_t& c1, uint32_t& c2, uint32_t& c3,
                                                  uint32_t k0, uint32_t k1) {
  constexpr uint32_t M0 = 0xD2511F53u, M1 = 0xCD9E8D57u, W0 = 0x9E3779B9u, W1 = 0xBB67AE85u;
#ifdef __CUDA_ARCH__
#pragma unroll
#endif
  for (int round = 0; round < 10; ++round) {
    const uint64_t p0 = static_cast<uint64_t>(M0) * c0;
    const uint64_t p1 = static_cast<uint64_t>(M1) * c2;
    const uint32_t hi0 = static_cast<uint32_t>(p0 >> 32), lo0 = static_cast<uint32_t>(p0);
    const uint32_t hi1 = static_cast<uint32_t>(p1 >> 32), lo1 = static_cast<uint32_t>(p1);
    c0 = hi1 ^ c1 ^ k0;
    c1 = lo1;
    c2 = hi0 ^ c3 ^ k1;
    c3 = lo0;
    k0 += W0;
    k1 += W1;
  }
}

// u = (r + 0.5) / 2^32, in double: exact, never 0 or 1.
R2G2_HOST_DEVICE inline double philox_uniform(uint32_t r) {
  return (static_cast<double>(r) + 0.5) * (1.0 / 4294967296.0);
}

namespace philox_detail {

// a * b rounded once. nvcc would fuse a product into a following addition (one rounding
// instead of two) and the host would not; __dmul_rn is never fused. On the host, x86-64
// without FMA instructions (the baseline, and the AVX2 copy in kernels/cpu/random.cpp)
// has nothing to fuse into. Products by powers of two are exact, fused or not, and stay
// plain.
R2G2_HOST_DEVICE inline double mul(double a, double b) {
#ifdef __CUDA_ARCH__
  return __dmul_rn(a, b);
#else
  return a * b;
#endif
}

R2G2_HOST_DEVICE inline uint64_t bits_of(double x) {
#ifdef __CUDA_ARCH__
  return static_cast<uint64_t>(__double_as_longlong(x));
#else
  return std::bit_cast<uint64_t>(x);
#endif
}

R2G2_HOST_DEVICE inline double double_of(uint64_t bits) {
#ifdef __CUDA_ARCH__
  return __longlong_as_double(static_cast<long long>(bits));
#else
  return std::bit_cast<double>(bits);
#endif
}

}  // namespace philox_detail

// ln x for a positive normal double x (the generator takes it of u in [2^-33, 1)).
// fdlibm's e_log.c (as in musl) without its branches, which only handle zero, negative,
// subnormal, infinite and NaN inputs: x = 2^k m with m in [sqrt(2)/2, sqrt(2)),
// f = m - 1, s = f / (2 + f), ln(1 + f) = 2 atanh(s) = f - f^2/2 + s (f^2/2 + R(s^2))
// with R a minimax polynomial (error under 2^-58.45), plus k ln 2 split in two so that
// k * ln2_hi is exact. Under 1 ulp from the exact value (tests/core/test_random_math.cpp
// measures it).
R2G2_HOST_DEVICE inline double philox_log(double x) {
  using namespace philox_detail;
  constexpr double ln2_hi = 6.93147180369123816490e-01, ln2_lo = 1.90821492927058770002e-10;
  constexpr double Lg1 = 6.666666666666735130e-01, Lg2 = 3.999999999940941908e-01,
                   Lg3 = 2.857142874366239149e-01, Lg4 = 2.222219843214978396e-01,
                   Lg5 = 1.818357216161805012e-01, Lg6 = 1.531383769920937332e-01,
                   Lg7 = 1.479819860511658591e-01;
  // Adding 1.0's exponent field minus sqrt(2)/2's top word moves the exponent's step from
  // m = 2 to m = sqrt(2): the field is then k + 1023, and the rest, with sqrt(2)/2's top
  // word added back, is m.
  constexpr uint64_t half_sqrt2_top = uint64_t{0x3fe6a09e} << 32;
  const uint64_t shifted = bits_of(x) + ((uint64_t{0x3ff00000} << 32) - half_sqrt2_top);
  const double m = double_of((shifted & 0x000fffffffffffffull) + half_sqrt2_top);
  // k as a double by bits (exact: |k| < 2^11), which SSE2 vectorises and int64 -> double does not.
  const double k = double_of(0x4330000000000000ull | (shifted >> 52)) - (0x1p52 + 1023.0);
  const double f = m - 1.0;
  const double hfsq = mul(mul(0.5, f), f);
  const double s = f / (2.0 + f);
  const double z = mul(s, s);
  const double w = mul(z, z);
  const double t1 = mul(w, Lg2 + mul(w, Lg4 + mul(w, Lg6)));
  const double t2 = mul(z, Lg1 + mul(w, Lg3 + mul(w, Lg5 + mul(w, Lg7))));
  const double r = t2 + t1;
  return (((mul(s, hfsq + r) + mul(k, ln2_lo)) - hfsq) + f) + mul(k, ln2_hi);
}

// cos(2 pi u) and sin(2 pi u) for u = (r + 0.5) / 2^32. The reduction is exact, in
// integers: 4u = q + g with q the nearest integer and g = (2n + 1) / 2^31, |g| < 1/2, so
// 2 pi u = q pi/2 + x with x = (pi/2) g, |x| < pi/4. x is formed as a double-double:
// g * P1 is exact (g has at most 30 significant bits, P1 = pi/2 cut to 23), g * P2 adds
// the rest of pi/2 to 2^-78. fdlibm's k_sin.c and k_cos.c kernels (as in musl, minimax
// polynomials on |x| <= pi/4 that take the tail of x) give sin x and cos x, and the
// quadrant q picks and negates them, exactly.
R2G2_HOST_DEVICE inline void philox_cos_sin_2pi(uint32_t r, double& cos_out, double& sin_out) {
  using namespace philox_detail;
  constexpr double S1 = -1.66666666666666324348e-01, S2 = 8.33333333332248946124e-03,
                   S3 = -1.98412698298579493134e-04, S4 = 2.75573137070700676789e-06,
                   S5 = -2.50507602534068634195e-08, S6 = 1.58969099521155010221e-10;
  constexpr double C1 = 4.16666666666666019037e-02, C2 = -1.38888888888741095749e-03,
                   C3 = 2.48015872894767294178e-05, C4 = -2.75573143513906633035e-07,
                   C5 = 2.08757232129817482790e-09, C6 = -1.13596475577881948265e-11;
  constexpr double P1 = 0x1.921fb4p+0, P2 = 0x1.4442d18469899p-24;
  // 4u = (r + 0.5) / 2^30: adding 2^29 rounds to the nearest quadrant in the top two bits
  // (wrapping 4 to 0), and the low 30 bits, less 2^29, are n.
  const uint32_t rounded = r + (1u << 29);
  const uint32_t quadrant = rounded >> 30;
  const int32_t n = static_cast<int32_t>(rounded & 0x3fffffffu) - (1 << 29);
  const double g = (static_cast<double>(n) + 0.5) * 0x1p-30;
  const double x_hi = mul(g, P1), x_lo = mul(g, P2);
  const double x = x_hi + x_lo;
  const double y = x_lo - (x - x_hi);  // exact, as |x_lo| < |x_hi|
  const double z = mul(x, x);
  const double w = mul(z, z);
  // sin x = x + x^3 (S1 + z S(z)), with the tail y entering to first order.
  const double sr = S2 + mul(z, S3 + mul(z, S4)) + mul(mul(z, w), S5 + mul(z, S6));
  const double v = mul(z, x);
  const double sin_x = x - ((mul(z, mul(0.5, y) - mul(v, sr)) - y) - mul(v, S1));
  // cos x = 1 - z/2 + z^2 C(z), with 1 - z/2 summed in two parts to keep its low bits.
  const double cr = mul(z, C1 + mul(z, C2 + mul(z, C3))) + mul(mul(w, w), C4 + mul(z, C5 + mul(z, C6)));
  const double hz = mul(0.5, z);
  const double one_minus_hz = 1.0 - hz;
  const double cos_x = one_minus_hz + (((1.0 - one_minus_hz) - hz) + (mul(z, cr) - mul(x, y)));
  // cos(q pi/2 + x), sin(q pi/2 + x) for q = 0..3: (c, s), (-s, c), (-c, -s), (s, -c),
  // picked and negated with bit masks, which vectorise where selects would branch.
  const uint64_t swap = uint64_t{0} - (quadrant & 1u);
  const uint64_t cos_sign = static_cast<uint64_t>((quadrant + 1u) & 2u) << 62;
  const uint64_t sin_sign = static_cast<uint64_t>(quadrant & 2u) << 62;
  const uint64_t cos_bits = bits_of(cos_x), sin_bits = bits_of(sin_x);
  cos_out = double_of(((sin_bits & swap) | (cos_bits & ~swap)) ^ cos_sign);
  sin_out = double_of(((cos_bits & swap) | (sin_bits & ~swap)) ^ sin_sign);
}

// Box-Muller on one pair of Philox words is sqrt(-2 ln u_radius) * (cos, sin)(2 pi u_angle).
// Its first part, -2 ln u of the radius word; the square root is correctly rounded on both
// devices (the CPU takes it separately, two at a time in vector registers).
R2G2_HOST_DEVICE inline double philox_minus_two_log(uint32_t radius_word) {
  return -2.0 * philox_log(philox_uniform(radius_word));
}

// Its second part, given the radius: the two normals of the pair.
R2G2_HOST_DEVICE inline void philox_normal_pair(double radius, uint32_t angle_word, double& first, double& second) {
  double cos_angle, sin_angle;
  philox_cos_sin_2pi(angle_word, cos_angle, sin_angle);
  first = philox_detail::mul(radius, cos_angle);
  second = philox_detail::mul(radius, sin_angle);
}

}  // namespace r2g2::kernels
