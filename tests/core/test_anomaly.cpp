// Anomaly mode: the first non-finite value, forward or backward, stops the run with the
// op, its shapes and the layer it ran in; off, nothing is checked. And the non-finite
// loss guard of the training loops.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>
#include <string>

#include "r2g2/layers/activations.h"
#include "r2g2/layers/linear.h"
#include "r2g2/layers/sequential.h"
#include "r2g2/models/bayes_mlp.h"
#include "test_util.h"

using namespace r2g2;
using r2g2::test::contains;
using r2g2::test::error_of;

namespace {

class Log : public Module {
 public:
  Tensor forward(const Tensor& x) override { return log(x); }
};

// Linear(3 -> 2) with a zero bias, then log: a zero input makes log(0) = -inf in child "1"
// of the inner Sequential, i.e. layer "1.1" of the whole net.
std::unique_ptr<Sequential> net_with_log() {
  auto inner = std::make_unique<Sequential>(std::make_unique<ReLU>(), std::make_unique<Log>());
  return std::make_unique<Sequential>(std::make_unique<Linear>(3, 2), std::move(inner));
}

// A model whose forward calls its layers directly, pushing no scope of its own.
class TwoLayers : public Module {
 public:
  TwoLayers() {
    register_module("fc1", &fc1);
    register_module("fc2", &fc2);
  }
  Tensor forward(const Tensor& x) override { return fc2.forward(relu(fc1.forward(x))); }
  Linear fc1{3, 4};
  Linear fc2{4, 2};
};

}  // namespace

TEST_CASE("anomaly mode: a forward NaN/Inf names the op, its shapes and its layer") {
  auto net = net_with_log();
  Tensor x = Tensor::zeros({4, 3});
  DetectAnomaly anomaly;
  const std::string message = error_of([&] { (*net)(x); });
  CAPTURE(message);
  CHECK(contains(message, "forward of #"));
  CHECK(contains(message, " log "));
  CHECK(contains(message, "layer 1.1"));
  CHECK(contains(message, "-inf at index [0, 0]"));
  CHECK(contains(message, "output [4, 2]"));
  CHECK(contains(message, "input shapes: [4, 2]"));
  CHECK(contains(message, "float32, cpu"));
}

TEST_CASE("anomaly mode: 0/0 in a plain expression is named without a layer") {
  Tensor a = Tensor::from_vector(std::vector<double>{1, 0, 2}, {3}).requires_grad_();
  DetectAnomaly anomaly;
  const std::string message = error_of([&] { div(a, a); });
  CAPTURE(message);
  CHECK(contains(message, "forward of #"));
  CHECK(contains(message, " div "));
  CHECK(contains(message, "nan at index [1]"));
  CHECK(contains(message, "no layer scope"));
  CHECK(contains(message, "input shapes: [3], [3]"));
}

TEST_CASE("anomaly mode: layers of a model that pushes no scope are named by their parameters") {
  TwoLayers model;
  {
    NoGrad no_grad;
    std::vector<double> w(8, 0.5);
    w[5] = std::numeric_limits<double>::quiet_NaN();
    model.fc2.weight.copy_(Tensor::from_vector(w, {2, 4}));
  }
  DetectAnomaly anomaly;
  const std::string message = error_of([&] { model.forward(test::uniform({2, 3}, 1).to(DType::f32)); });
  CAPTURE(message);
  CHECK(contains(message, "forward of #"));
  CHECK(contains(message, "layer fc2"));
  CHECK(contains(message, "nan at index [1, 1]"));
}

TEST_CASE("anomaly mode: activations and matmuls inherit the layer of their input") {
  TwoLayers model;
  DetectAnomaly anomaly;
  Tensor out = model.forward(test::uniform({2, 3}, 2).to(DType::f32));
  std::ostringstream tape;
  print_tape(tape, out);
  CAPTURE(tape.str());
  CHECK(contains(tape.str(), "matmul [2, 4] <-"));
  CHECK(contains(tape.str(), "(in fc1)"));
  CHECK(contains(tape.str(), "(in fc2)"));
  CHECK(model.fc2.layer_name() == "fc2");
  CHECK(contains(model.layer_name(), "TwoLayers"));  // the class name of a root module
}

TEST_CASE("anomaly mode: a finite forward with a non-finite gradient names the backward") {
  Tensor x = Tensor::from_vector(std::vector<double>{4, 0, 1}, {3}).requires_grad_();
  DetectAnomaly anomaly;
  Tensor loss = sum(sqrt(x));  // sqrt(0) = 0 is finite; its derivative 1 / (2 sqrt(0)) is not
  CHECK(std::isfinite(loss.item()));
  const std::string message = error_of([&] { backward(loss); });
  CAPTURE(message);
  CHECK(contains(message, "backward of #"));
  CHECK(contains(message, " sqrt "));
  CHECK(contains(message, "inf at index [1]"));
  CHECK(contains(message, "gradient for input 0 [3]"));
  CHECK(contains(message, "output shape [3]"));
}

TEST_CASE("anomaly mode off: the same graphs run, unchecked, with the same results") {
  REQUIRE_FALSE(detect_anomaly());
  const uint64_t checks_before = anomaly_checks_run();
  auto net = net_with_log();
  Tensor y = (*net)(Tensor::zeros({4, 3}));
  CHECK(std::isinf(y.to_vector()[0]));
  Tensor x = Tensor::from_vector(std::vector<double>{4, 0, 1}, {3}).requires_grad_();
  backward(sum(sqrt(x)));
  CHECK(std::isinf(x.grad().to_vector()[1]));
  CHECK(anomaly_checks_run() == checks_before);

  // A finite model computes bit for bit the same values and gradients with the mode on.
  TwoLayers model;
  Tensor input = test::uniform({3, 3}, 3).to(DType::f32);
  Tensor off = sum(model.forward(input));
  backward(off);
  const std::vector<double> grad_off = model.fc1.weight.grad().to_vector();
  model.zero_grad();
  std::vector<double> grad_on;
  double loss_on = 0;
  {
    DetectAnomaly anomaly;
    Tensor on = sum(model.forward(input));
    backward(on);
    loss_on = on.item();
    grad_on = model.fc1.weight.grad().to_vector();
  }
  CHECK(anomaly_checks_run() > checks_before);
  CHECK(loss_on == off.item());
  CHECK(grad_on == grad_off);
}

TEST_CASE("a Bayesian MLP: anomaly mode names the layer gone bad; without it the step stops on the loss") {
  BayesMLPConfig config;
  config.sizes = {4, 6, 3};
  config.schedule = "rt";
  config.train_size = 10;
  BayesMLP model(config);
  const Tensor x = test::uniform({5, 4}, 4).to(DType::f32);
  const Tensor labels = Tensor::from_vector(std::vector<int32_t>{0, 1, 2, 0, 1}, {5});
  const auto params = model.named_parameters();
  const auto fc2 =
      std::find_if(params.begin(), params.end(), [](const auto& p) { return p.first.rfind("fc2.", 0) == 0; });
  REQUIRE(fc2 != params.end());
  {
    NoGrad no_grad;
    Tensor weight = fc2->second;  // shares the parameter's storage
    std::vector<double> poisoned = weight.to_vector();
    poisoned[0] = std::numeric_limits<double>::quiet_NaN();
    weight.copy_(Tensor::from_vector(poisoned, weight.shape()));
  }
  {
    DetectAnomaly anomaly;
    const std::string message = error_of([&] { model.step(x, labels); });
    CAPTURE(message);
    CHECK(contains(message, "anomaly: forward of #"));
    CHECK(contains(message, "layer fc2"));
  }
  const std::vector<double> fc1_before = params.front().second.to_vector();
  const std::string message = error_of([&] { model.step(x, labels); });
  CAPTURE(message);
  CHECK(contains(message, "training stopped at step 1:"));  // the first step
  CHECK(contains(message, "--detect-anomaly"));
  CHECK(params.front().second.to_vector() == fc1_before);  // refused before the update
  CHECK(model.steps_taken() == 0);
}

TEST_CASE("DetectAnomaly restores the previous state") {
  REQUIRE_FALSE(detect_anomaly());
  {
    DetectAnomaly on;
    CHECK(detect_anomaly());
    {
      DetectAnomaly off(false);
      CHECK_FALSE(detect_anomaly());
    }
    CHECK(detect_anomaly());
  }
  CHECK_FALSE(detect_anomaly());
}

TEST_CASE("require_finite_loss: passes finite losses, stops on NaN and Inf naming the step") {
  CHECK_NOTHROW(require_finite_loss(Tensor::scalar(2.5), 3));
  CHECK_NOTHROW(require_finite_loss(-1e30, 3));
  const std::string nan_message =
      error_of([] { require_finite_loss(Tensor::scalar(std::numeric_limits<double>::quiet_NaN()), 7); });
  CAPTURE(nan_message);
  CHECK(contains(nan_message, "step 7"));
  CHECK(contains(nan_message, "nan"));
  CHECK(contains(nan_message, "--detect-anomaly"));
  CHECK(contains(nan_message, "set_detect_anomaly(true)"));
  const std::string inf_message =
      error_of([] { require_finite_loss(std::numeric_limits<double>::infinity(), 12); });
  CHECK(contains(inf_message, "step 12"));
  CHECK(contains(inf_message, "inf"));
  CHECK(contains(error_of([] { require_finite_loss(Tensor::zeros({2}), 0); }), "one element"));
}
