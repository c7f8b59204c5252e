// Statistical properties of the conv estimators over many draws (fixed seeds):
// unbiasedness against the analytic gradient of the expected loss, R2-G2 against RT on
// the same noise, and the variance order RT >= R2-G2.
//
// The loss is L = ½ Σ (h - t)², whose expectation under w ~ N(mu, sigma²) is analytic:
//   E L = ½ Σ (conv(x, mu) - t)² + ½ Σ conv(x², sigma²)
// (Var h = Σ_d sigma_d² X_d² per output, for every estimator's sampling scheme), so
// autodiff of that expression gives the exact expected gradient for x, mu and sigma.
//
// Tolerance: each coordinate's mean over S draws must lie within 5 standard errors of
// the target (SE from the same draws). Over the ~200 coordinates per estimator a correct
// estimator fails a coordinate with probability ~1e-4 (union bound). The mean of z² over
// coordinates is ≈ 1 when unbiased but fluctuates like a χ² with as many degrees of
// freedom as there are independent normals behind the gradients (16 to 54 here, since the
// coordinates share them): sd up to sqrt(2/16) ≈ 0.35, so the bound 3 (> 5 sd) only
// catches a bias spread thinly over many coordinates. The paper's truncated CG is the
// negative control: it must fail.
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "r2g2/core/autograd.h"
#include "r2g2/estimators/conv/conv_estimators.h"
#include "test_util.h"

using namespace r2g2;
using r2g2::test::uniform;

namespace {

using ConvFn = std::function<Tensor(const Tensor&, const Tensor&, const Tensor&, Conv2dParams, Generator&)>;

struct Problem {
  Tensor x, mu, sigma, target;
  Conv2dParams p;
};

// zero_channel: channel 0 of the last image is all zero, so that image's patch matrix
// loses rank (rows of X_n vanish) and eps* differs from eps even where P > D.
Problem make(int64_t n, int64_t c, int64_t hw, int64_t o, int64_t k, Conv2dParams p, uint64_t seed,
             bool zero_channel = false) {
  Problem pr;
  pr.x = uniform({n, c, hw, hw}, seed, -1, 1);
  if (zero_channel) {
    auto v = pr.x.to_vector();
    std::fill(v.begin() + (n - 1) * c * hw * hw, v.begin() + ((n - 1) * c + 1) * hw * hw, 0.0);
    pr.x = Tensor::from_vector(v, pr.x.shape(), DType::f64);
  }
  pr.mu = uniform({o, c, k, k}, seed + 1, -0.5, 0.5);
  pr.sigma = uniform({o, c, k, k}, seed + 2, 0.3, 1.0);
  pr.p = p;
  const int64_t oh = conv_out_size(static_cast<int>(hw), static_cast<int>(k), p.stride, p.padding, "test");
  pr.target = uniform({n, o, oh, oh}, seed + 3, -1, 1);
  return pr;
}

// [x, mu, sigma] gradients flattened into one vector.
std::vector<double> flat(const Tensor& x, const Tensor& mu, const Tensor& sigma) {
  std::vector<double> v = x.to_vector();
  for (const Tensor& t : {mu, sigma}) {
    auto w = t.to_vector();
    v.insert(v.end(), w.begin(), w.end());
  }
  return v;
}

std::vector<double> expected_gradient(const Problem& pr) {
  Tensor x = pr.x.clone().requires_grad_(), mu = pr.mu.clone().requires_grad_(),
         sigma = pr.sigma.clone().requires_grad_();
  Tensor mean_part = sum(square(sub(conv2d(x, mu, {}, pr.p), pr.target)));
  Tensor var_part = sum(conv2d(square(x), square(sigma), {}, pr.p));
  backward(mul(add(mean_part, var_part), 0.5));
  return flat(x.grad(), mu.grad(), sigma.grad());
}

// One draw's gradient of L with the generator at (seed, 0).
std::vector<double> draw(const ConvFn& f, const Problem& pr, uint64_t seed) {
  Tensor x = pr.x.clone().requires_grad_(), mu = pr.mu.clone().requires_grad_(),
         sigma = pr.sigma.clone().requires_grad_();
  Generator gen(seed);
  Tensor h = f(x, mu, sigma, pr.p, gen);
  backward(mul(sum(square(sub(h, pr.target))), 0.5));
  return flat(x.grad(), mu.grad(), sigma.grad());
}

struct Moments {
  std::vector<double> mean, var;  // per coordinate; var of one draw
  int64_t draws = 0;
  double se(size_t i) const { return std::sqrt(var[i] / static_cast<double>(draws)); }
};

// Moments of f(seed) - g(seed) (g may be empty) over seeds 1..S.
Moments moments(const std::function<std::vector<double>(uint64_t)>& f, int64_t draws) {
  Moments m;
  std::vector<double> s1, s2;
  for (int64_t i = 0; i < draws; ++i) {
    auto v = f(static_cast<uint64_t>(1000 + i));
    if (s1.empty()) s1.assign(v.size(), 0.0), s2.assign(v.size(), 0.0);
    for (size_t j = 0; j < v.size(); ++j) {
      s1[j] += v[j];
      s2[j] += v[j] * v[j];
    }
  }
  m.draws = draws;
  m.mean.resize(s1.size());
  m.var.resize(s1.size());
  for (size_t j = 0; j < s1.size(); ++j) {
    m.mean[j] = s1[j] / draws;
    m.var[j] = std::max(0.0, (s2[j] - draws * m.mean[j] * m.mean[j]) / (draws - 1));
  }
  return m;
}

struct Verdict {
  double worst_z = 0, mean_z2 = 0;
};

Verdict compare(const Moments& m, const std::vector<double>& target) {
  Verdict v;
  for (size_t i = 0; i < target.size(); ++i) {
    const double z = std::abs(m.mean[i] - target[i]) / (m.se(i) + 1e-12);
    v.worst_z = std::max(v.worst_z, z);
    v.mean_z2 += z * z / static_cast<double>(target.size());
  }
  return v;
}

ConvFn r2g2_solver(R2G2Solver s, int max_iters = 10) {
  return
      [s, max_iters](const Tensor& x, const Tensor& mu, const Tensor& sigma, Conv2dParams p, Generator& gen) {
        R2G2Options o;
        o.solver = s;
        o.max_iters = max_iters;
        return conv_est::r2g2(x, mu, sigma, p, gen, o, nullptr);
      };
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

TEST_CASE("stats conv: every estimator is unbiased; R2-G2 agrees with RT on the same noise") {
  const auto t0 = std::chrono::steady_clock::now();
  struct Case {
    const char* name;
    Problem pr;
  };
  const Case cases[] = {
      {"P < D (P x P solves)", make(2, 2, 5, 3, 3, {1, 0}, 7)},        // D = 18, P = 9
      {"P > D (D x D solves)", make(2, 2, 4, 2, 2, {1, 1}, 8, true)},  // D = 8, P = 25
  };
  const int64_t S = 3000;
  for (const auto& cs : cases) {
    const std::string case_name = cs.name;
    CAPTURE(case_name);
    const Problem& pr = cs.pr;
    const auto target = expected_gradient(pr);
    for (const auto& named :
         std::vector<std::pair<std::string, ConvFn>>{{"rt", conv_est::rt},
                                                     {"rt_per_example", conv_est::rt_per_example},
                                                     {"flipout", conv_est::flipout},
                                                     {"r2g2", r2g2_solver(R2G2Solver::cg)}}) {
      const std::string& name = named.first;
      const ConvFn& f = named.second;
      CAPTURE(name);
      Verdict v = compare(moments([&, fn = f](uint64_t s) { return draw(fn, pr, s); }, S), target);
      std::printf("  %-22s %-15s worst z %.2f, mean z^2 %.2f\n", cs.name, name.c_str(), v.worst_z, v.mean_z2);
      CHECK(v.worst_z < 5);
      CHECK(v.mean_z2 < 3);
    }
    // Paired on the same noise, R2-G2 minus RT has mean zero (a far smaller standard error
    // than either alone).
    Moments diff = moments(
        [&](uint64_t s) {
          auto a = draw(r2g2_solver(R2G2Solver::cg), pr, s), b = draw(conv_est::rt, pr, s);
          for (size_t i = 0; i < a.size(); ++i) a[i] -= b[i];
          return a;
        },
        S);
    Verdict v = compare(diff, std::vector<double>(target.size(), 0.0));
    std::printf("  %-22s %-15s worst z %.2f, mean z^2 %.2f\n", cs.name, "r2g2 - rt", v.worst_z, v.mean_z2);
    CHECK(v.worst_z < 5);
    CHECK(v.mean_z2 < 3);
  }
  // Negative control (estimators/README.md, trap 2): the paper's CG truncated at one iteration is
  // biased, and this test sees it.
  {
    const Problem& pr = cases[0].pr;
    Verdict v =
        compare(moments([&](uint64_t s) { return draw(r2g2_solver(R2G2Solver::paper, 1), pr, s); }, S),
                expected_gradient(pr));
    std::printf("  %-22s %-15s worst z %.2f, mean z^2 %.2f\n", cases[0].name, "paper, 1 iter", v.worst_z,
                v.mean_z2);
    CHECK(v.worst_z > 10);
  }
  std::printf("stats conv unbiasedness: %.2f s\n", seconds_since(t0));
}

TEST_CASE("stats conv: R2-G2 variance is below RT's when P < D") {
  const auto t0 = std::chrono::steady_clock::now();
  const Problem pr = make(2, 3, 4, 3, 3, {1, 0}, 9);  // D = 27, P = 4: eps* keeps rank 4 of 27
  const int64_t S = 1500;
  Moments rt = moments([&](uint64_t s) { return draw(conv_est::rt, pr, s); }, S);
  Moments r2 = moments([&](uint64_t s) { return draw(r2g2_solver(R2G2Solver::cg), pr, s); }, S);
  const size_t nx = static_cast<size_t>(pr.x.numel()), nw = static_cast<size_t>(pr.mu.numel());
  // Coordinates: x [0, nx), mu [nx, nx + nw), sigma [nx + nw, end).
  auto mean_ratio = [&](size_t lo, size_t hi) {
    double r = 0;
    for (size_t i = lo; i < hi; ++i) r += r2.var[i] / rt.var[i];
    return r / static_cast<double>(hi - lo);
  };
  const double sigma_ratio = mean_ratio(nx + nw, nx + 2 * nw), x_ratio = mean_ratio(0, nx);
  MESSAGE("variance ratio r2g2 / rt: sigma ", sigma_ratio, ", x ", x_ratio);
  CHECK(sigma_ratio < 0.8);
  CHECK(x_ratio < 1.0);
  // Per coordinate, allowing for the sampling error of a variance estimate at S = 1500
  // (relative SE ~ sqrt(2 / S) ≈ 4%, more for heavy tails).
  for (size_t i = nx + nw; i < nx + 2 * nw; ++i) CHECK(r2.var[i] <= 1.15 * rt.var[i]);
  std::printf("stats conv variance: %.2f s\n", seconds_since(t0));
}
