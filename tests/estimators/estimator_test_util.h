#pragma once
// Helpers shared by the estimator, statistics and GPU suites: a Bayesian linear and a
// latent -> linear problem, one forward/backward through an estimator, and running
// moments of gradient draws.
#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "r2g2/core/autograd.h"
#include "r2g2/core/ops.h"
#include "r2g2/core/random.h"
#include "r2g2/estimators/estimator.h"
#include "r2g2/estimators/moments.h"
#include "test_util.h"

namespace r2g2::test {

// The tensors of a Bayesian linear call. sigma is a leaf here (the layer's softplus is
// tested in the layer suite), so gradients are with respect to sigma itself.
struct LinearProblem {
  Tensor x, mu, sigma, bias_mu, bias_sigma;
  std::vector<Tensor> leaves() const { return {x, mu, sigma, bias_mu, bias_sigma}; }
};

inline LinearProblem make_linear_problem(int64_t N, int64_t in, int64_t out, uint64_t seed,
                                         DType dt = DType::f64, bool bias = true, double x_lo = -1.0,
                                         double sigma_lo = 0.2, double sigma_hi = 0.6) {
  LinearProblem p;
  p.x = uniform({N, in}, seed, x_lo, 1.0, dt);
  p.mu = uniform({out, in}, seed + 1, -0.5, 0.5, dt);
  p.sigma = uniform({out, in}, seed + 2, sigma_lo, sigma_hi, dt);
  if (bias) {
    p.bias_mu = uniform({out}, seed + 3, -0.5, 0.5, dt);
    p.bias_sigma = uniform({out}, seed + 4, sigma_lo, sigma_hi, dt);
  }
  for (auto* t : {&p.x, &p.mu, &p.sigma, &p.bias_mu, &p.bias_sigma})
    if (t->defined()) t->requires_grad_(true);
  return p;
}

// Quadratic loss 0.5 sum_{n,i} c_i h_ni^2 + sum_{n,i} a_ni h_ni: its expectation under any
// estimator's (per-example correct) marginals has a closed-form gradient.
struct QuadraticLoss {
  Tensor c;  // [out]
  Tensor a;  // [N, out]
  Tensor operator()(const Tensor& h) const { return add(mul(sum(mul(square(h), c)), 0.5), sum(mul(h, a))); }
};

inline QuadraticLoss make_quadratic_loss(int64_t N, int64_t out, uint64_t seed, DType dt = DType::f64) {
  return {uniform({out}, seed, 0.5, 1.5, dt), uniform({N, out}, seed + 1, -1.0, 1.0, dt)};
}

// One draw: zero the gradients, forward through `est`, add the score surrogate when the
// estimator needs one, backward. Returns h.
inline Tensor linear_draw(Estimator& est, const LinearProblem& p, Generator& gen,
                          const std::function<Tensor(const Tensor&)>& loss_fn) {
  for (auto t : p.leaves())
    if (t.defined()) t.zero_grad();
  Tensor h = est.linear(p.x, p.mu, p.sigma, p.bias_mu, p.bias_sigma, gen);
  Tensor loss = loss_fn(h);
  if (est.needs_surrogate()) {
    Tensor s = est.score_surrogate(loss);
    if (s.defined()) loss = add(loss, sub(s, s.detach()));
  }
  backward(loss);
  return h;
}

// Flattened gradients of the leaves, in leaves() order (x, mu, sigma, bias_mu, bias_sigma).
inline std::vector<double> flat_grads(const std::vector<Tensor>& leaves) {
  std::vector<double> out;
  for (const auto& t : leaves) {
    if (!t.defined()) continue;
    auto g =
        t.grad().defined() ? t.grad().to_vector() : std::vector<double>(static_cast<size_t>(t.numel()), 0.0);
    out.insert(out.end(), g.begin(), g.end());
  }
  return out;
}

using r2g2::Moments;  // estimators/moments.h

// Largest |a_i - b_i| / (rtol * max_j |b_j| + tiny): a relative comparison scaled by the
// vector's magnitude, so that coordinates near 0 do not dominate through rounding.
inline double rel_to_max(const std::vector<double>& a, const std::vector<double>& b) {
  double bmax = 0, worst = 0;
  for (double v : b) bmax = std::max(bmax, std::abs(v));
  if (a.size() != b.size()) return INFINITY;
  for (size_t i = 0; i < a.size(); ++i) {
    if (!std::isfinite(a[i])) return INFINITY;
    worst = std::max(worst, std::abs(a[i] - b[i]));
  }
  return worst / (bmax > 0 ? bmax : 1.0);
}

}  // namespace r2g2::test
