// r2g2's own float exp, ln and ln(1 + x) (kernels/fast_math.h) against double libm, in ulps
// of the exact value, and their edges; the float tails of kernels/softplus_math.h.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

#include "r2g2/kernels/fast_math.h"
#include "r2g2/kernels/softplus_math.h"

using namespace r2g2::kernels;

namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

// Errors in units of the float spacing in the binade of the exact value (2^-149 below
// 2^-126, where floats are subnormal); an exact value beyond the float range counts only
// if the result is not the infinity it rounds to.
double ulps(float got, double exact) {
  const float rounded = static_cast<float>(exact);
  if (std::isinf(rounded)) return got == rounded ? 0.0 : std::numeric_limits<double>::infinity();
  const double magnitude = std::fabs(exact);
  double ulp = 0x1p-149;
  if (magnitude >= 0x1p-126) {
    int exponent = 0;
    std::frexp(magnitude, &exponent);
    ulp = std::ldexp(1.0, exponent - 24);
  }
  return std::fabs(static_cast<double>(got) - exact) / ulp;
}

uint32_t bits(float x) {
  uint32_t b;
  std::memcpy(&b, &x, sizeof b);
  return b;
}

float from_bits(uint32_t b) {
  float x;
  std::memcpy(&x, &b, sizeof x);
  return x;
}

struct Worst {
  double ulps = 0;
  float at = 0;
};

// The worst error of f against exact over the floats of [lo, hi] (same sign) whose bit
// patterns are `stride` apart, plus both ends.
template <class F, class Exact>
Worst worst_over(float lo, float hi, uint32_t stride, F f, Exact exact) {
  Worst worst;
  auto visit = [&](float x) {
    const double e = ulps(f(x), exact(static_cast<double>(x)));
    if (!(e <= worst.ulps)) worst = {e, x};
  };
  const bool negative = std::signbit(lo);
  uint32_t from = bits(negative ? hi : lo), to = bits(negative ? lo : hi);
  for (uint64_t b = from; b <= to; b += stride) visit(from_bits(static_cast<uint32_t>(b)));
  visit(lo);
  visit(hi);
  return worst;
}

double exact_exp(double x) { return std::exp(x); }
double exact_log(double x) { return std::log(x); }
double exact_log1p(double x) { return std::log1p(x); }

// The ranges and the bounds fast_math.h states, in `stride`-spaced samples.
void check_accuracy(uint32_t stride) {
  const Worst exp_negative = worst_over(-104.0f, -0.0f, stride, fast_expf, exact_exp);
  const Worst exp_positive = worst_over(0.0f, 89.0f, stride, fast_expf, exact_exp);
  const Worst log1p = worst_over(0.0f, 1.0f, stride, fast_log1pf_unit, exact_log1p);
  const Worst log = worst_over(0x1p-149f, std::numeric_limits<float>::max(), stride, fast_logf, exact_log);
  MESSAGE("worst ulps: exp ", exp_negative.ulps, " at ", exp_negative.at, " and ", exp_positive.ulps, " at ",
          exp_positive.at, ", log1p ", log1p.ulps, " at ", log1p.at, ", log ", log.ulps, " at ", log.at);
  CHECK(exp_negative.ulps <= 0.911);
  CHECK(exp_positive.ulps <= 0.911);
  CHECK(log1p.ulps <= 0.835);
  CHECK(log.ulps <= 0.835);
}

}  // namespace

TEST_CASE("fast_expf, fast_log1pf_unit, fast_logf: within the stated ulps on a dense sample") {
  // Every 997th float: about 2^21 per function, all binades and both reduction paths.
  check_accuracy(997);
}

// Every float of each range: a few CPU minutes, so skipped unless asked for
// (test_kernels -tc='*every float*' --no-skip). kernels/fast_math.h quotes its results.
TEST_CASE("fast_expf, fast_log1pf_unit, fast_logf: within the stated ulps for every float" *
          doctest::skip()) {
  check_accuracy(1);
}

TEST_CASE("fast_expf: exact at the edges, 0 and inf beyond the range, NaN kept") {
  CHECK(fast_expf(0.0f) == 1.0f);
  CHECK(fast_expf(-0.0f) == 1.0f);
  CHECK(fast_expf(-kInf) == 0.0f);
  CHECK(fast_expf(kInf) == kInf);
  CHECK(fast_expf(-104.0f) == 0.0f);
  CHECK(fast_expf(-1000.0f) == 0.0f);
  CHECK(fast_expf(89.0f) == kInf);
  CHECK(fast_expf(std::numeric_limits<float>::max()) == kInf);
  CHECK(std::isnan(fast_expf(std::numeric_limits<float>::quiet_NaN())));
  // The largest finite result and the smallest subnormal one are reached.
  CHECK(fast_expf(0x1.62e42ep+6f) == static_cast<float>(std::exp(0x1.62e42ep+6)));
  CHECK(fast_expf(-103.0f) == static_cast<float>(std::exp(-103.0)));
  CHECK(fast_expf(-103.9f) == 0x1p-149f);
}

TEST_CASE("fast_logf and fast_log1pf_unit: exact at the edges, the IEEE special cases") {
  CHECK(fast_logf(1.0f) == 0.0f);
  CHECK(fast_logf(0.0f) == -kInf);
  CHECK(fast_logf(-0.0f) == -kInf);
  CHECK(fast_logf(kInf) == kInf);
  CHECK(std::isnan(fast_logf(-1.0f)));
  CHECK(std::isnan(fast_logf(-kInf)));
  CHECK(std::isnan(fast_logf(std::numeric_limits<float>::quiet_NaN())));
  CHECK(fast_logf(0x1p-149f) == static_cast<float>(std::log(0x1p-149)));
  CHECK(fast_logf(2.0f) == static_cast<float>(std::log(2.0)));
  CHECK(fast_log1pf_unit(0.0f) == 0.0f);
  CHECK(fast_log1pf_unit(0x1p-149f) == 0x1p-149f);  // ln(1 + x) = x for tiny x, subnormal included
  CHECK(fast_log1pf_unit(1e-30f) == 1e-30f);
  CHECK(fast_log1pf_unit(1.0f) == static_cast<float>(std::log1p(1.0)));
  CHECK(std::isnan(fast_log1pf_unit(std::numeric_limits<float>::quiet_NaN())));
}

TEST_CASE("softplus_math: the float tails below -20 are the double formulas rounded to float") {
  // log softplus(x) = x - e^x / 2 rounds to x, and sigmoid(x) / softplus(x) = 1 - e^x / 2
  // to 1, for every float x <= -20: checked on the floats next to -20 and spread below.
  auto check = [](float x) {
    CAPTURE(x);
    const double e = std::exp(static_cast<double>(x));
    REQUIRE(static_cast<float>(static_cast<double>(x) - e / 2) == x);
    REQUIRE(static_cast<float>(1.0 - e / 2) == 1.0f);
    REQUIRE(log_softplus_of(x) == x);
    REQUIRE(log_softplus_grad(x) == 1.0f);
  };
  float x = -20.0f;
  for (int i = 0; i < 1000; ++i, x = std::nextafter(x, -kInf)) check(x);
  for (uint32_t b = bits(-20.0f); b < bits(-std::numeric_limits<float>::max()); b += 4099)
    check(from_bits(b));
  check(-std::numeric_limits<float>::max());
  CHECK(log_softplus_of(-kInf) == -kInf);
  CHECK(log_softplus_grad(-kInf) == 1.0f);
  // Just above -20 the formulas are log(softplus) and sigmoid / softplus.
  const float above = std::nextafter(-20.0f, 0.0f);
  CHECK(log_softplus_of(above) == fast_logf(softplus_of(above)));
  CHECK(log_softplus_grad(above) == sigmoid_of(above) / softplus_of(above));
}

TEST_CASE("softplus_of and sigmoid_of in float: within 2 ulps of the exact values") {
  double worst_softplus = 0, worst_sigmoid = 0;
  for (float x = -110.0f; x <= 110.0f; x += 0.00731f) {
    const double xd = x, softplus = xd > 0 ? xd + std::log1p(std::exp(-xd)) : std::log1p(std::exp(xd));
    worst_softplus = std::max(worst_softplus, ulps(softplus_of(x), softplus));
    worst_sigmoid = std::max(worst_sigmoid, ulps(sigmoid_of(x), 1 / (1 + std::exp(-xd))));
  }
  MESSAGE("worst ulps: softplus ", worst_softplus, ", sigmoid ", worst_sigmoid);
  CHECK(worst_softplus < 2.0);
  CHECK(worst_sigmoid < 2.0);
  CHECK(softplus_of(0.0f) == static_cast<float>(std::log(2.0)));
  CHECK(sigmoid_of(0.0f) == 0.5f);
  CHECK(softplus_of(kInf) == kInf);
  CHECK(softplus_of(-kInf) == 0.0f);
  CHECK(sigmoid_of(kInf) == 1.0f);
  CHECK(sigmoid_of(-kInf) == 0.0f);
  CHECK(std::isnan(softplus_of(std::numeric_limits<float>::quiet_NaN())));
  CHECK(std::isnan(sigmoid_of(std::numeric_limits<float>::quiet_NaN())));
}
