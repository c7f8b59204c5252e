// BayesVGG: the paper's layer plan and estimator placement, at reduced widths so that
// a training step runs in milliseconds.
#include <doctest/doctest.h>

#include <cmath>
#include <string>

#include "r2g2/core/autograd.h"
#include "r2g2/models/bayes_vgg.h"
#include "test_util.h"

using namespace r2g2;
using r2g2::test::uniform;

namespace {

// VGG-11's plan with widths divided by 8 (64 -> 8, 512 -> 64).
BayesVGGConfig small_config() {
  BayesVGGConfig c;
  c.layers = {8, 0, 16, 0, 32, 32, 0, 64, 64, 0, 64, 64, 0};
  c.rho_init = -3;
  c.adam.lr = 1e-2;
  c.train_size = 8;
  c.seed = 3;
  return c;
}

Tensor labels_of(std::initializer_list<int32_t> v) {
  return Tensor::from_vector(std::vector<int32_t>(v), {static_cast<int64_t>(v.size())});
}

}  // namespace

TEST_CASE("BayesVGG: VGG-11's plan, rt below, the compared estimator above, lrt on the classifier") {
  BayesVGG model(small_config());
  auto convs = model.conv_layers();
  REQUIRE(convs.size() == 8);
  for (size_t i = 0; i < 8; ++i) {
    CAPTURE(i);
    CHECK(convs[i]->estimator().name() == (i < 4 ? "rt" : "r2g2"));
    CHECK(convs[i]->kernel_size() == 3);
    CHECK(convs[i]->conv_params().padding == 1);
  }
  CHECK(convs[7]->out_channels() == 64);
  auto fcs = model.linear_layers();
  REQUIRE(fcs.size() == 1);
  CHECK(fcs[0]->in_features() == 64);  // 32 / 2^5 = 1 pixel
  CHECK(fcs[0]->estimator().name() == "lrt");
  CHECK(model.describe().find("64:r2g2 M") != std::string::npos);
  model.set_estimator("rt");
  for (size_t i = 4; i < 8; ++i) CHECK(convs[i]->estimator().name() == "rt");
  CHECK(fcs[0]->estimator().name() == "lrt");
  // The default is the paper's plan.
  CHECK(BayesVGGConfig{}.layers == std::vector<int>{64, 0, 128, 0, 256, 256, 0, 512, 512, 0, 512, 512, 0});
  CHECK_THROWS_WITH_AS(
      [&] {
        BayesVGGConfig bad = small_config();
        bad.image_size = 16;  // five pools need 32 pixels
        BayesVGG m(bad);
      }(),
      doctest::Contains("max-pool"), Error);
}

TEST_CASE("BayesVGG: a training step with r2g2 on the 4x4 and 2x2 layers; evaluation") {
  BayesVGG model(small_config());
  Tensor x = uniform({2, 3, 32, 32}, 1, 0, 1, DType::f32);
  Tensor y = labels_of({3, 7});
  auto before = model.conv_layers()[5]->mu.to_vector();
  BayesStepStats s = model.step(x, y);
  CHECK(std::isfinite(s.loss));
  CHECK(s.kl > 0);
  CHECK(s.estimator == "r2g2");
  CHECK(model.conv_layers()[5]->mu.to_vector() != before);
  auto diag = model.conv_diagnostics();
  for (size_t i = 0; i < 4; ++i) CHECK(!diag[i].has_value());
  for (size_t i = 4; i < 8; ++i) {
    CAPTURE(i);
    REQUIRE(diag[i].has_value());
    CHECK(diag[i]->systems == 2 * 64);
    CHECK(diag[i]->max_iterations <= (i < 6 ? 16 : 4));  // P = 16 at 4x4, P = 4 at 2x2
    CHECK(diag[i]->max_relative_residual <= 1e-5);
    CHECK(diag[i]->noise_removed > 0.5);  // rank <= 16 of D = 288 or 576
  }
  // A few steps on one batch fit it.
  double first = s.loss, last = first;
  for (int i = 0; i < 7; ++i) last = model.step(x, y).loss;
  CHECK(last < first);
  BayesEvalStats mean = model.evaluate(x, y, 0), mc = model.evaluate(x, y, 3);
  CHECK(mean.examples == 2);
  CHECK(mc.samples == 3);
  CHECK(std::isfinite(mean.test_ll));
  CHECK(std::isfinite(mc.test_ll));
  CHECK(mean.accuracy >= 0);
  CHECK(model.is_training());
}
