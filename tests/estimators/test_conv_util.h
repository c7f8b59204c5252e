#pragma once
// Random conv problems and comparisons shared by the conv estimator tests
// (tests/estimators/test_conv_*.cpp, tests/stats/test_stats_conv*.cpp).
#include <algorithm>
#include <cmath>
#include <vector>

#include "r2g2/core/ops.h"
#include "r2g2/core/random.h"
#include "test_util.h"

namespace r2g2::test::conv {

// One R2-G2 conv problem in the solver's shapes: cols [N, D, P], sigma and eps [O, D].
struct Problem {
  Tensor x, cols, sigma, eps;
  int64_t n = 0, o = 0, d = 0, p = 0;
};

// x uniform in [-1, 1) [N, C, H, W]; `zero_outside` > 0 keeps only the top-left
// zero_outside x zero_outside corner of every image non-zero (patches elsewhere are all zero,
// like MNIST borders). sigma uniform in [0.2, 1.5), eps standard normal.
inline Problem make_problem(int64_t n, int64_t c, int64_t hw, int64_t o, int k, Conv2dParams p, uint64_t seed,
                            DType dt = DType::f64, int64_t zero_outside = 0) {
  Problem pr;
  Tensor x = uniform({n, c, hw, hw}, seed, -1.0, 1.0);
  if (zero_outside > 0) {
    auto v = x.to_vector();
    for (int64_t i = 0; i < n * c; ++i)
      for (int64_t r = 0; r < hw; ++r)
        for (int64_t s = 0; s < hw; ++s)
          if (r >= zero_outside || s >= zero_outside) v[(i * hw + r) * hw + s] = 0.0;
    x = Tensor::from_vector(v, x.shape(), DType::f64);
  }
  pr.x = x.to(dt);
  pr.cols = im2col(pr.x, k, k, p);
  pr.n = n;
  pr.o = o;
  pr.d = pr.cols.shape()[1];
  pr.p = pr.cols.shape()[2];
  pr.sigma = uniform({o, pr.d}, seed + 101, 0.2, 1.5).to(dt);
  pr.eps = Tensor::randn({o, pr.d}, seed + 202, 0, dt);
  return pr;
}

// Largest over systems of |a_s - b_s| / |b_s| for a, b [N, O, D]; a system where b_s = 0
// counts |a_s| / (mean |b| over systems) instead.
inline double max_system_rel_err(const Tensor& a, const Tensor& b) {
  auto va = a.to_vector(), vb = b.to_vector();
  const int64_t d = a.shape().back();
  const int64_t systems = static_cast<int64_t>(va.size()) / d;
  std::vector<double> diff(systems), norm(systems);
  double mean_norm = 0;
  for (int64_t s = 0; s < systems; ++s) {
    double dd = 0, nn = 0;
    for (int64_t i = 0; i < d; ++i) {
      const double e = va[s * d + i] - vb[s * d + i];
      dd += e * e;
      nn += vb[s * d + i] * vb[s * d + i];
    }
    diff[s] = std::sqrt(dd);
    norm[s] = std::sqrt(nn);
    mean_norm += norm[s] / static_cast<double>(systems);
  }
  double worst = 0;
  for (int64_t s = 0; s < systems; ++s)
    worst = std::max(worst, diff[s] / (norm[s] > 0 ? norm[s] : std::max(mean_norm, 1e-300)));
  return worst;
}

}  // namespace r2g2::test::conv
