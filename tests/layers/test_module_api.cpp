// The common module API: forward(x), Sequential and the parameter-free modules, the
// layers' noise sources, in-place Module::to, total_kl, and GaussianWeight.
#include <doctest/doctest.h>

#include <memory>

#include "r2g2/core/autograd.h"
#include "r2g2/core/ops.h"
#include "r2g2/core/optim.h"
#include "r2g2/layers/activations.h"
#include "r2g2/layers/bayes_conv2d.h"
#include "r2g2/layers/bayes_linear.h"
#include "r2g2/layers/elbo.h"
#include "r2g2/layers/latent_linear.h"
#include "r2g2/layers/linear.h"
#include "r2g2/layers/sequential.h"
#include "test_util.h"

using namespace r2g2;
using r2g2::test::uniform;

namespace {

BayesLinearOptions linear_options(uint64_t seed, const std::string& estimator = "rt") {
  BayesLinearOptions o;
  o.seed = seed;
  o.rho_init = -2.0;
  o.estimator = estimator;
  return o;
}

bool equal_values(const Tensor& a, const Tensor& b) { return a.to_vector() == b.to_vector(); }

}  // namespace

TEST_CASE("Module::forward: a module without a single-input forward says which it is") {
  LatentLinear latent(3, 2);
  CHECK_THROWS_WITH_AS(latent.forward(Tensor::zeros({2, 3})), doctest::Contains("LatentLinear"), Error);
  CHECK_THROWS_WITH_AS(latent.forward(Tensor::zeros({2, 3})), doctest::Contains("[2, 3]"), Error);
  Linear linear(3, 2);
  Module& as_module = linear;
  CHECK(as_module(Tensor::ones({4, 3})).shape() == Shape{4, 2});
  CHECK(as_module.type_name() == "Linear");
}

TEST_CASE("Sequential: children named 0, 1, ...; forward is the chain; typed access") {
  Sequential net(std::make_unique<BayesLinear>(5, 4, linear_options(1)), std::make_unique<ReLU>(),
                 std::make_unique<BayesLinear>(4, 3, linear_options(2)));
  REQUIRE(net.size() == 3);
  auto named = net.named_parameters();
  REQUIRE(named.size() == 8);
  CHECK(named[0].first == "0.mu");
  CHECK(named[7].first == "2.bias_rho");
  CHECK(net.bayesian_modules().size() == 2);
  CHECK(net.at<BayesLinear>(2).out_features() == 3);
  CHECK_THROWS_WITH_AS(net.at<BayesLinear>(1), doctest::Contains("module 1 is a ReLU"), Error);
  CHECK_THROWS_WITH_AS(net[3], doctest::Contains("index 3 out of range (3 modules)"), Error);
  CHECK_THROWS_WITH_AS(net.push_back(nullptr), doctest::Contains("null module at position 3"), Error);

  // One shared stream: the chain draws what explicit generators threaded by hand draw.
  Tensor x = uniform({6, 5}, 3, -1, 1, DType::f32);
  net.set_noise_source(std::make_shared<Generator>(9));
  Tensor h = net.forward(x);
  BayesLinear a(5, 4, linear_options(1)), b(4, 3, linear_options(2));
  Generator gen(9);
  CHECK(equal_values(h, b.forward(relu(a.forward(x, gen)), gen)));
  CHECK(net.at<BayesLinear>(0).generator().offset == gen.offset);
  CHECK(&net.at<BayesLinear>(0).generator() == &net.at<BayesLinear>(2).generator());

  net.eval();  // mean weights: no draws, deterministic
  const uint64_t before = net.at<BayesLinear>(0).generator().offset;
  CHECK(equal_values(net.forward(x), net.forward(x)));
  CHECK(net.at<BayesLinear>(0).generator().offset == before);
}

TEST_CASE("noise sources: a private stream per layer from its seed, replaceable") {
  BayesLinear a(3, 2, linear_options(5)), twin(3, 2, linear_options(5)), other(3, 2, linear_options(6));
  CHECK(a.generator().seed == BayesianModule::noise_seed(5));
  CHECK(a.generator().seed != other.generator().seed);
  CHECK(&a.generator() != &twin.generator());
  Tensor x = uniform({4, 3}, 1, -1, 1, DType::f32);
  CHECK(equal_values(a.forward(x), twin.forward(x)));  // same seed, same draws
  a.set_generator(Generator(42, 7));
  Generator by_hand(42, 7);
  CHECK(equal_values(a.forward(x), twin.forward(x, by_hand)));
  CHECK(a.generator().offset == by_hand.offset);
  CHECK_THROWS_WITH_AS(a.set_noise_source(nullptr), doctest::Contains("null generator"), Error);
}

TEST_CASE("a small CNN in a Sequential: conv, ReLU, max-pool, flatten, linear; total_kl") {
  BayesConv2dOptions co;
  co.padding = 1;
  co.seed = 3;
  Sequential net;
  net.emplace_back<BayesConv2d>(2, 4, 3, co);
  net.emplace_back<ReLU>();
  net.emplace_back<MaxPool2d>(2);
  net.emplace_back<Flatten>();
  net.emplace_back<BayesLinear>(4 * 3 * 3, 5, linear_options(4, "lrt"));
  net.set_noise_source(std::make_shared<Generator>(1));
  Tensor x = uniform({2, 2, 6, 6}, 2, 0, 1, DType::f32);
  Tensor logits = net.forward(x);
  CHECK(logits.shape() == Shape{2, 5});
  Tensor kl = total_kl(net);
  CHECK(kl.item() == doctest::Approx(net.at<BayesConv2d>(0).kl().item() + net.at<BayesLinear>(4).kl().item())
                         .epsilon(1e-6));
  backward(add(sum(logits), kl));
  CHECK(net.at<BayesConv2d>(0).rho.grad().defined());
  CHECK(net.at<BayesLinear>(4).mu.grad().defined());
  CHECK_THROWS_WITH_AS(net.forward(uniform({2, 6, 6}, 2)), doctest::Contains("input [2, 6, 6] must be [N, 2, H, W]"),
                       Error);
  CHECK_THROWS_WITH_AS(MaxPool2d(2).forward(uniform({2, 6, 6}, 2)), doctest::Contains("[N, C, H, W]"), Error);
  CHECK_THROWS_WITH_AS(MaxPool2d(0), doctest::Contains("kernel must be >= 1"), Error);
  CHECK_THROWS_WITH_AS(Flatten().forward(Tensor::zeros({3})), doctest::Contains("[3]"), Error);
}

TEST_CASE("total_kl of a tree without Bayesian layers is a scalar 0") {
  Linear plain(3, 2);
  Tensor kl = total_kl(plain);
  CHECK(kl.numel() == 1);
  CHECK(kl.item() == 0.0);
}

TEST_CASE("Module::to moves parameters in place: handles taken before see the new storage") {
  BayesLinear layer(3, 2, linear_options(8));
  Tensor handle = layer.mu;  // what an optimizer holds
  const auto values = layer.mu.to_vector();
  backward(sum(layer.forward(Tensor::ones({1, 3}))));
  REQUIRE(handle.grad().defined());

  layer.to(Device::cpu());  // same device: nothing moves
  CHECK(handle.same(layer.mu));
  CHECK(handle.grad().defined());

  layer.to(DType::f64);
  CHECK(handle.same(layer.mu));  // the same TensorImpl
  CHECK(handle.dtype() == DType::f64);
  CHECK(layer.rho.dtype() == DType::f64);
  CHECK(handle.to_vector() == values);  // float -> double is exact
  CHECK_FALSE(handle.grad().defined());  // gradients are dropped
  CHECK(handle.is_leaf());
  CHECK(handle.requires_grad());
  Tensor h = layer.forward(Tensor::ones({2, 3}, DType::f64));  // trains in the new dtype
  CHECK(h.dtype() == DType::f64);
  backward(sum(h));
  CHECK(handle.grad().dtype() == DType::f64);
  CHECK_THROWS_WITH_AS(layer.to(DType::i32), doctest::Contains("float32 or float64"), Error);
}

TEST_CASE("an Adam built before Module::to keeps training the moved module") {
  // Two steps in float32, a conversion to float64, two more steps; against the same run
  // whose second half uses a fresh float64 layer and an Adam restored by hand.
  const std::vector<float> input{0.5f, -1, 2, 1, 0.25f, -0.5f};
  auto step = [&](Linear& layer, Adam& adam, DType dtype) {
    Tensor x = Tensor::from_vector(input, {2, 3}).to(dtype);
    Tensor loss = sum(square(layer.forward(x) - 1.0));
    adam.zero_grad();
    backward(loss);
    adam.step();
  };
  Linear moved(3, 2, {.seed = 4});
  Adam adam(moved.parameters(), {.lr = 0.05});
  step(moved, adam, DType::f32);
  step(moved, adam, DType::f32);

  Linear reference(3, 2, {.seed = 4, .dtype = DType::f64});
  Adam reference_adam(reference.parameters(), {.lr = 0.05});
  {
    NoGrad no_grad;
    for (size_t i = 0; i < moved.parameters().size(); ++i) {
      reference.parameters()[i].copy_(moved.parameters()[i]);
      reference_adam.first_moments()[i].copy_(adam.first_moments()[i]);
      reference_adam.second_moments()[i].copy_(adam.second_moments()[i]);
    }
  }
  reference_adam.set_steps_taken(2);

  moved.to(DType::f64);
  for (int i = 0; i < 2; ++i) {
    step(moved, adam, DType::f64);
    step(reference, reference_adam, DType::f64);
  }
  for (size_t i = 0; i < moved.parameters().size(); ++i) {
    CHECK(moved.parameters()[i].dtype() == DType::f64);
    CHECK(moved.parameters()[i].to_vector() == reference.parameters()[i].to_vector());
    CHECK(adam.first_moments()[i].dtype() == DType::f64);
  }
}

TEST_CASE("GaussianWeight: sigma, KL and a draw; the checks name the layer") {
  GaussianWeightOptions o{.prior_sigma = 0.5, .rho_init = -1.0, .rho_init_std = 0.0};
  GaussianWeight w(uniform({3, 2}, 1, -1, 1, DType::f64), 7, 0, o, "TestLayer");
  CHECK(w.is_gaussian());
  CHECK(w.prior_sigma() == 0.5);
  CHECK(w.sigma().to_vector()[0] == doctest::Approx(std::log1p(std::exp(-1.0))).epsilon(1e-14));
  CHECK(w.kl().item() == doctest::Approx(kl_to_zero_mean_gaussian(w.mu, w.sigma(), 0.5).item()).epsilon(1e-12));
  Generator gen(3);
  Tensor draw = w.sample(w.sigma(), gen);
  Tensor eps = Tensor::randn({3, 2}, 3, 0, DType::f64);
  CHECK(equal_values(draw, add(w.mu, mul(w.sigma(), eps))));
  GaussianWeight point = GaussianWeight::point_mass(Tensor::zeros({2}), 1.0);
  CHECK_FALSE(point.is_gaussian());
  CHECK_FALSE(point.kl().defined());
  CHECK(point.sample(Tensor(), gen).same(point.mu));
  o.prior_sigma = 0;
  CHECK_THROWS_WITH_AS(GaussianWeight(Tensor::zeros({2}), 1, 0, o, "TestLayer"),
                       doctest::Contains("TestLayer: the prior standard deviation"), Error);
  o.prior_sigma = 1;
  o.rho_init_std = -1;
  CHECK_THROWS_WITH_AS(GaussianWeight::check_options(o, DType::f32, "TestLayer"),
                       doctest::Contains("bad rho initialisation"), Error);
}
