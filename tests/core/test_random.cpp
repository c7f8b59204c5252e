// The counter-based normal generator: Philox4x32-10 against Random123's published
// known-answer vectors, the Box-Muller mapping of core/random.h (against glibc and within
// its stated bound of the exact value), stream offsets, the moments and the distribution,
// and large (threaded, batched, vectorised) requests against small ones and the spec.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <vector>

#include "r2g2/kernels/cpu/random.h"
#include "r2g2/kernels/philox_math.h"
#include "test_util.h"

using namespace r2g2;

TEST_CASE("Philox4x32-10 matches the Random123 known-answer vectors") {
  struct Case {
    uint32_t counter[4];
    uint32_t key[2];
    uint32_t expected[4];
  };
  const Case cases[] = {
      {{0, 0, 0, 0}, {0, 0}, {0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}},
      {{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff},
       {0xffffffff, 0xffffffff},
       {0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}},
      {{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344},
       {0xa4093822, 0x299f31d0},
       {0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}},
  };
  for (const Case& c : cases) {
    uint32_t out[4];
    kernels::cpu::philox4x32_10(c.counter, c.key, out);
    for (int j = 0; j < 4; ++j) CHECK(out[j] == c.expected[j]);
  }
}

TEST_CASE("randn: block 0 of seed 0 is Box-Muller of the first known-answer vector") {
  const uint32_t r[4] = {0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8};
  double u[4];
  for (int j = 0; j < 4; ++j) u[j] = (static_cast<double>(r[j]) + 0.5) / 4294967296.0;
  const double two_pi = 6.283185307179586;
  double expected[4] = {std::sqrt(-2 * std::log(u[0])) * std::cos(two_pi * u[1]),
                        std::sqrt(-2 * std::log(u[0])) * std::sin(two_pi * u[1]),
                        std::sqrt(-2 * std::log(u[2])) * std::cos(two_pi * u[3]),
                        std::sqrt(-2 * std::log(u[2])) * std::sin(two_pi * u[3])};
  auto got = Tensor::randn({4}, 0, 0, DType::f64).to_vector();
  for (int j = 0; j < 4; ++j) CHECK(got[j] == doctest::Approx(expected[j]).epsilon(1e-15));
  // float32 is the float64 value rounded.
  auto got32 = Tensor::randn({4}, 0, 0, DType::f32).to_vector();
  for (int j = 0; j < 4; ++j) CHECK(got32[j] == static_cast<double>(static_cast<float>(got[j])));
}

TEST_CASE("randn(seed, offset) is the tail of randn(seed, 0), for any offset") {
  const uint64_t seed = 0x123456789abcdefull;
  auto full = Tensor::randn({64}, seed, 0, DType::f64).to_vector();
  for (uint64_t offset : {0, 1, 2, 3, 4, 5, 7, 13, 30}) {
    CAPTURE(offset);
    int64_t n = 64 - static_cast<int64_t>(offset);
    auto tail = Tensor::randn({n}, seed, offset, DType::f64).to_vector();
    bool same = true;
    for (int64_t i = 0; i < n; ++i) same = same && tail[i] == full[offset + i];
    CHECK(same);
  }
  // Short requests that start and end inside one block.
  auto mid = Tensor::randn({2}, seed, 5, DType::f64).to_vector();
  CHECK(mid[0] == full[5]);
  CHECK(mid[1] == full[6]);
  // The shape does not matter, only the count.
  CHECK(Tensor::randn({4, 4}, seed, 0, DType::f64).to_vector() ==
        std::vector<double>(full.begin(), full.begin() + 16));
}

TEST_CASE("Generator: successive draws continue the stream; seeds differ") {
  Generator gen(42);
  auto a = gen.randn({5}, DType::f64).to_vector();
  auto b = gen.randn({2, 3}, DType::f64).to_vector();
  CHECK(gen.offset == 11);
  auto whole = Tensor::randn({11}, 42, 0, DType::f64).to_vector();
  CHECK(std::vector<double>(whole.begin(), whole.begin() + 5) == a);
  CHECK(std::vector<double>(whole.begin() + 5, whole.end()) == b);
  // Restoring (seed, offset) reproduces what follows.
  Generator resumed(42, 5);
  CHECK(resumed.randn({6}, DType::f64).to_vector() == b);
  // Both halves of the 64-bit seed reach the key.
  CHECK(Tensor::randn({4}, 1, 0, DType::f64).to_vector() != Tensor::randn({4}, 2, 0, DType::f64).to_vector());
  CHECK(Tensor::randn({4}, 1, 0, DType::f64).to_vector() !=
        Tensor::randn({4}, 1 + (1ull << 32), 0, DType::f64).to_vector());
  // Block counters above 2^32 (high counter word) give new numbers too.
  const uint64_t far = 4ull << 32;  // block 2^32
  CHECK(Tensor::randn({4}, 7, far, DType::f64).to_vector() !=
        Tensor::randn({4}, 7, 0, DType::f64).to_vector());
}

TEST_CASE("randn: mean 0 and variance 1 over 1e5 draws, within 4 standard errors") {
  const int64_t n = 100000;
  for (DType dt : {DType::f64, DType::f32}) {
    auto v = Tensor::randn({n}, 2024, 17, dt).to_vector();
    double mean = std::accumulate(v.begin(), v.end(), 0.0) / n;
    double var = 0, fourth = 0;
    for (double x : v) {
      var += (x - mean) * (x - mean);
      fourth += x * x * x * x;
    }
    var /= n - 1;
    fourth /= n;
    // Standard errors: mean 1/sqrt(n) = 0.0032; variance sqrt(2/n) = 0.0045.
    CHECK(std::abs(mean) < 4 / std::sqrt(double(n)));
    CHECK(std::abs(var - 1) < 4 * std::sqrt(2.0 / n));
    // E x^4 = 3 (normal, not uniform or clipped), standard error sqrt(96/n) = 0.031.
    CHECK(std::abs(fourth - 3) < 4 * std::sqrt(96.0 / n));
    // Every value finite: u is never 0 or 1.
    bool finite = true;
    for (double x : v) finite = finite && std::isfinite(x);
    CHECK(finite);
  }
}

// The Philox words behind element k of stream `seed`: its radius word and its angle word.
struct NormalWords {
  uint32_t radius, angle;
};
static NormalWords normal_words(uint64_t seed, uint64_t k) {
  const uint64_t block = k / 4;
  const uint32_t counter[4] = {static_cast<uint32_t>(block), static_cast<uint32_t>(block >> 32), 0, 0};
  const uint32_t key[2] = {static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32)};
  uint32_t r[4];
  kernels::cpu::philox4x32_10(counter, key, r);
  const int pair = static_cast<int>(k % 4) / 2;
  return {r[2 * pair], r[2 * pair + 1]};
}

// Element k of stream `seed` straight from the spec in core/random.h, one at a time, with
// the scalar functions of kernels/philox_math.h.
static double spec_normal(uint64_t seed, uint64_t k) {
  const NormalWords w = normal_words(seed, k);
  const double u_radius = (static_cast<double>(w.radius) + 0.5) / 4294967296.0;
  const double radius = std::sqrt(-2 * kernels::philox_log(u_radius));
  double cos_angle = 0, sin_angle = 0;
  kernels::philox_cos_sin_2pi(w.angle, cos_angle, sin_angle);
  return k % 2 == 0 ? radius * cos_angle : radius * sin_angle;
}

// Element k as the exact Box-Muller value of the same uniforms, in long double, with the
// angle's quadrant taken out exactly (4u has 33 significant bits) so that the reference
// keeps its relative accuracy next to the zeros of cos and sin.
static long double exact_normal(uint64_t seed, uint64_t k) {
  const NormalWords w = normal_words(seed, k);
  const long double u_radius = (static_cast<long double>(w.radius) + 0.5L) / 4294967296.0L;
  const long double four_u = (static_cast<long double>(w.angle) + 0.5L) / 1073741824.0L;
  const long double quadrant = std::nearbyint(four_u);
  const long double x = 1.570796326794896619231321691639751442L * (four_u - quadrant);
  // cos(q pi/2 + x) for even lanes, sin(q pi/2 + x) = cos((q - 1) pi/2 + x) for odd ones.
  const int turn = (static_cast<int>(quadrant) + 3 * static_cast<int>(k % 2)) & 3;
  const long double trig = turn == 0 ? std::cos(x) : turn == 1 ? -std::sin(x) : turn == 2 ? -std::cos(x) : std::sin(x);
  return std::sqrt(-2 * std::log(u_radius)) * trig;
}

TEST_CASE("randn: float64 normals are within 5 * 2^-53 (relative) of exact Box-Muller") {
  // core/random.h: ln within 1 ulp (2^-52 relative), so the radius within 2^-53 plus the
  // square root's rounding; cos/sin within 1 ulp; the product's rounding: under 5 * 2^-53.
  const uint64_t seed = 0x0ddba11c0ffee5ull;
  const int64_t n = 1 << 16;
  std::vector<double> got(n);
  kernels::cpu::philox_normal<double>(seed, 0, got.data(), n);
  double worst = 0;
  for (int64_t k = 0; k < n; ++k) {
    const long double exact = exact_normal(seed, static_cast<uint64_t>(k));
    worst = std::max(worst, static_cast<double>(std::fabs((got[k] - exact) / exact)));
  }
  CAPTURE(worst / 0x1p-53);
  CHECK(worst < 5 * 0x1p-53);
}

TEST_CASE("randn: the distribution is standard normal (Kolmogorov-Smirnov, skewness, kurtosis)") {
  const int64_t n = 1 << 16;
  std::vector<double> v(n);
  kernels::cpu::philox_normal<double>(77, 3, v.data(), n);
  double third = 0, fourth = 0;
  for (double x : v) {
    third += x * x * x;
    fourth += x * x * x * x;
  }
  // Standard errors of the third and fourth moments: sqrt(15/n) = 0.015, sqrt(96/n) = 0.038.
  CHECK(std::abs(third / n) < 5 * std::sqrt(15.0 / n));
  CHECK(std::abs(fourth / n - 3) < 5 * std::sqrt(96.0 / n));
  // Largest gap between the empirical and the normal CDF: 1.95 / sqrt(n) is its 0.1%
  // critical value.
  std::sort(v.begin(), v.end());
  double gap = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double cdf = 0.5 * std::erfc(-v[i] / std::sqrt(2.0));
    gap = std::max({gap, std::abs(cdf - double(i) / n), std::abs(cdf - double(i + 1) / n)});
  }
  CHECK(gap < 1.95 / std::sqrt(double(n)));
}

// Large requests are split across threads and computed in batches of blocks; small ones
// are not. Neither may change a single bit.
template <class T>
static void check_large_request_is_bit_identical() {
  const uint64_t seed = 0xfeedfacecafebeefull, offset = 1000003;  // odd: starts mid-block
  const int64_t n = (int64_t{1} << 20) + 3;
  std::vector<T> large(n), small(n);
  kernels::cpu::philox_normal<T>(seed, offset, large.data(), n);
  // Small requests of varied lengths (1 .. 2000 elements), each starting where the last ended.
  int64_t lengths[] = {1, 2, 3, 5, 7, 64, 513, 1999, 2000};
  for (int64_t i = 0, j = 0; i < n; ++j) {
    const int64_t len = std::min(lengths[j % 9], n - i);
    kernels::cpu::philox_normal<T>(seed, offset + static_cast<uint64_t>(i), small.data() + i, len);
    i += len;
  }
  CHECK(std::memcmp(large.data(), small.data(), sizeof(T) * static_cast<size_t>(n)) == 0);
  // Both agree with the spec, element by element, at a spread of indices and at both ends.
  int64_t mismatches = 0;
  for (int64_t i = 0; i < n; i += (i < 8 || i > n - 8) ? 1 : 997)
    mismatches += large[i] != static_cast<T>(spec_normal(seed, offset + static_cast<uint64_t>(i)));
  CHECK(mismatches == 0);
}

TEST_CASE("randn: a large request is bit-identical to many small ones and to the spec") {
  check_large_request_is_bit_identical<float>();
  check_large_request_is_bit_identical<double>();
}
