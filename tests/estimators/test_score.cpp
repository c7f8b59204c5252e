// The score-function estimator on one draw: the surrogate delivers loss * dlog q, the
// pathwise gradient to mu/sigma is blocked, the input still gets its pathwise gradient.
#include <doctest/doctest.h>

#include "estimators/estimator_test_util.h"

using namespace r2g2;

TEST_CASE("score on linear: dmu = L eps / sigma, dsigma = L (eps^2 - 1) / sigma, dx pathwise") {
  auto p = test::make_linear_problem(3, 4, 2, 71);
  auto loss = test::make_quadratic_loss(3, 2, 72);
  auto est = make_estimator("score");
  Generator gen(6);
  Tensor h = est->linear(p.x, p.mu, p.sigma, p.bias_mu, p.bias_sigma, gen);
  Tensor L = loss(h);
  Tensor s = est->score_surrogate(L);
  REQUIRE(s.defined());
  CHECK_FALSE(est->score_surrogate(L).defined());  // the draws are consumed once
  Tensor total = add(L, sub(s, s.detach()));
  CHECK(total.item() == doctest::Approx(L.item()).epsilon(1e-14));
  backward(total);
  const double Lv = L.item();
  NoGrad ng;
  Tensor E = Tensor::randn({2, 4}, 6, 0, DType::f64), eb = Tensor::randn({2}, 6, 8, DType::f64);
  CHECK(test::closeness(p.mu.grad(), mul(div(E, p.sigma), Lv), 1e-10, 1e-12) <= 1.0);
  CHECK(test::closeness(p.sigma.grad(), mul(div(add(square(E), -1.0), p.sigma), Lv), 1e-10, 1e-12) <= 1.0);
  CHECK(test::closeness(p.bias_mu.grad(), mul(div(eb, p.bias_sigma), Lv), 1e-10, 1e-12) <= 1.0);
  CHECK(test::closeness(p.bias_sigma.grad(), mul(div(add(square(eb), -1.0), p.bias_sigma), Lv), 1e-10,
                        1e-12) <= 1.0);
  Tensor W = add(p.mu, mul(p.sigma, E));
  Tensor g = add(mul(h, loss.c), loss.a);
  CHECK(test::closeness(p.x.grad(), matmul(g, W), 1e-10, 1e-12) <= 1.0);
}

TEST_CASE("score on a latent: surrogate gradient to mu/sigma, pathwise gradient to W") {
  Tensor mu = test::uniform({3, 4}, 1).requires_grad_(true),
         sigma = test::uniform({3, 4}, 2, 0.3, 0.9).requires_grad_(true);
  Tensor W = test::uniform({5, 4}, 3).requires_grad_(true);
  auto est = make_estimator("score");
  Generator gen(8);
  Tensor h = est->latent_linear(mu, sigma, W, Tensor(), gen);
  Tensor L = sum(square(h));
  Tensor s = est->score_surrogate(L);
  backward(add(L, sub(s, s.detach())));
  NoGrad ng;
  Tensor eps = Tensor::randn({3, 4}, 8, 0, DType::f64);
  Tensor z = add(mu, mul(sigma, eps));
  const double Lv = L.item();
  CHECK(test::closeness(mu.grad(), mul(div(eps, sigma), Lv), 1e-10, 1e-12) <= 1.0);
  CHECK(test::closeness(sigma.grad(), mul(div(add(square(eps), -1.0), sigma), Lv), 1e-10, 1e-12) <= 1.0);
  CHECK(test::closeness(W.grad(), matmul(mul(h, 2.0).t(), z), 1e-10, 1e-12) <= 1.0);
}

TEST_CASE("pathwise estimators return no surrogate") {
  auto p = test::make_linear_problem(2, 3, 2, 81);
  for (const char* name : {"rt", "lrt", "flipout", "r2g2"}) {
    auto est = make_estimator(name);
    Generator gen(1);
    Tensor h = est->linear(p.x, p.mu, p.sigma, p.bias_mu, p.bias_sigma, gen);
    CHECK_FALSE(est->score_surrogate(sum(h)).defined());
  }
}
