// r2g2's own ln u and cos/sin(2 pi u) (kernels/philox_math.h), which the normal generator
// of core/random.h uses on both devices, against long double libm, in ulps of the exact
// value: over 2^20 spread-out Philox words and the edges (r = 0, 2^32 - 1, words next to
// powers of two and to the quadrant boundaries).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "r2g2/kernels/philox_math.h"

using namespace r2g2::kernels;

namespace {

// The spacing of doubles in the binade of |exact|: an error below 1 of these is under 1 ulp.
double ulp_at(long double exact) {
  int exponent = 0;
  std::frexp(static_cast<double>(std::fabs(exact)), &exponent);
  return std::ldexp(1.0, exponent - 53);
}

double ulps(double got, long double exact) {
  return static_cast<double>(std::fabs(static_cast<long double>(got) - exact)) / ulp_at(exact);
}

// 2^20 words spread over the whole range (a stride coprime to 2^32), and the edges.
std::vector<uint32_t> test_words() {
  std::vector<uint32_t> words;
  for (uint64_t i = 0; i < (uint64_t{1} << 20); ++i) words.push_back(static_cast<uint32_t>(i * 4099 + 12345));
  for (int bit = 0; bit < 32; ++bit)
    for (int delta = -3; delta <= 3; ++delta) words.push_back(static_cast<uint32_t>((uint64_t{1} << bit) + delta));
  for (uint32_t quarter = 0; quarter < 4; ++quarter)
    for (int delta = -2; delta <= 2; ++delta)
      words.push_back((quarter << 30) + (1u << 29) + static_cast<uint32_t>(delta));  // q changes here
  words.push_back(0);
  words.push_back(0xffffffffu);
  return words;
}

// cos and sin of 2 pi u in long double, with the quadrant taken out by long double
// arithmetic (exact: 4u has 33 significant bits), so that the reference stays accurate
// in relative terms next to the zeros of cos and sin.
void exact_cos_sin(double u, long double& c, long double& s) {
  const long double four_u = 4.0L * u, quadrant = std::nearbyint(four_u);
  const long double x = 1.570796326794896619231321691639751442L * (four_u - quadrant);
  const long double cx = std::cos(x), sx = std::sin(x);
  switch (static_cast<int>(quadrant) & 3) {
    case 0: c = cx, s = sx; break;
    case 1: c = -sx, s = cx; break;
    case 2: c = -cx, s = -sx; break;
    default: c = sx, s = -cx; break;
  }
}

// The worst errors over the given words, in ulps.
struct WorstUlps {
  double log = 0, cos = 0, sin = 0;
};

template <class Words>
WorstUlps worst_ulps(const Words& words) {
  WorstUlps worst;
  for (uint32_t r : words) {
    const double u = philox_uniform(r);
    worst.log = std::max(worst.log, ulps(philox_log(u), std::log(static_cast<long double>(u))));
    double c = 0, s = 0;
    philox_cos_sin_2pi(r, c, s);
    long double exact_c = 0, exact_s = 0;
    exact_cos_sin(u, exact_c, exact_s);
    worst.cos = std::max(worst.cos, ulps(c, exact_c));
    worst.sin = std::max(worst.sin, ulps(s, exact_s));
  }
  return worst;
}

}  // namespace

TEST_CASE("philox_log and philox_cos_sin_2pi are within 1 ulp of ln u and cos, sin of 2 pi u") {
  const WorstUlps worst = worst_ulps(test_words());
  CAPTURE(worst.log);
  CAPTURE(worst.cos);
  CAPTURE(worst.sin);
  CHECK(worst.log < 1.0);
  CHECK(worst.cos < 1.0);
  CHECK(worst.sin < 1.0);
  // Exact where ln is: ln 1/2 = -ln 2 to the double nearest.
  CHECK(philox_log(0.5) == -0x1.62e42fefa39efp-1);
  CHECK(philox_log(1.0) == 0.0);
}

// Every one of the 2^32 words: about 20 CPU minutes, so skipped unless asked for
// (test_core -tc='*every Philox word*' --no-skip). core/random.h quotes its worst errors.
TEST_CASE("philox_log and philox_cos_sin_2pi: under 1 ulp for every Philox word" * doctest::skip()) {
  struct AllWords {
    struct Iterator {
      uint64_t r;
      uint32_t operator*() const { return static_cast<uint32_t>(r); }
      Iterator& operator++() {
        ++r;
        return *this;
      }
      bool operator!=(const Iterator& other) const { return r != other.r; }
    };
    Iterator begin() const { return {0}; }
    Iterator end() const { return {uint64_t{1} << 32}; }
  };
  const WorstUlps worst = worst_ulps(AllWords{});
  MESSAGE("worst ulps: ln ", worst.log, ", cos ", worst.cos, ", sin ", worst.sin);
  CHECK(worst.log < 1.0);
  CHECK(worst.cos < 1.0);
  CHECK(worst.sin < 1.0);
}

TEST_CASE("philox_cos_sin_2pi: the quadrants are exact reflections of one another") {
  // u and u + 1/4 (r + 2^30) are a quarter turn apart: (cos, sin) rotates to (-sin, cos),
  // and the exact reduction makes that hold bit for bit, for every quadrant.
  for (uint32_t r : {0u, 1u, 12345u, 0x1fffffffu, 0x20000000u, 0x2abcdef1u, 0x3fffffffu}) {
    double c[4], s[4];
    for (uint32_t q = 0; q < 4; ++q) philox_cos_sin_2pi(r + (q << 30), c[q], s[q]);
    for (int q = 0; q < 3; ++q) {
      CAPTURE(r);
      CAPTURE(q);
      CHECK(c[q + 1] == -s[q]);
      CHECK(s[q + 1] == c[q]);
    }
  }
  // cos(2 pi u) = cos(2 pi (1 - u)) and sin(2 pi u) = -sin(2 pi (1 - u)): r and 2^32 - 1 - r.
  for (uint32_t r : {0u, 7u, 0x12345678u, 0x7fffffffu}) {
    double c = 0, s = 0, c_mirror = 0, s_mirror = 0;
    philox_cos_sin_2pi(r, c, s);
    philox_cos_sin_2pi(0xffffffffu - r, c_mirror, s_mirror);
    CHECK(c == c_mirror);
    CHECK(s == -s_mirror);
  }
}
