// BayesConv2d: parameters, KL, forward modes, estimators (incl. switching and the LRT
// refusal), stride and padding.
#include <doctest/doctest.h>

#include <cmath>
#include <string>

#include "r2g2/core/autograd.h"
#include "r2g2/estimators/conv/conv_estimators.h"
#include "r2g2/layers/bayes_conv2d.h"
#include "test_util.h"

using namespace r2g2;
using r2g2::test::closeness;
using r2g2::test::uniform;

namespace {

BayesConv2dOptions f64_options(const std::string& estimator = "rt", int stride = 1, int padding = 0) {
  BayesConv2dOptions o;
  o.dtype = DType::f64;
  o.estimator = estimator;
  o.stride = stride;
  o.padding = padding;
  o.rho_init = -1.0;
  o.rho_init_std = 0.3;
  o.seed = 5;
  return o;
}

// A non-zero bias, so that tests see whether it is added.
void set_bias(BayesConv2d& layer) {
  NoGrad no_grad;
  layer.bias.copy_(uniform(layer.bias.shape(), 99, -1, 1));
}

}  // namespace

TEST_CASE("BayesConv2d: parameters, initial sigma and description") {
  BayesConv2dOptions o = f64_options();
  o.rho_init_std = 0;
  BayesConv2d layer(3, 4, 3, o);
  auto named = layer.named_parameters();
  REQUIRE(named.size() == 3);
  CHECK(named[0].first == "mu");
  CHECK(named[1].first == "rho");
  CHECK(named[2].first == "bias");
  CHECK(layer.mu.shape() == Shape{4, 3, 3, 3});
  CHECK(layer.rho.shape() == Shape{4, 3, 3, 3});
  CHECK(layer.bias.shape() == Shape{4});
  CHECK(layer.parameter_count() == 2 * 108 + 4);
  for (double s : layer.sigma().to_vector()) CHECK(s == doctest::Approx(std::log1p(std::exp(-1.0))));
  // He initialisation: variance 2 / fan_in = 2 / 27.
  double var = 0;
  for (double m : layer.mu.to_vector()) var += m * m / 108;
  CHECK(var == doctest::Approx(2.0 / 27).epsilon(0.35));
  CHECK(layer.describe().find("estimator rt") != std::string::npos);
  BayesConv2dOptions nb = f64_options();
  nb.bias = false;
  CHECK(BayesConv2d(3, 4, 3, nb).named_parameters().size() == 2);
  CHECK_THROWS_WITH_AS(BayesConv2d(0, 4, 3, o), doctest::Contains("positive"), Error);
  o.prior_sigma = 0;
  CHECK_THROWS_WITH_AS(BayesConv2d(3, 4, 3, o), doctest::Contains("prior"), Error);
}

TEST_CASE("BayesConv2d: KL summed over the kernel weights, with its gradient") {
  BayesConv2dOptions o = f64_options();
  o.prior_sigma = 0.7;
  BayesConv2d layer(2, 3, 3, o);
  set_bias(layer);
  const double p = 0.7;
  auto mu = layer.mu.to_vector(), sigma = layer.sigma().to_vector(), rho = layer.rho.to_vector();
  double expect = 0;
  for (size_t i = 0; i < mu.size(); ++i)
    expect += std::log(p / sigma[i]) + (sigma[i] * sigma[i] + mu[i] * mu[i]) / (2 * p * p) - 0.5;
  Tensor kl = layer.kl();
  CHECK(kl.item() == doctest::Approx(expect).epsilon(1e-12));
  backward(kl);
  auto gmu = layer.mu.grad().to_vector(), grho = layer.rho.grad().to_vector();
  for (size_t i = 0; i < mu.size(); ++i) {
    CHECK(gmu[i] == doctest::Approx(mu[i] / (p * p)).epsilon(1e-10));
    const double dsigma = sigma[i] / (p * p) - 1 / sigma[i];
    CHECK(grho[i] == doctest::Approx(dsigma / (1 + std::exp(-rho[i]))).epsilon(1e-10));
  }
  CHECK(!layer.bias.grad().defined());  // the bias is not in the KL
}

TEST_CASE("BayesConv2d: forward modes") {
  for (auto mode : {std::pair{1, 0}, std::pair{2, 1}, std::pair{1, 2}}) {
    const int stride = mode.first, padding = mode.second;
    CAPTURE(stride);
    CAPTURE(padding);
    BayesConv2d layer(2, 3, 3, f64_options("rt", stride, padding));
    set_bias(layer);
    Tensor x = uniform({2, 2, 6, 6}, 3, -1, 1);
    const int64_t oh = (6 + 2 * padding - 3) / stride + 1;
    const Conv2dParams p{stride, padding};
    Tensor bias4 = reshape(layer.bias, {1, 3, 1, 1});
    // train: the estimator plus the bias, the same draw as calling the estimator directly.
    Generator g1(8), g2(8);
    Tensor h = layer.forward(x, g1);
    CHECK(h.shape() == Shape{2, 3, oh, oh});
    Tensor expect = add(conv_est::rt(x, layer.mu, layer.sigma(), p, g2), bias4);
    CHECK(h.to_vector() == expect.to_vector());
    CHECK(g1.offset == g2.offset);
    // eval, mean: deterministic conv(x, mu) + bias; no draw.
    layer.eval();
    CHECK(layer.mode() == BayesMode::mean);
    Generator g3(8);
    Tensor m = layer.forward(x, g3);
    CHECK(g3.offset == 0);
    CHECK(closeness(m, add(conv2d(x, layer.mu, {}, p), bias4), 1e-12, 1e-12) <= 1);
    // eval, sample: one fresh kernel draw per forward.
    layer.set_eval_mode(BayesMode::sample);
    Generator g4(8);
    Tensor s1 = layer.forward(x, g4), s2 = layer.forward(x, g4);
    Tensor eps = Tensor::randn(layer.mu.shape(), 8, 0, DType::f64);
    CHECK(closeness(s1, conv2d(x, add(layer.mu, mul(layer.sigma(), eps)), layer.bias, p), 1e-12, 1e-12) <= 1);
    CHECK(closeness(s1, s2, 1e-3, 1e-3) > 1);
    layer.train();
    CHECK(layer.mode() == BayesMode::train);
  }
}

TEST_CASE("BayesConv2d: estimators by name, switched mid-training; r2g2 reports its solve") {
  BayesConv2d layer(3, 4, 3, f64_options("rt", 1, 1));
  set_bias(layer);
  Tensor x = uniform({2, 3, 4, 4}, 4, -1, 1);
  Generator g_rt(3);
  Tensor h_rt = layer.forward(x, g_rt);
  layer.set_estimator("r2g2");
  CHECK(layer.describe().find("estimator r2g2") != std::string::npos);
  Generator g_r2(3);
  Tensor h_r2 = layer.forward(x, g_r2);
  CHECK(h_r2.to_vector() == h_rt.to_vector());  // same noise, same forward
  backward(sum(square(h_r2)));
  auto diag = layer.estimator().diagnostics();
  REQUIRE(diag.has_value());
  CHECK(diag->systems == 2 * 4);
  CHECK(diag->max_iterations <= 16);  // rank bound min(P = 16, D = 27)
  // The bias gradient is the plain sum of the upstream gradient.
  Tensor g = mul(h_r2.detach(), 2.0);
  CHECK(closeness(layer.bias.grad(), sum(g, {0, 2, 3}), 1e-10, 1e-10) <= 1);
  CHECK(layer.mu.grad().defined());
  CHECK(layer.rho.grad().defined());
  for (const char* name : {"rt-per-example", "flipout", "r2g2-paper"}) {
    CAPTURE(name);
    layer.set_estimator(name);
    layer.zero_grad();
    Generator gen(1);
    Tensor h = layer.forward(x, gen);
    CHECK(h.shape() == Shape{2, 4, 4, 4});
    backward(sum(h));
    CHECK(layer.rho.grad().defined());
  }
}

TEST_CASE("BayesConv2d: LRT is refused on a convolution with a reason; bad inputs name shapes") {
  BayesConv2d layer(3, 4, 3, f64_options("lrt"));
  Generator gen(0);
  Tensor x = uniform({2, 3, 5, 5}, 4, -1, 1);
  CHECK_THROWS_WITH_AS(layer.forward(x, gen), doctest::Contains("conv"), Error);
  CHECK_THROWS_WITH_AS(layer.forward(x, gen), doctest::Contains("diagonal"), Error);
  layer.eval();  // the mean forward needs no estimator
  CHECK(layer.forward(x, gen).shape() == Shape{2, 4, 3, 3});
  CHECK_THROWS_WITH_AS(layer.forward(uniform({2, 2, 5, 5}, 4), gen), doctest::Contains("[2, 2, 5, 5]"),
                       Error);
  CHECK_THROWS_WITH_AS(layer.forward(uniform({2, 3, 2, 2}, 4), gen), doctest::Contains("output size"), Error);
  CHECK_THROWS_AS(layer.set_estimator("no-such-estimator"), Error);
}
