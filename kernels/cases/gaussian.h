#pragma once
// Cases of the fused mean-field Gaussian kernels (kernels/{cpu,cuda}/gaussian.h): the KL
// of N(mu, softplus(rho)^2) or N(mu, sigma^2) to N(0, p^2), its backward, and the draw
// mu + sigma * eps. See sizes.h.
#include <cstdint>
#include <vector>

#include "r2g2/kernels/cases/sizes.h"
#include "r2g2/kernels/gaussian_math.h"

namespace r2g2::kernels::cases {

struct GaussianKlCase {
  GaussianScale scale;
  const char* name;
  double lo, hi;  // the range of the scale parameter (rho, or sigma > 0)
  double prior_sigma;
};

// Both parameterisations. The rho range crosses 0 and -20 (where log softplus switches
// form); the test inputs add far tails on top (test_rho_tails).
inline const std::vector<GaussianKlCase>& gaussian_kl_cases() {
  static const std::vector<GaussianKlCase> c{{GaussianScale::rho, "rho", -25, 4, 0.5},
                                             {GaussianScale::sigma, "sigma", 0.01, 3, 1.0}};
  return c;
}

// rho values where softplus underflows (float32 below -104, float64 below -745) or is
// rho itself to the last bit: the KL and its gradient must stay finite there.
inline const std::vector<double>& test_rho_tails() {
  static const std::vector<double> r{-800, -200, -104.5, -30, -20, -19.99, 0, 20, 40, 100};
  return r;
}

// Flat test sizes: the awkward ones, 0, and sizes spanning several fixed KL chunks.
inline std::vector<int64_t> test_gaussian_sizes() {
  std::vector<int64_t> n = with_empty(awkward_sizes());
  n.push_back(3 * kGaussianKlChunk + 5);
  n.push_back(9000);
  return n;
}

// The weight and bias counts of the paper's Bayesian MLP (784-1024-1024-10), the sizes a
// training step runs these kernels at, then the generic timing sizes.
inline std::vector<int64_t> perf_gaussian_sizes(int64_t large) {
  std::vector<int64_t> n{784 * 1024, 1024 * 1024, 1024 * 10};
  for (int64_t s : perf_sizes(large)) n.push_back(s);
  return n;
}

}  // namespace r2g2::kernels::cases
