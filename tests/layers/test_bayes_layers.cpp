// Bayesian layers: KL against hand-computed values, forward modes, estimator switching,
// configuration errors, and the Module base.
#include <doctest/doctest.h>

#include <cmath>

#include "estimators/estimator_test_util.h"
#include "r2g2/layers/bayes_linear.h"
#include "r2g2/layers/latent_linear.h"
#include "r2g2/layers/linear.h"

using namespace r2g2;

TEST_CASE("KL to N(0, p^2) matches hand-computed values") {
  // Per element: log(p / sigma) + (sigma^2 + mu^2) / (2 p^2) - 1/2, p = 2:
  //   mu 0.5, sigma 1  : log 2 + 1.25 / 8 - 0.5 = 0.693147 + 0.15625 - 0.5 = 0.349397
  //   mu -1,  sigma 0.5: log 4 + 1.25 / 8 - 0.5 = 1.386294 + 0.15625 - 0.5 = 1.042544
  //   mu 0,   sigma 2  : log 1 + 4 / 8 - 0.5 = 0
  Tensor mu = Tensor::from_vector(std::vector<double>{0.5, -1.0, 0.0}, {3}, DType::f64);
  Tensor sigma = Tensor::from_vector(std::vector<double>{1.0, 0.5, 2.0}, {3}, DType::f64);
  CHECK(kl_to_zero_mean_gaussian(mu, sigma, 2.0).item() ==
        doctest::Approx(1.3919415416798357).epsilon(1e-14));
  // q = prior: KL = 0
  CHECK(std::abs(
            kl_to_zero_mean_gaussian(Tensor::zeros({5}, DType::f64), Tensor::full({5}, 0.3, DType::f64), 0.3)
                .item()) < 1e-12);
  // gradient: dKL/dmu = mu / p^2, dKL/dsigma = -1/sigma + sigma / p^2
  auto f = [](const std::vector<Tensor>& in) { return kl_to_zero_mean_gaussian(in[0], in[1], 0.7); };
  CHECK(test::gradcheck(f, {test::uniform({4, 3}, 1), test::uniform({4, 3}, 2, 0.1, 2.0)}) <= 1.0);
}

TEST_CASE("BayesLinear KL sums weights and bias with sigma = softplus(rho)") {
  BayesLinearOptions o;
  o.prior_sigma = 0.5;
  o.rho_init = -3.0;
  o.seed = 4;
  o.dtype = DType::f64;
  BayesLinear layer(3, 2, o);
  auto mu = layer.mu.to_vector(), bmu = layer.bias_mu.to_vector();
  const double s = std::log1p(std::exp(-3.0));
  double want = 0;
  for (double m : mu) want += std::log(0.5 / s) + (s * s + m * m) / (2 * 0.25) - 0.5;
  for (double m : bmu) want += std::log(0.5 / s) + (s * s + m * m) / (2 * 0.25) - 0.5;
  CHECK(layer.kl().item() == doctest::Approx(want).epsilon(1e-12));
  o.bayesian_bias = false;  // deterministic bias: not in the KL
  BayesLinear det(3, 2, o);
  double want_det = 0;
  for (double m : det.mu.to_vector()) want_det += std::log(0.5 / s) + (s * s + m * m) / (2 * 0.25) - 0.5;
  CHECK(det.kl().item() == doctest::Approx(want_det).epsilon(1e-12));
  CHECK_FALSE(det.bias_rho.defined());
  CHECK(det.parameters().size() == 3);
}

TEST_CASE("BayesLinear KL gradient stays finite when sigma underflows to 0 in float32") {
  BayesLinearOptions o;
  o.rho_init = -200.0;  // softplus(-200) == 0 in float32: log(sigma) alone would give -inf and NaN
  BayesLinear layer(3, 2, o);
  REQUIRE(layer.sigma().to_vector()[0] == 0.0);
  Tensor kl = layer.kl();
  CHECK(std::isfinite(kl.item()));
  backward(kl);
  // d/drho [-log softplus(rho)] -> -1, and the sigma^2 term contributes 0.
  for (double g : layer.rho.grad().to_vector()) CHECK(g == doctest::Approx(-1.0));
  for (double g : layer.bias_rho.grad().to_vector()) CHECK(g == doctest::Approx(-1.0));
}

TEST_CASE("BayesLinear configuration errors are clear") {
  BayesLinearOptions o;
  o.prior_sigma = 0.0;
  CHECK_THROWS_WITH_AS(BayesLinear(3, 2, o), doctest::Contains("prior standard deviation must be > 0, got 0"),
                       Error);
  o.prior_sigma = -1.0;
  CHECK_THROWS_WITH_AS(BayesLinear(3, 2, o), doctest::Contains("got -1"), Error);
  CHECK_THROWS_WITH_AS(BayesLinear(0, 2), doctest::Contains("sizes must be positive"), Error);
  BayesLinearOptions bad_est;
  bad_est.estimator = "lrtt";
  CHECK_THROWS_WITH_AS(BayesLinear(3, 2, bad_est), doctest::Contains("unknown estimator 'lrtt'"), Error);
  CHECK_THROWS_WITH_AS(kl_to_zero_mean_gaussian(Tensor::zeros({2}), Tensor::ones({2}), -0.1),
                       doctest::Contains("must be > 0"), Error);
  BayesLinear ok(3, 2);
  Generator gen(1);
  CHECK_THROWS_WITH_AS(ok.forward(Tensor::zeros({4, 5}), gen), doctest::Contains("[4, 5]"), Error);
  CHECK_THROWS_WITH_AS(ok.set_eval_mode(BayesMode::train), doctest::Contains("mean or sample"), Error);
}

TEST_CASE("BayesLinear forward modes: train uses the estimator, mean is deterministic, sample draws") {
  BayesLinearOptions o;
  o.seed = 7;
  o.rho_init = -1.0;
  o.dtype = DType::f64;
  o.estimator = "rt";
  BayesLinear layer(4, 3, o);
  Tensor x = test::uniform({5, 4}, 3);
  Generator g1(11), g2(11);
  // train: exactly the estimator's output for the same generator state
  Tensor h_train = layer.forward(x, g1);
  Tensor h_est =
      make_estimator("rt")->linear(x, layer.mu, layer.sigma(), layer.bias_mu, layer.bias_sigma(), g2);
  CHECK(h_train.to_vector() == h_est.to_vector());
  // mean: x mu^T + bias_mu, no draw
  layer.eval();
  CHECK(layer.mode() == BayesMode::mean);
  Generator g3(5);
  Tensor h_mean = layer.forward(x, g3);
  CHECK(g3.offset == 0);
  {
    NoGrad ng;
    CHECK(test::closeness(h_mean, add(matmul(x, layer.mu.t()), layer.bias_mu), 1e-14, 1e-14) <= 1.0);
  }
  // sample: fresh draws differ; their average approaches the mean forward.
  // Per element sd of the average of 4000 draws <= sqrt(v / 4000) with v <= 5 * softplus(-1)^2 = 0.5:
  // 0.011; the bound 0.06 is > 5 of those.
  layer.set_eval_mode(BayesMode::sample);
  CHECK(layer.mode() == BayesMode::sample);
  Generator g4(6);
  Tensor a = layer.forward(x, g4), b = layer.forward(x, g4);
  CHECK(a.to_vector() != b.to_vector());
  Tensor acc = Tensor::zeros({5, 3}, DType::f64);
  {
    NoGrad ng;
    for (int k = 0; k < 4000; ++k) acc = add(acc, layer.forward(x, g4));
    CHECK(test::closeness(mul(acc, 1.0 / 4000), h_mean, 0.0, 0.06) <= 1.0);
  }
  layer.train();
  CHECK(layer.mode() == BayesMode::train);
}

TEST_CASE("estimators switch between steps and the gradient reaches rho through softplus") {
  BayesLinearOptions o;
  o.dtype = DType::f64;
  o.rho_init = -2.0;
  BayesLinear layer(3, 2, o);
  Tensor x = test::uniform({4, 3}, 1);
  for (const char* name : {"rt", "lrt", "flipout", "r2g2", "rt-per-example"}) {
    layer.set_estimator(name);
    CHECK(layer.estimator().name() == name);
    CHECK(layer.describe() == std::string("BayesLinear(3 -> 2, estimator ") + name + ")");
    layer.zero_grad();
    Generator gen(3);
    backward(sum(square(layer.forward(x, gen))));
    // chain rule through softplus: drho = dsigma * sigmoid(rho); compare with the estimator on sigma
    Tensor sigma = layer.sigma().detach().requires_grad_(true);
    Tensor bs = layer.bias_sigma().detach().requires_grad_(true);
    Generator gen2(3);
    backward(sum(
        square(make_estimator(name)->linear(x, layer.mu.detach(), sigma, layer.bias_mu.detach(), bs, gen2))));
    NoGrad ng;
    CHECK(test::closeness(layer.rho.grad(), mul(sigma.grad(), sigmoid(layer.rho)), 1e-12, 1e-14) <= 1.0);
    CHECK(test::closeness(layer.bias_rho.grad(), mul(bs.grad(), sigmoid(layer.bias_rho)), 1e-12, 1e-14) <=
          1.0);
  }
}

TEST_CASE("initialisation: He / Glorot scales, rho around rho_init, deterministic per seed") {
  BayesLinearOptions o;
  o.seed = 12;
  o.rho_init = -5.0;
  o.rho_init_std = 0.1;
  BayesLinear he(400, 300, o);
  o.mu_init = WeightInit::glorot;
  BayesLinear gl(400, 300, o);
  auto var_of = [](const Tensor& t) {
    double s = 0, s2 = 0;
    auto v = t.to_vector();
    for (double e : v) {
      s += e;
      s2 += e * e;
    }
    return s2 / v.size() - (s / v.size()) * (s / v.size());
  };
  // 120000 samples: relative SE of a variance estimate ~ sqrt(2/120000) = 0.4%; 3% is > 5 SE.
  CHECK(var_of(he.mu) == doctest::Approx(2.0 / 400).epsilon(0.03));
  CHECK(var_of(gl.mu) == doctest::Approx(2.0 / 700).epsilon(0.03));
  CHECK(var_of(he.rho) == doctest::Approx(0.01).epsilon(0.03));
  BayesLinear again(400, 300, o);
  CHECK(again.mu.to_vector() == gl.mu.to_vector());
  CHECK(parse_weight_init("glorot") == WeightInit::glorot);
  CHECK_THROWS_WITH_AS(parse_weight_init("xavier"), doctest::Contains("known: he, glorot"), Error);
}

TEST_CASE("Module: named parameters, children, train/eval, zero_grad, bayesian_modules") {
  struct Net : Module {
    BayesLinear a{3, 4}, b{4, 2};
    Linear c{2, 2};
    Net() {
      register_module("a", &a);
      register_module("b", &b);
      register_module("c", &c);
    }
  } net;
  auto named = net.named_parameters();
  REQUIRE(named.size() == 10);
  CHECK(named[0].first == "a.mu");
  CHECK(named[1].first == "a.rho");
  CHECK(named[2].first == "a.bias_mu");
  CHECK(named[3].first == "a.bias_rho");
  CHECK(named[8].first == "c.weight");
  CHECK(net.parameter_count() == (12 + 12 + 4 + 4) + (8 + 8 + 2 + 2) + (4 + 2));
  CHECK(net.bayesian_modules().size() == 2);
  net.eval();
  CHECK_FALSE(net.a.is_training());
  CHECK(net.b.mode() == BayesMode::mean);
  net.train();
  CHECK(net.b.mode() == BayesMode::train);
  Generator gen(1);
  backward(sum(net.c.forward(relu(net.b.forward(net.a.forward(Tensor::ones({2, 3}), gen), gen)))));
  CHECK(net.a.mu.grad().defined());
  net.zero_grad();
  CHECK_FALSE(net.a.mu.grad().defined());
  CHECK_FALSE(net.c.weight.grad().defined());
  net.to(Device::cpu());  // a no-op on the CPU, parameters stay leaves
  CHECK(net.a.mu.is_leaf());
  CHECK(net.a.mu.requires_grad());
}

TEST_CASE("LatentLinear: modes, estimators, unsupported estimators raise clear errors") {
  LatentLinearOptions o;
  o.dtype = DType::f64;
  o.seed = 2;
  LatentLinear layer(4, 6, o);
  Tensor mu = test::uniform({3, 4}, 1), sigma = test::uniform({3, 4}, 2, 0.1, 0.5);
  Generator g1(9), g2(9);
  Tensor h = layer.forward(mu, sigma, g1);
  Tensor want = make_estimator("rt")->latent_linear(mu, sigma, layer.weight, layer.bias, g2);
  CHECK(h.to_vector() == want.to_vector());
  layer.set_estimator("lrt");
  CHECK_THROWS_WITH_AS(layer.forward(mu, sigma, g1),
                       doctest::Contains("lrt cannot be used on a Gaussian latent"), Error);
  layer.set_estimator("r2g2");
  Tensor h2 = layer.forward(mu, sigma, g1);
  CHECK(h2.shape() == Shape{3, 6});
  layer.eval();
  Tensor hm = layer.forward(mu, sigma, g1);
  {
    NoGrad ng;
    CHECK(test::closeness(hm, add(matmul(mu, layer.weight.t()), layer.bias), 1e-14, 1e-14) <= 1.0);
  }
  CHECK(layer.kl().item() == 0.0);
  CHECK_THROWS_WITH_AS(layer.forward(mu, test::uniform({3, 5}, 1), g1), doctest::Contains("[3, 5]"), Error);
  GaussianLatent head(7, 4, {true, WeightInit::glorot, 3, DType::f64});
  auto [zm, zs] = head.mu_and_sigma(test::uniform({2, 7}, 5));
  CHECK(zm.shape() == Shape{2, 4});
  for (double v : zs.to_vector()) CHECK(v > 0.0);
  CHECK(std::abs(GaussianLatent::kl_to_standard_normal(Tensor::zeros({2, 4}, DType::f64),
                                                       Tensor::ones({2, 4}, DType::f64))
                     .item()) < 1e-12);
}
