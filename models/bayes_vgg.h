#pragma once
// The paper's Bayesian VGG-11 for CIFAR-10: 3x3 conv layers of widths
// 64, M, 128, M, 256, 256, M, 512, 512, M, 512, 512, M (M = 2x2 max-pool, padding 1,
// ReLU after every conv), then a Bayesian classifier on the flattened 512 features.
// Estimators as in the paper: rt on the first four conv layers, the compared estimator
// (rt or r2g2) on the last four (4x4 and 2x2 maps: P = 16 and 4), lrt on the linear
// layers. The conv biases are deterministic (see layers/bayes_conv2d.h).
//
// The classifier defaults to one linear layer 512 -> 10 (the CIFAR VGG whose layer list
// the paper's matches); `classifier_hidden` adds hidden layers. This is an assumption:
// the paper does not print its classifier.
//
//   BayesVGGConfig cfg;  cfg.estimator = "r2g2";
//   BayesVGG model(cfg);  model.to(device);
//   for (batch ...) { BayesStepStats s = model.step(batch.images, batch.labels); }
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "r2g2/core/optim.h"
#include "r2g2/core/random.h"
#include "r2g2/estimators/estimator.h"
#include "r2g2/layers/bayes_conv2d.h"
#include "r2g2/layers/bayes_linear.h"
#include "r2g2/layers/module.h"
#include "r2g2/layers/elbo.h"
#include "r2g2/models/trainer.h"

namespace r2g2 {

struct BayesVGGConfig {
  std::vector<int> layers{64, 0, 128, 0, 256, 256, 0, 512, 512, 0, 512, 512, 0};  // 0: max-pool
  int in_channels = 3;
  int image_size = 32;
  int classes = 10;
  std::vector<int64_t> classifier_hidden{};  // hidden widths between the features and the classes
  int rt_conv_layers = 4;                    // the first conv layers keep `lower_estimator`
  std::string lower_estimator = "rt";
  std::string estimator = "r2g2";  // the remaining conv layers: the compared estimator
  std::string linear_estimator = "lrt";
  EstimatorOptions estimator_options;
  double prior_sigma = 1.0;
  WeightInit mu_init = WeightInit::he;
  double rho_init = -5.0;
  double rho_init_std = 0.0;
  int64_t train_size = 50000;  // N of the mini-batch ELBO (see BayesMLPConfig)
  double kl_weight = 1.0;
  AdamOptions adam{1e-4};  // the paper's lr
  uint64_t seed = 0;  // initialisation, training and evaluation noise use derive_seed(seed, ...) streams
  DType dtype = DType::f32;
};

class BayesVGG : public Module {
 public:
  explicit BayesVGG(const BayesVGGConfig& config);

  // x [B, in_channels, image_size, image_size] -> logits [B, classes], in the current mode,
  // drawing from the layers' noise source (the trainer's training stream, which it restores
  // at every step and after every evaluation).
  Tensor forward(const Tensor& x) override;
  // forward(x) and kl() with one softplus(rho) per layer serving both: what a training
  // step evaluates (the same values as the two calls).
  std::pair<Tensor, Tensor> forward_and_kl(const Tensor& x);

  using Objective = BayesObjective;
  Objective objective(const Tensor& x, const Tensor& labels) { return trainer_.objective(x, labels); }
  BayesStepStats step(const Tensor& x, const Tensor& labels) { return trainer_.step(x, labels); }

  // Monte-Carlo predictive over `samples` weight draws (0: the mean weights).
  BayesEvalStats evaluate(const Tensor& x, const Tensor& labels, int samples, int64_t batch_size = 500) {
    return trainer_.evaluate(x, labels, samples, batch_size);
  }

  // The compared estimator (or schedule) of the upper conv layers (the lower ones and the
  // linear layers keep theirs); takes effect at once.
  void set_estimator(const std::string& name);
  const std::string& estimator_name() const { return trainer_.current_estimator(); }
  // R2-G2 read-out of each conv layer's last forward (nullopt for other estimators).
  std::vector<std::optional<R2G2Diagnostics>> conv_diagnostics() const;

  std::vector<BayesConv2d*> conv_layers();
  std::vector<BayesLinear*> linear_layers();
  Tensor kl() { return total_kl(*this); }  // total KL over every Bayesian layer, recorded
  BayesTrainer& trainer() { return trainer_; }
  Generator& generator() { return trainer_.train_generator(); }
  Adam& optimizer() { return trainer_.optimizer(); }
  int64_t steps_taken() const { return trainer_.steps_taken(); }
  const BayesVGGConfig& config() const { return config_; }
  std::string describe() const;

 private:
  void check_input(const Tensor& x) const;
  BayesVGGConfig config_;
  std::vector<std::unique_ptr<BayesConv2d>> convs_;
  std::vector<bool> pool_after_;  // per conv layer: a max-pool follows
  int leading_pools_ = 0;         // pools before the first conv layer
  std::vector<std::unique_ptr<BayesLinear>> linears_;
  BayesTrainer trainer_;
};

}  // namespace r2g2
