// BayesTrainer's CUDA-graph mode on a device: the Bayesian MLP trained from one seed with
// eager steps and with a captured, replayed step must give the same losses, parameters,
// noise offsets and step counts, bit for bit, and stop at a non-finite loss the same way.
// Needs a GPU (tools/gpu-check.sh runs it there and reports the two step times); without
// one it checks nothing and says so.
#include <doctest/doctest.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <limits>
#include <string>
#include <vector>

#include "r2g2/core/cuda_backend.h"
#include "r2g2/core/error.h"
#include "r2g2/models/bayes_mlp.h"

using namespace r2g2;

namespace {

BayesMLPConfig small_mlp(const std::vector<int64_t>& sizes) {
  BayesMLPConfig cfg;
  cfg.sizes = sizes;
  cfg.schedule = "lrt";  // R2-G2's solver reads a value back mid-step, which a graph cannot hold
  cfg.train_size = 6000;
  cfg.adam.lr = 1e-3;
  cfg.seed = 7;
  return cfg;
}

// Batch b of a fixed synthetic set: inputs from the Philox stream, labels b + i mod classes.
void batch(int64_t b, int64_t size, int64_t features, int64_t classes, Tensor* x, Tensor* y) {
  *x = Tensor::randn({size, features}, 99, static_cast<uint64_t>(b * size * features), DType::f32,
                     Device::cuda());
  std::vector<int32_t> labels(static_cast<size_t>(size));
  for (int64_t i = 0; i < size; ++i) labels[static_cast<size_t>(i)] = static_cast<int32_t>((b + i) % classes);
  *y = Tensor::from_vector(labels, {size}).to(Device::cuda());
}

bool same_parameters(BayesMLP& a, BayesMLP& b) {
  const auto pa = a.parameters(), pb = b.parameters();
  if (pa.size() != pb.size()) return false;
  for (size_t i = 0; i < pa.size(); ++i)
    if (pa[i].to_vector() != pb[i].to_vector()) return false;
  return true;
}

}  // namespace

TEST_CASE("CUDA graph: Bayesian MLP steps replayed from a graph equal eager steps bit for bit") {
  if (cuda_backend::device_count() == 0) {
    MESSAGE("no CUDA device (" << cuda_backend::unavailable_reason() << "): nothing checked");
    return;
  }
  const std::vector<int64_t> sizes{64, 32, 32, 10};
  BayesMLP eager(small_mlp(sizes)), graphed(small_mlp(sizes));
  eager.to(Device::cuda());
  graphed.to(Device::cuda());
  graphed.trainer().set_cuda_graph(true);
  constexpr int kSteps = 8;
  for (int s = 0; s < kSteps; ++s) {
    CAPTURE(s);
    Tensor x, y;
    batch(s, 16, sizes.front(), sizes.back(), &x, &y);
    const BayesStepStats e = eager.step(x, y), g = graphed.step(x, y);
    CHECK(g.loss == e.loss);
    CHECK(g.nll == e.nll);
    CHECK(g.kl == e.kl);
    CHECK(g.batch_accuracy == e.batch_accuracy);
    CHECK(graphed.generator().offset == eager.generator().offset);
    CHECK(graphed.optimizer().steps_taken() == eager.optimizer().steps_taken());
  }
  CHECK(graphed.trainer().cuda_graph_captured());
  CHECK(same_parameters(eager, graphed));

  // A NaN batch: both refuse with the same error and leave parameters and counts alone.
  Tensor x, y;
  batch(kSteps, 16, sizes.front(), sizes.back(), &x, &y);
  x = x * Tensor::from_vector(std::vector<float>{std::numeric_limits<float>::quiet_NaN()}, {1})
              .to(Device::cuda());
  auto error_of = [&](BayesMLP& model) {
    try {
      model.step(x, y);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  const std::string eager_error = error_of(eager);
  CHECK(eager_error.find("training stopped at step 9: the loss is") != std::string::npos);
  CHECK(error_of(graphed) == eager_error);
  CHECK(graphed.optimizer().steps_taken() == eager.optimizer().steps_taken());
  CHECK(graphed.generator().offset == eager.generator().offset);
  CHECK(same_parameters(eager, graphed));
  // ... and the next finite step still agrees.
  batch(kSteps + 1, 16, sizes.front(), sizes.back(), &x, &y);
  CHECK(graphed.step(x, y).loss == eager.step(x, y).loss);
  CHECK(same_parameters(eager, graphed));
}

TEST_CASE("CUDA graph: time of a paper-sized Bayesian MLP step, eager and replayed") {
  if (cuda_backend::device_count() == 0) {
    MESSAGE("no CUDA device: nothing timed");
    return;
  }
  const std::vector<int64_t> sizes{784, 1024, 1024, 10};
  BayesMLP eager(small_mlp(sizes)), graphed(small_mlp(sizes));
  eager.to(Device::cuda());
  graphed.to(Device::cuda());
  graphed.trainer().set_cuda_graph(true);
  std::vector<Tensor> xs(4), ys(4);
  for (int b = 0; b < 4; ++b) batch(b, 80, sizes.front(), sizes.back(), &xs[b], &ys[b]);
  auto time_steps = [&](BayesMLP& model, int from, int count) {
    double loss_sum = 0;
    const auto t0 = std::chrono::steady_clock::now();
    for (int s = from; s < from + count; ++s) loss_sum += model.step(xs[s % 4], ys[s % 4]).loss;
    cuda_backend::synchronize();
    const double ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    return std::make_pair(ms / count, loss_sum);
  };
  time_steps(eager, 0, 3);  // warm-up, and the graph's capture
  time_steps(graphed, 0, 3);
  const auto [eager_ms, eager_loss] = time_steps(eager, 3, 40);
  const auto [graph_ms, graph_loss] = time_steps(graphed, 3, 40);
  CHECK(graph_loss == eager_loss);
  std::printf(
      "cuda graph timing: MLP 784-1024-1024-10 batch 80 lrt: eager %.3f ms/step, graph %.3f ms/step "
      "(%.2fx)\n",
      eager_ms, graph_ms, graph_ms > 0 ? eager_ms / graph_ms : 0.0);
}
