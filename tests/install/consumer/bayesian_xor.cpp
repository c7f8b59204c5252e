// bayesian_xor.cpp: write your own Bayesian model. A small Bayesian MLP built with
// Sequential, one gradient estimator per layer, trained on the ELBO of a synthetic
// problem, saved with save_module and loaded into a fresh model.
#include <r2g2/r2g2.h>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

using namespace r2g2;

// Points of the plane labelled by the sign of x * y (XOR): no linear model separates them.
struct Problem {
  Tensor points;  // float32 [n, 2]
  Tensor labels;  // int32 [n]
};

Problem make_xor(int64_t n, uint64_t seed) {
  Tensor points = Generator(seed).randn({n, 2});
  const std::vector<double> xy = points.to_vector();
  std::vector<int32_t> labels(n);
  for (int64_t i = 0; i < n; ++i) labels[i] = xy[2 * i] * xy[2 * i + 1] > 0 ? 1 : 0;
  return {points, Tensor::from_vector(labels, {n})};
}

// 2 -> 32 -> 2: R2-G2 gradients for the hidden layer, the local reparameterisation
// trick for the output layer. All noise comes from one stream, so a seed fixes a run.
void build_model(Sequential& net, uint64_t seed, std::shared_ptr<Generator> noise) {
  auto layer = [&](int64_t in, int64_t out, const char* estimator) {
    BayesLinearOptions options;
    options.estimator = estimator;
    options.seed = seed++;
    return std::make_unique<BayesLinear>(in, out, options);
  };
  net.push_back(layer(2, 32, "r2g2"));
  net.push_back(std::make_unique<ReLU>());
  net.push_back(layer(32, 2, "lrt"));
  net.set_noise_source(std::move(noise));
}

// The prediction of the mean network (weights = mu), and its accuracy.
std::vector<double> predict(Sequential& net, const Tensor& points) {
  net.eval();
  NoGrad no_grad;
  return net.forward(points).to_vector();
}

double accuracy(const std::vector<double>& logits, const Tensor& labels) {
  const std::vector<double> truth = labels.to_vector();
  int64_t right = 0;
  for (size_t i = 0; i < truth.size(); ++i) right += (logits[2 * i + 1] > logits[2 * i]) == (truth[i] == 1);
  return static_cast<double>(right) / static_cast<double>(truth.size());
}

int main() {
  const int64_t n = 1024;
  const int steps = 300;
  const Problem train = make_xor(n, 1), test = make_xor(n, 2);

  Sequential net;
  auto noise = std::make_shared<Generator>(derive_seed(7, 1));
  build_model(net, 7, noise);
  Adam adam(net.parameters(), {.lr = 0.02});
  for (int step = 0; step < steps; ++step) {
    Tensor nll = cross_entropy(net.forward(train.points), train.labels);
    Tensor loss = elbo_loss(nll, total_kl(net), /*kl_weight=*/1.0, /*train_size=*/n, net);
    adam.zero_grad();
    backward(loss);
    adam.step();
  }
  const std::vector<double> predicted = predict(net, test.points);

  // Everything needed to resume: parameters, Adam's moments, the noise stream's position.
  TrainingState state{.optimizer = &adam, .generators = {{"noise", noise.get()}}};
  state.metadata["step"] = std::to_string(steps);
  save_module(net, "bayesian_xor.ckpt", state);

  Sequential reloaded;
  build_model(reloaded, 8, std::make_shared<Generator>(0));
  const bool differed = predict(reloaded, test.points) != predicted;
  load_module(reloaded, "bayesian_xor.ckpt");
  const bool identical = differed && predict(reloaded, test.points) == predicted;

  std::printf("test accuracy %.2f after %d steps, reloaded predictions identical: %s\n",
              accuracy(predicted, test.labels), steps, identical ? "yes" : "no");
  return identical ? 0 : 1;
}
