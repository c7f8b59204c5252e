// The Bayesian MLP built from BayesLinear: estimator schedules mid-run, the ELBO,
// training on a separable toy problem, Monte-Carlo evaluation and calibration error.
#include <doctest/doctest.h>

#include <cmath>

#include "estimators/estimator_test_util.h"
#include "r2g2/models/bayes_mlp.h"

using namespace r2g2;

namespace {

// Two Gaussian blobs in 6 dimensions, labels 0/1 (and class 2 unused).
void toy_data(int64_t n, uint64_t seed, Tensor* x, Tensor* y) {
  auto z = Tensor::randn({n, 6}, seed, 0).to_vector();
  std::vector<int32_t> labels(n);
  for (int64_t i = 0; i < n; ++i) {
    labels[i] = static_cast<int32_t>(i % 2);
    for (int d = 0; d < 6; ++d)
      z[i * 6 + d] = 0.5 * z[i * 6 + d] + (labels[i] ? 1.0 : -1.0) * (d < 3 ? 1.0 : 0.0);
  }
  *x = Tensor::from_vector(z, {n, 6});
  *y = Tensor::from_vector(labels, {n});
}

BayesMLPConfig small_config(const std::string& schedule) {
  BayesMLPConfig cfg;
  cfg.sizes = {6, 16, 3};
  cfg.schedule = schedule;
  cfg.train_size = 200;
  cfg.adam.lr = 1e-2;
  cfg.seed = 3;
  return cfg;
}

}  // namespace

TEST_CASE("a schedule switches the estimator of every layer mid-run") {
  BayesMLP model(small_config("lrt:2,r2g2:1,rt"));
  Tensor x, y;
  toy_data(32, 1, &x, &y);
  const char* expected[] = {"lrt", "lrt", "r2g2", "rt", "rt"};
  Tensor mu_before = model.layers()[0]->mu;
  for (int s = 0; s < 5; ++s) {
    BayesStepStats st = model.step(x, y);
    CHECK(st.step == s);
    CHECK(st.estimator == expected[s]);
    for (BayesLinear* l : model.layers()) CHECK(l->estimator().name() == expected[s]);
    CHECK(std::isfinite(st.loss));
  }
  CHECK(model.layers()[0]->mu.same(mu_before));  // the parameters are the same tensors, trained in place
  CHECK(model.steps_taken() == 5);
  // A new schedule takes effect at the next step; diagnostics follow the estimator.
  model.set_estimator("r2g2");
  model.step(x, y);
  auto d = model.diagnostics();
  REQUIRE(d.size() == 2);
  REQUIRE(d[0].has_value());
  CHECK(d[0]->systems == 32 * 16);
  CHECK_THROWS_WITH_AS(model.set_schedule(EstimatorSchedule("r2g2:5,bogus")),
                       doctest::Contains("unknown estimator"), Error);
}

TEST_CASE("the objective is mean NLL + KL / N, and step() reports it") {
  BayesMLPConfig cfg = small_config("lrt");
  cfg.kl_weight = 0.5;
  BayesMLP model(cfg);
  Tensor x, y;
  toy_data(16, 2, &x, &y);
  auto o = model.objective(x, y);
  CHECK(o.loss.item() == doctest::Approx(o.nll.item() + 0.5 * o.kl.item() / 200).epsilon(1e-6));
  CHECK(o.kl.item() == doctest::Approx(model.kl().item()).epsilon(1e-6));
  BayesStepStats st = model.step(x, y);
  CHECK(st.loss == doctest::Approx(st.nll + 0.5 * st.kl / 200).epsilon(1e-9));
  CHECK(st.batch_accuracy >= 0.0);
  CHECK(st.batch_accuracy <= 1.0);
}

TEST_CASE("training on a separable toy problem reaches high accuracy with every pathwise estimator") {
  Tensor x, y, xt, yt;
  toy_data(200, 5, &x, &y);
  toy_data(200, 6, &xt, &yt);
  for (const char* name : {"rt", "lrt", "flipout", "r2g2", "r2g2-shared"}) {
    CAPTURE(name);
    BayesMLP model(small_config(name));
    double first = 0, last = 0;
    for (int s = 0; s < 60; ++s) {
      auto st = model.step(x.slice(0, (s % 5) * 40, (s % 5) * 40 + 40),
                           y.slice(0, (s % 5) * 40, (s % 5) * 40 + 40));
      if (s < 5) first += st.nll / 5;
      if (s >= 55) last += st.nll / 5;
    }
    CHECK(last < first);
    BayesEvalStats e = model.evaluate(xt, yt, 4);
    CHECK(e.accuracy > 0.95);
    CHECK(e.test_ll < 0.0);
    CHECK(e.test_ll > -0.3);
    CHECK(e.samples == 4);
  }
}

TEST_CASE("score-function training runs through the surrogate (finite, parameters move)") {
  BayesMLP model(small_config("score"));
  Tensor x, y;
  toy_data(32, 7, &x, &y);
  auto before = model.layers()[0]->mu.to_vector();
  auto st = model.step(x, y);
  CHECK(std::isfinite(st.loss));
  CHECK(model.layers()[0]->mu.to_vector() != before);
}

TEST_CASE("evaluate: S = 0 is the mean network; S > 0 is reproducible and leaves training mode alone") {
  BayesMLPConfig cfg = small_config("rt");
  cfg.rho_init = -1.0;
  BayesMLP model(cfg);
  Tensor x, y;
  toy_data(50, 8, &x, &y);
  BayesEvalStats e0 = model.evaluate(x, y, 0, 16);
  // by hand: the mean network's log softmax at the label
  double ll = 0;
  int hits = 0;
  {
    NoGrad ng;
    Tensor h = x;
    auto layers = model.layers();
    for (size_t l = 0; l < layers.size(); ++l) {
      h = add(matmul(h, layers[l]->mu.t()), layers[l]->bias_mu);
      if (l + 1 < layers.size()) h = relu(h);
    }
    auto lp = log_softmax(h, 1).to_vector();
    auto lab = y.to_int_vector();
    auto pred = argmax(h, 1).to_int_vector();
    for (int i = 0; i < 50; ++i) {
      ll += lp[i * 3 + lab[i]] / 50;
      hits += pred[i] == lab[i];
    }
  }
  CHECK(e0.test_ll == doctest::Approx(ll).epsilon(1e-6));
  CHECK(e0.accuracy == doctest::Approx(hits / 50.0));
  CHECK(model.is_training());
  BayesMLP twin(cfg);
  BayesEvalStats a = model.evaluate(x, y, 5), b = twin.evaluate(x, y, 5);
  CHECK(a.test_ll == b.test_ll);  // same seed, same evaluation draws
  CHECK(a.test_ll != e0.test_ll);
  CHECK_THROWS_WITH_AS(model.evaluate(x, y, -1), doctest::Contains("samples must be >= 0"), Error);
}

TEST_CASE("expected calibration error with 15 bins, by hand") {
  // confidences 0.95 (right), 0.95 (wrong), 0.55 (right), 0.25 (wrong) fall in bins 14, 14, 8, 3:
  //   bin 14: 2/4 |0.5 - 0.95| = 0.225;  bin 8: 1/4 |1 - 0.55| = 0.1125;  bin 3: 1/4 |0 - 0.25| = 0.0625
  CHECK(expected_calibration_error({0.95, 0.95, 0.55, 0.25}, {true, false, true, false}) ==
        doctest::Approx(0.4).epsilon(1e-12));
  CHECK(expected_calibration_error({1.0, 1.0}, {true, true}) == doctest::Approx(0.0));
  CHECK(expected_calibration_error({}, {}) == 0.0);
}

TEST_CASE("BayesMLP configuration errors") {
  BayesMLPConfig cfg = small_config("rt");
  cfg.sizes = {6};
  CHECK_THROWS_WITH_AS(BayesMLP{cfg}, doctest::Contains("at least an input and an output"), Error);
  cfg = small_config("r2g2,rt");
  CHECK_THROWS_WITH_AS(BayesMLP{cfg}, doctest::Contains("needs a step count"), Error);
  cfg = small_config("rt");
  cfg.prior_sigma = 0;
  CHECK_THROWS_WITH_AS(BayesMLP{cfg}, doctest::Contains("prior standard deviation"), Error);
}
