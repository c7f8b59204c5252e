// The fused KL and weight-draw nodes (layers/bayes_module.h, layers/gaussian_weight.h)
// against the same quantities composed from plain ops, in float32 and float64: values and
// gradients agree to rounding, and the KL is one node on the tape.
#include <doctest/doctest.h>

#include <cmath>
#include <sstream>

#include "r2g2/core/autograd.h"
#include "r2g2/core/ops.h"
#include "r2g2/layers/bayes_module.h"
#include "r2g2/layers/gaussian_weight.h"
#include "test_util.h"

using namespace r2g2;
using r2g2::test::closeness;
using r2g2::test::uniform;

namespace {

// The KL as separate ops: sum(-log_softplus(rho)) + sum(sigma^2 + mu^2) / (2 p^2) + n (log p - 1/2).
Tensor composed_kl(const Tensor& mu, const Tensor& rho, double p) {
  Tensor sigma = softplus(rho);
  Tensor quad = mul(add(sum(square(sigma)), sum(square(mu))), 0.5 / (p * p));
  return add(sub(quad, sum(log_softplus(rho))), static_cast<double>(mu.numel()) * (std::log(p) - 0.5));
}

struct KlAndGrads {
  double kl;
  Tensor dmu, drho;
};

template <class F>
KlAndGrads run_kl(F kl_of, DType dtype, uint64_t seed) {
  Tensor mu = uniform({37, 29}, seed, -1, 1, dtype).requires_grad_();
  Tensor rho = uniform({37, 29}, seed + 1, -8, 2, dtype).requires_grad_();
  Tensor kl = kl_of(mu, rho);
  backward(mul(kl, 0.3));
  return {kl.item(), mu.grad(), rho.grad()};
}

}  // namespace

TEST_CASE("the fused KL equals the KL composed of plain ops, value and gradient") {
  for (DType dtype : {DType::f32, DType::f64}) {
    CAPTURE(dtype_name(dtype));
    // float32: each composed op rounds its three sums and their combination to float32
    // (relative error ~1e-7 of the largest partial sum, ~1e4 here), the fused op once.
    const double rtol = dtype == DType::f32 ? 1e-5 : 1e-12;
    for (double p : {0.1, 1.0}) {
      CAPTURE(p);
      const KlAndGrads fused = run_kl(
          [p](const Tensor& mu, const Tensor& rho) { return kl_to_zero_mean_gaussian_rho(mu, rho, p); },
          dtype, 5);
      const KlAndGrads composed =
          run_kl([p](const Tensor& mu, const Tensor& rho) { return composed_kl(mu, rho, p); }, dtype, 5);
      CHECK(fused.kl == doctest::Approx(composed.kl).epsilon(rtol));
      CHECK(closeness(fused.dmu, composed.dmu, rtol, 0) <= 1.0);
      // drho = 0.3 (sigma / p^2 - 1 / sigma) sigmoid(rho): two terms that can cancel, so
      // the absolute tolerance is their size (at most 0.3 (e^2 / p^2 + 1)).
      CHECK(closeness(fused.drho, composed.drho, rtol, rtol * 0.3 * (8 / (p * p) + 1)) <= 1.0);
    }
  }
}

TEST_CASE("the fused KL with sigma given: value and gradient against central differences") {
  auto f = [](const std::vector<Tensor>& in) { return kl_to_zero_mean_gaussian(in[0], in[1], 0.7); };
  CHECK(test::gradcheck(f, {uniform({4, 3}, 1), uniform({4, 3}, 2, 0.1, 2.0)}) <= 1.0);
  auto g = [](const std::vector<Tensor>& in) { return kl_to_zero_mean_gaussian_rho(in[0], in[1], 0.7); };
  CHECK(test::gradcheck(g, {uniform({5, 2}, 3), uniform({5, 2}, 4, -25, 3)}) <= 1.0);
}

TEST_CASE("the fused KL is one tape node, and its errors name what is wrong") {
  Tensor mu = uniform({3, 2}, 6).requires_grad_(), rho = uniform({3, 2}, 7).requires_grad_();
  std::ostringstream tape;
  print_tape(tape, kl_to_zero_mean_gaussian_rho(mu, rho, 1.0));
  CHECK(tape.str().find("gaussian_kl") != std::string::npos);
  CHECK(tape.str().find("square") == std::string::npos);
  CHECK_THROWS_WITH_AS(kl_to_zero_mean_gaussian_rho(mu, uniform({2, 3}, 8), 1.0), doctest::Contains("[3, 2]"),
                       Error);
  CHECK_THROWS_WITH_AS(kl_to_zero_mean_gaussian_rho(mu, uniform({3, 2}, 8, -1, 1, DType::f32), 1.0),
                       doctest::Contains("float32"), Error);
  CHECK_THROWS_WITH_AS(kl_to_zero_mean_gaussian_rho(mu, rho, 0.0), doctest::Contains("must be > 0"), Error);
}

TEST_CASE("GaussianWeight::sample is one node: gradient g to mu and g * eps to sigma") {
  for (DType dtype : {DType::f32, DType::f64}) {
    GaussianWeight w(uniform({4, 3}, 1, -1, 1, dtype), 7, 0, {.prior_sigma = 1.0, .rho_init = -2.0}, "Test");
    w.mu.requires_grad_();
    w.rho.requires_grad_();
    Generator gen(11);
    Tensor sigma = w.sigma();
    Tensor draw = w.sample(sigma, gen);
    Tensor eps = Tensor::randn({4, 3}, 11, 0, dtype);
    CHECK(draw.to_vector() == add(w.mu, mul(sigma, eps)).to_vector());
    Tensor weights = uniform({4, 3}, 9, -1, 1, dtype);
    backward(sum(mul(draw, weights)));
    CHECK(w.mu.grad().to_vector() == weights.to_vector());
    // d/drho = weights * eps * sigmoid(rho), through softplus's own backward.
    CHECK(closeness(w.rho.grad(), mul(mul(weights, eps), sigmoid(w.rho)), 1e-6, 0) <= 1.0);
  }
}
