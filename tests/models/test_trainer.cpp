// BayesTrainer on a model built from parts (a Sequential): ELBO steps, the schedule,
// evaluation streams, the refusal of a step whose score surrogate went missing, and the
// CUDA-graph mode's refusals where it cannot run.
#include <doctest/doctest.h>

#include <cmath>
#include <memory>

#include "r2g2/core/autograd.h"
#include "r2g2/core/cuda_backend.h"
#include "r2g2/core/ops.h"
#include "r2g2/layers/activations.h"
#include "r2g2/layers/bayes_linear.h"
#include "r2g2/layers/sequential.h"
#include "r2g2/models/bayes_mlp.h"
#include "r2g2/models/trainer.h"

using namespace r2g2;

namespace {

// Two Gaussian blobs in 6 dimensions, labels 0/1.
void toy_data(int64_t n, uint64_t seed, Tensor* x, Tensor* y) {
  auto z = Tensor::randn({n, 6}, seed, 0).to_vector();
  std::vector<int32_t> labels(n);
  for (int64_t i = 0; i < n; ++i) {
    labels[i] = static_cast<int32_t>(i % 2);
    for (int d = 0; d < 6; ++d) z[i * 6 + d] = 0.5 * z[i * 6 + d] + (labels[i] ? 1.0 : -1.0) * (d < 3 ? 1.0 : 0.0);
  }
  *x = Tensor::from_vector(z, {n, 6});
  *y = Tensor::from_vector(labels, {n});
}

std::unique_ptr<Sequential> small_net(uint64_t seed) {
  BayesLinearOptions o;
  o.seed = seed;
  auto net = std::make_unique<Sequential>();
  net->emplace_back<BayesLinear>(6, 16, o);
  net->emplace_back<ReLU>();
  o.seed = seed + 10;
  net->emplace_back<BayesLinear>(16, 2, o);
  return net;
}

}  // namespace

TEST_CASE("BayesTrainer trains a Sequential with a schedule and evaluates it reproducibly") {
  Tensor x, y, xt, yt;
  toy_data(200, 1, &x, &y);
  toy_data(200, 2, &xt, &yt);
  auto net = small_net(3);
  BayesTrainer trainer(*net, {.train_size = 200, .adam = {1e-2}, .seed = 4}, "toy");
  trainer.set_schedule(EstimatorSchedule("lrt:3,r2g2"), net->bayesian_modules());
  CHECK(trainer.current_estimator() == "lrt");
  double first = 0, last = 0;
  for (int s = 0; s < 60; ++s) {
    BayesStepStats st = trainer.step(x.slice(0, (s % 5) * 40, (s % 5) * 40 + 40), y.slice(0, (s % 5) * 40, (s % 5) * 40 + 40));
    CHECK(st.step == s);
    CHECK(st.estimator == (s < 3 ? "lrt" : "r2g2"));
    if (s < 5) first += st.nll / 5;
    if (s >= 55) last += st.nll / 5;
  }
  CHECK(last < first);
  CHECK(net->at<BayesLinear>(2).estimator().name() == "r2g2");
  const uint64_t train_offset = trainer.train_generator().offset;
  BayesEvalStats e = trainer.evaluate(xt, yt, 4, 50);
  CHECK(e.accuracy > 0.95);
  CHECK(trainer.train_generator().offset == train_offset);  // evaluation draws from its own stream
  CHECK(&net->at<BayesLinear>(0).generator() == &trainer.train_generator());  // and hands it back
  CHECK(net->is_training());
  CHECK_THROWS_WITH_AS(BayesTrainer(*net, {.train_size = 0}, "toy"), doctest::Contains("toy: train_size"), Error);
}

TEST_CASE("a training step refuses when a score layer's surrogate missed the previous loss") {
  BayesMLPConfig cfg;
  cfg.sizes = {6, 8, 2};
  cfg.schedule = "score";
  cfg.train_size = 100;
  BayesMLP model(cfg);
  Tensor x, y;
  toy_data(16, 3, &x, &y);
  // A hand-made loop step without the surrogate...
  backward(add(cross_entropy(model.forward(x), y), mul(model.kl(), 0.01)));
  // ... is caught at the next step, with the way out in the message.
  CHECK_THROWS_WITH_AS(model.step(x, y), doctest::Contains("with_score_surrogates"), Error);
  // The stale term is gone, so training carries on.
  auto before = model.layers()[0]->mu.to_vector();
  BayesStepStats st = model.step(x, y);
  CHECK(std::isfinite(st.loss));
  CHECK(model.layers()[0]->mu.to_vector() != before);
}

TEST_CASE("the CUDA-graph mode refuses, naming why, where it cannot run; eager steps are unchanged") {
  Tensor x, y;
  toy_data(40, 1, &x, &y);
  auto net = small_net(3);
  BayesTrainer trainer(*net, {.train_size = 40, .adam = {1e-2}, .seed = 4, .cuda_graph = true}, "toy");
  trainer.set_schedule(EstimatorSchedule("lrt"), net->bayesian_modules());
  CHECK_THROWS_WITH_AS(trainer.step(x, y),
                       doctest::Contains("toy: the CUDA-graph mode (--cuda-graph) needs a CUDA "
                                         "device; the batch is on cpu"),
                       Error);
  CHECK(trainer.steps_taken() == 0);
  CHECK(trainer.train_generator().offset == 0);  // refused before anything ran
  CHECK(!trainer.cuda_graph_captured());

  // Off again: the same step as a trainer that never asked for a graph.
  trainer.set_cuda_graph(false);
  auto twin_net = small_net(3);
  BayesTrainer twin(*twin_net, {.train_size = 40, .adam = {1e-2}, .seed = 4}, "toy");
  twin.set_schedule(EstimatorSchedule("lrt"), twin_net->bayesian_modules());
  CHECK(trainer.step(x, y).loss == twin.step(x, y).loss);
  CHECK(trainer.train_generator().offset == twin.train_generator().offset);
}

TEST_CASE("the CUDA-graph mode refuses a schedule that switches estimators") {
  Tensor x, y;
  toy_data(40, 1, &x, &y);
  auto net = small_net(3);
  BayesTrainer trainer(*net, {.train_size = 40, .seed = 4, .cuda_graph = true}, "toy");
  trainer.set_schedule(EstimatorSchedule("lrt:3,r2g2"), net->bayesian_modules());
  if (cuda_backend::device_count() == 0) {
    CHECK_THROWS_WITH_AS(trainer.step(x, y), doctest::Contains("needs a CUDA device"), Error);
    return;
  }
  net->to(Device::cuda());
  CHECK_THROWS_WITH_AS(trainer.step(x.to(Device::cuda()), y.to(Device::cuda())),
                       doctest::Contains("the estimator schedule lrt:3,r2g2 switches estimators"), Error);
}
