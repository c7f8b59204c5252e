#pragma once
// Running per-coordinate mean and variance of a gradient over independent draws
// (Welford, float64): what `r2g2 variance` reports and what the statistical tests judge.
#include <cmath>
#include <cstdint>
#include <vector>

namespace r2g2 {

struct Moments {
  int64_t n = 0;
  std::vector<double> mean, m2;

  void add(const std::vector<double>& v) {
    if (mean.empty()) {
      mean.assign(v.size(), 0.0);
      m2.assign(v.size(), 0.0);
    }
    ++n;
    for (size_t i = 0; i < v.size(); ++i) {
      const double d = v[i] - mean[i];
      mean[i] += d / static_cast<double>(n);
      m2[i] += d * (v[i] - mean[i]);
    }
  }
  // Unbiased sample variance of coordinate i, and the standard error of its mean.
  double var(size_t i) const { return n > 1 ? m2[i] / static_cast<double>(n - 1) : 0.0; }
  double se(size_t i) const { return std::sqrt(var(i) / static_cast<double>(n)); }
  // Averages over coordinates.
  double mean_var() const {
    double s = 0;
    for (size_t i = 0; i < mean.size(); ++i) s += var(i);
    return mean.empty() ? 0.0 : s / static_cast<double>(mean.size());
  }
  double mean_abs() const {
    double s = 0;
    for (double m : mean) s += std::abs(m);
    return mean.empty() ? 0.0 : s / static_cast<double>(mean.size());
  }
};

}  // namespace r2g2
