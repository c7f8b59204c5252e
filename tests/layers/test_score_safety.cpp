// The score estimator's surrogate cannot be forgotten silently, and its pending state
// stays bounded however many forwards run without it.
#include <doctest/doctest.h>

#include <memory>

#include "r2g2/core/autograd.h"
#include "r2g2/core/ops.h"
#include "r2g2/layers/activations.h"
#include "r2g2/layers/bayes_linear.h"
#include "r2g2/layers/elbo.h"
#include "r2g2/layers/sequential.h"
#include "test_util.h"

using namespace r2g2;
using r2g2::test::uniform;

namespace {

BayesLinearOptions score_options(uint64_t seed) {
  BayesLinearOptions o;
  o.seed = seed;
  o.rho_init = -1.0;
  o.estimator = "score";
  o.dtype = DType::f64;
  return o;
}

}  // namespace

TEST_CASE("score: a forward after a loss formed without the surrogate refuses, naming the fix") {
  BayesLinear layer(4, 3, score_options(1));
  Tensor x = uniform({5, 4}, 2).requires_grad_(true);
  backward(sum(square(layer.forward(x))));  // no surrogate: mu and sigma get no gradient
  CHECK_FALSE(layer.mu.grad().defined());
  CHECK(layer.estimator().has_pending_score_term());
  CHECK_THROWS_WITH_AS(layer.forward(x), doctest::Contains("never added to a loss"), Error);
  CHECK_FALSE(layer.estimator().has_pending_score_term());  // the stale term is dropped
  // Through with_score_surrogates the same loss reaches mu and sigma.
  Tensor loss = sum(square(layer.forward(x)));
  backward(with_score_surrogates(loss, layer));
  CHECK(layer.mu.grad().defined());
  CHECK(layer.rho.grad().defined());
  CHECK_FALSE(layer.estimator().has_pending_score_term());
  // Evaluation records nothing, so it never leaves a term behind.
  {
    NoGrad no_grad;
    for (int i = 0; i < 3; ++i) layer.forward(x);
  }
  CHECK_FALSE(layer.estimator().has_pending_score_term());
}

TEST_CASE("score: pending state holds one draw at most, however many forwards skip the surrogate") {
  BayesLinear layer(4, 3, score_options(3)), twin(4, 3, score_options(3));
  Tensor x = uniform({5, 4}, 4);
  int refused = 0;
  uint64_t offset_of_last_draw = 0;
  for (int i = 0; i < 41; ++i) {
    const uint64_t offset = layer.generator().offset;
    try {
      layer.forward(x);
      offset_of_last_draw = offset;
    } catch (const Error&) {
      ++refused;
    }
  }
  CHECK(refused == 20);  // every other forward: each one after an unused draw
  REQUIRE(layer.estimator().has_pending_score_term());
  // The pending term is exactly the last draw's log q: the surrogate equals a twin's after
  // that single draw.
  twin.set_generator(Generator(layer.generator().seed, offset_of_last_draw));
  twin.forward(x);
  Tensor one = Tensor::scalar(1.0, DType::f64);
  CHECK(layer.estimator().score_surrogate(one).item() ==
        doctest::Approx(twin.estimator().score_surrogate(one).item()).epsilon(1e-12));
}

TEST_CASE("score in a Sequential: elbo_loss over the model adds every layer's surrogate") {
  Sequential net(std::make_unique<BayesLinear>(4, 6, score_options(5)), std::make_unique<ReLU>(),
                 std::make_unique<BayesLinear>(6, 2, score_options(6)));
  net.set_noise_source(std::make_shared<Generator>(2));
  Tensor x = uniform({3, 4}, 7);
  Tensor nll = mean(square(net.forward(x)));
  Tensor loss = elbo_loss(nll, total_kl(net), 1.0, 100, net);
  CHECK(loss.item() == doctest::Approx(add(nll, mul(total_kl(net), 0.01)).item()).epsilon(1e-12));
  backward(loss);
  for (BayesianModule* m : net.bayesian_modules()) CHECK_FALSE(m->estimator().has_pending_score_term());
  CHECK(net.at<BayesLinear>(0).mu.grad().defined());
  CHECK_NOTHROW(net.forward(x));
}
