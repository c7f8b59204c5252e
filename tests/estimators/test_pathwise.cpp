// For fixed noise, RT, RT-per-example, LRT and Flipout are ordinary differentiable
// functions of (x, mu, sigma, bias): their recorded backward must equal the float64
// finite-difference Jacobian. The generator is reset inside f, so every evaluation
// draws the same noise.
#include <doctest/doctest.h>

#include "estimators/estimator_test_util.h"

using namespace r2g2;

namespace {

double check_linear(const std::string& name, bool bias) {
  auto est = make_estimator(name);
  auto p = test::make_linear_problem(3, 4, 5, 11, DType::f64, bias);
  std::vector<Tensor> inputs{p.x, p.mu, p.sigma};
  if (bias) {
    inputs.push_back(p.bias_mu);
    inputs.push_back(p.bias_sigma);
  }
  auto f = [&](const std::vector<Tensor>& in) {
    Generator gen(42, 7);
    return est->linear(in[0], in[1], in[2], bias ? in[3] : Tensor(), bias ? in[4] : Tensor(), gen);
  };
  return test::gradcheck(f, inputs);
}

}  // namespace

TEST_CASE("pathwise estimators on a Bayesian linear layer match finite differences") {
  for (const char* name : {"rt", "rt-per-example", "lrt", "flipout"}) {
    CAPTURE(name);
    CHECK(check_linear(name, true) <= 1.0);
    CHECK(check_linear(name, false) <= 1.0);
  }
}

TEST_CASE("deterministic bias (bias_sigma undefined) gets its ordinary gradient") {
  for (const char* name : {"rt", "rt-per-example", "lrt", "flipout", "r2g2", "r2g2-shared"}) {
    CAPTURE(name);
    auto est = make_estimator(name);
    auto p = test::make_linear_problem(3, 4, 5, 13);
    Generator gen(3);
    Tensor h = est->linear(p.x, p.mu, p.sigma, p.bias_mu, Tensor(), gen);
    backward(sum(mul(h, test::uniform(h.shape(), 5))));
    // d/dbias_mu of sum(h . w) = column sums of w
    Tensor expected = sum(test::uniform(h.shape(), 5), {0});
    CHECK(test::closeness(p.bias_mu.grad(), expected, 1e-12, 1e-12) <= 1.0);
  }
}

TEST_CASE("rt-per-example uses an independent weight sample per example") {
  // Against an explicit per-example loop over the documented noise layout.
  auto est = make_estimator("rt-per-example");
  auto p = test::make_linear_problem(4, 6, 3, 17);
  Generator gen(9, 100);
  Tensor h = est->linear(p.x, p.mu, p.sigma, p.bias_mu, p.bias_sigma, gen);
  CHECK(gen.offset == 100 + 4 * 6 * 3 + 4 * 3);  // E [N, out, in] then eb [N, out]
  Tensor E = Tensor::randn({4, 3, 6}, 9, 100, DType::f64);
  Tensor eb = Tensor::randn({4, 3}, 9, 100 + 72, DType::f64);
  auto hv = h.to_vector();
  auto xv = p.x.to_vector(), mv = p.mu.to_vector(), sv = p.sigma.to_vector(), ev = E.to_vector();
  auto bm = p.bias_mu.to_vector(), bs = p.bias_sigma.to_vector(), ebv = eb.to_vector();
  double worst = 0;
  for (int n = 0; n < 4; ++n)
    for (int i = 0; i < 3; ++i) {
      double acc = bm[i] + bs[i] * ebv[n * 3 + i];
      for (int j = 0; j < 6; ++j)
        acc += (mv[i * 6 + j] + sv[i * 6 + j] * ev[(n * 3 + i) * 6 + j]) * xv[n * 6 + j];
      worst = std::max(worst, std::abs(acc - hv[n * 3 + i]));
    }
  CHECK(worst < 1e-12);
}

TEST_CASE("rt on a latent -> linear layer matches finite differences") {
  auto est = make_estimator("rt");
  Tensor mu = test::uniform({3, 4}, 1), sigma = test::uniform({3, 4}, 2, 0.2, 0.8);
  Tensor W = test::uniform({5, 4}, 3), b = test::uniform({5}, 4);
  auto f = [&](const std::vector<Tensor>& in) {
    Generator gen(5);
    return est->latent_linear(in[0], in[1], in[2], in[3], gen);
  };
  CHECK(test::gradcheck(f, {mu, sigma, W, b}) <= 1.0);
}

TEST_CASE("rt forward equals mu + sigma eps with eps the generator's next numbers") {
  auto p = test::make_linear_problem(2, 3, 4, 21);
  Generator gen(77, 5);
  Tensor h = make_estimator("rt")->linear(p.x, p.mu, p.sigma, p.bias_mu, p.bias_sigma, gen);
  Tensor E = Tensor::randn({4, 3}, 77, 5, DType::f64);
  Tensor eb = Tensor::randn({4}, 77, 17, DType::f64);
  NoGrad ng;
  Tensor W = add(p.mu, mul(p.sigma, E));
  Tensor expect = add(matmul(p.x, W.t()), add(p.bias_mu, mul(p.bias_sigma, eb)));
  CHECK(test::closeness(h, expect, 1e-13, 1e-13) <= 1.0);
  CHECK(gen.offset == 5 + 12 + 4);
}
