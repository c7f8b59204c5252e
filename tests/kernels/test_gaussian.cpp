// The fused mean-field Gaussian kernels (kernels/cpu/gaussian.h) against plain long double
// formulas: the KL sum and its order of summation, its one-pass gradient (finite where
// softplus underflows), and the weight draw.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "r2g2/kernels/cases/gaussian.h"
#include "r2g2/kernels/cpu/gaussian.h"
#include "r2g2/kernels/elementwise_math.h"
#include "test_util.h"

namespace {

using namespace r2g2::kernels;
namespace cpu = r2g2::kernels::cpu;
namespace cases = r2g2::kernels::cases;

template <class T>
std::vector<T> values(size_t n, uint64_t seed, double lo, double hi) {
  return r2g2::test::uniform_values<T>(n, seed, lo, hi, 23);
}

// The scale parameters of a case, with the far rho tails mixed in.
template <class T>
std::vector<T> scales(const cases::GaussianKlCase& c, size_t n, uint64_t seed) {
  auto s = values<T>(n, seed, c.lo, c.hi);
  if (c.scale == GaussianScale::rho)
    for (size_t i = 0; i < n; i += 5) s[i] = static_cast<T>(cases::test_rho_tails()[(i / 5) % 10]);
  return s;
}

// sigma for the scale parameters: softplus(rho) as the softplus op computes it, or themselves.
template <class T>
std::vector<T> sigmas(GaussianScale kind, const std::vector<T>& s) {
  std::vector<T> sigma(s);
  if (kind == GaussianScale::rho)
    for (auto& x : sigma) x = softplus_of(x);
  return sigma;
}

struct Reference {
  long double sigma, log_sigma, sigmoid_over_sigma, dsigma_drho;
};

// sigma, log sigma and d/d(scale) pieces in long double (its range holds e^-800).
Reference reference(GaussianScale kind, long double s) {
  if (kind == GaussianScale::sigma) return {s, std::log(s), 1 / s, 1};
  const long double sigma = std::log1p(std::exp(s)), sigmoid = 1 / (1 + std::exp(-s));
  return {sigma, std::log(sigma), sigmoid / sigma, sigmoid};
}

TEST_CASE_TEMPLATE("gaussian_kl: the sum of the per-element KLs, summed in a fixed order", T, float, double) {
  const double eps = std::numeric_limits<T>::epsilon();
  for (const auto& c : cases::gaussian_kl_cases()) {
    for (int64_t n : cases::test_gaussian_sizes()) {
      CAPTURE(c.name);
      CAPTURE(n);
      const auto mu = values<T>(n, 1 + n, -2, 2), s = scales<T>(c, n, 2 + n), sigma = sigmas(c.scale, s);
      T got = T(-1);
      cpu::gaussian_kl<T>(c.scale, mu.data(), sigma.data(), s.data(), &got, n, c.prior_sigma);
      const long double p2 = static_cast<long double>(c.prior_sigma) * c.prior_sigma;
      long double want = 0, magnitude = 0;
      for (int64_t i = 0; i < n; ++i) {
        const Reference r = reference(c.scale, s[i]);
        const long double quad = (r.sigma * r.sigma + static_cast<long double>(mu[i]) * mu[i]) / (2 * p2);
        want += quad - r.log_sigma + std::log(static_cast<long double>(c.prior_sigma)) - 0.5L;
        magnitude += quad + std::fabs(r.log_sigma) + 1;
      }
      // Each term carries a few rounding errors of T; the sum is in double; the result is cast to T.
      CHECK(std::isfinite(got));
      CHECK(std::fabs(static_cast<long double>(got) - want) <= 8 * eps * magnitude + eps * std::fabs(want));

      // The order: chunk sums of kGaussianKlChunk terms, added in chunk order; within a
      // chunk, term i goes to lane i % kGaussianKlLanes, and the lanes are added as
      // gaussian_kl_lane_total does.
      const GaussianPrior prior = gaussian_prior(c.prior_sigma);
      double total = 0;
      for (int64_t begin = 0; begin < n; begin += kGaussianKlChunk) {
        double lane[kGaussianKlLanes] = {};
        for (int64_t i = begin; i < std::min(n, begin + kGaussianKlChunk); ++i)
          lane[(i - begin) % kGaussianKlLanes] +=
              c.scale == GaussianScale::rho
                  ? gaussian_kl_term<GaussianScale::rho>(mu[i], sigma[i], s[i], prior.inv_p2)
                  : gaussian_kl_term<GaussianScale::sigma>(mu[i], sigma[i], T(0), prior.inv_p2);
        total += ((lane[0] + lane[1]) + (lane[2] + lane[3])) + ((lane[4] + lane[5]) + (lane[6] + lane[7]));
      }
      CHECK(got == static_cast<T>(total + static_cast<double>(n) * prior.per_element));
    }
  }
}

TEST_CASE_TEMPLATE("gaussian_kl_backward: dmu = g mu / p^2 and the scale gradient, finite in the tails", T,
                   float, double) {
  const double eps = std::numeric_limits<T>::epsilon();
  const T g = T(0.625);
  for (const auto& c : cases::gaussian_kl_cases()) {
    for (int64_t n : cases::test_gaussian_sizes()) {
      CAPTURE(c.name);
      CAPTURE(n);
      const auto mu = values<T>(n, 3 + n, -2, 2), s = scales<T>(c, n, 4 + n), sigma = sigmas(c.scale, s);
      std::vector<T> dmu(n), ds(n), ds_alone(n);
      cpu::gaussian_kl_backward<T>(c.scale, mu.data(), sigma.data(), s.data(), nullptr, &g, dmu.data(), ds.data(),
                                   n, c.prior_sigma);
      cpu::gaussian_kl_backward<T>(c.scale, mu.data(), sigma.data(), s.data(), nullptr, &g, nullptr,
                                   ds_alone.data(), n, c.prior_sigma);
      CHECK(ds_alone == ds);  // a gradient nobody wants is skipped, the other unchanged
      if (c.scale == GaussianScale::rho) {
        // sigmoid(rho) handed over from softplus_and_slope: the same bits as computing it.
        std::vector<T> sigma_again(n), slope(n), ds_slope(n);
        cpu::softplus_and_slope<T>(s.data(), sigma_again.data(), slope.data(), n);
        CHECK(sigma_again == sigma);
        cpu::gaussian_kl_backward<T>(c.scale, mu.data(), sigma.data(), s.data(), slope.data(), &g, nullptr,
                                     ds_slope.data(), n, c.prior_sigma);
        CHECK(ds_slope == ds);
      }
      const long double p2 = static_cast<long double>(c.prior_sigma) * c.prior_sigma;
      for (int64_t i = 0; i < n; ++i) {
        CAPTURE(s[i]);
        const long double want_mu = g * static_cast<long double>(mu[i]) / p2;
        REQUIRE(std::fabs(dmu[i] - want_mu) <= 4 * eps * std::fabs(want_mu));
        // g (sigma / p^2 - 1 / sigma) dsigma/dscale, as the two terms whose errors add up.
        const Reference r = reference(c.scale, s[i]);
        const long double pull = g * r.sigma * r.dsigma_drho / p2, push = g * r.sigmoid_over_sigma;
        REQUIRE(std::isfinite(ds[i]));
        REQUIRE(std::fabs(ds[i] - (pull - push)) <= 8 * eps * (std::fabs(pull) + std::fabs(push)));
      }
    }
  }
}

TEST_CASE_TEMPLATE("gaussian_kl: an empty tensor sums to 0", T, float, double) {
  T got = T(-1);
  cpu::gaussian_kl<T>(GaussianScale::rho, nullptr, nullptr, nullptr, &got, 0, 0.5);
  CHECK(got == T(0));
}

TEST_CASE_TEMPLATE("gaussian_sample: mu + sigma * eps, the same bits as the unfused product and sum", T,
                   float, double) {
  for (int64_t n : cases::test_gaussian_sizes()) {
    CAPTURE(n);
    const auto mu = values<T>(n, 5, -1, 1), sigma = values<T>(n, 6, 0, 0.2), eps = values<T>(n, 7, -3, 3);
    std::vector<T> w(n);
    cpu::gaussian_sample<T>(mu.data(), sigma.data(), eps.data(), w.data(), n);
    for (int64_t i = 0; i < n; ++i) {
      const T product = sigma[i] * eps[i];
      REQUIRE(w[i] == mu[i] + product);
    }
  }
}

TEST_CASE_TEMPLATE("softplus_and_slope: the same bits as softplus_of and sigmoid_of, tails included", T, float,
                   double) {
  for (int64_t n : cases::test_gaussian_sizes()) {
    CAPTURE(n);
    auto rho = values<T>(n, 8, -30, 30);
    for (int64_t i = 0; i < n; i += 7) rho[i] = static_cast<T>(cases::test_rho_tails()[(i / 7) % 10]);
    std::vector<T> sigma(n), slope(n);
    cpu::softplus_and_slope<T>(rho.data(), sigma.data(), slope.data(), n);
    for (int64_t i = 0; i < n; ++i) {
      CAPTURE(rho[i]);
      REQUIRE(sigma[i] == softplus_of(rho[i]));
      REQUIRE(slope[i] == sigmoid_of(rho[i]));
    }
  }
  const T at_zero[1] = {T(0)};
  T sigma = 0, slope = 0;
  cpu::softplus_and_slope<T>(at_zero, &sigma, &slope, 1);
  CHECK(sigma == doctest::Approx(std::log(2.0)));
  CHECK(slope == T(0.5));
}

}  // namespace
