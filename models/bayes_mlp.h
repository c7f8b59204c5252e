#pragma once
// The paper's Bayesian MLP (784-1024-1024-10, ReLU; sizes configurable): a BayesLinear
// per layer, trained on the mini-batch ELBO with Adam, the estimator of every layer set
// by an EstimatorSchedule ("r2g2:2000,rt"), Monte-Carlo prediction for evaluation.
//
//   BayesMLPConfig cfg;  cfg.schedule = "r2g2";  cfg.train_size = 60000;
//   BayesMLP model(cfg);  model.to(device);
//   for (batch ...) { BayesStepStats s = model.step(batch.images, batch.labels); }
//   BayesEvalStats e = model.evaluate(test_set, /*samples=*/10);
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "r2g2/core/data/datasets.h"
#include "r2g2/core/optim.h"
#include "r2g2/core/random.h"
#include "r2g2/estimators/estimator.h"
#include "r2g2/layers/bayes_linear.h"
#include "r2g2/layers/module.h"
#include "r2g2/layers/elbo.h"
#include "r2g2/models/trainer.h"

namespace r2g2 {

struct BayesMLPConfig {
  std::vector<int64_t> sizes{784, 1024, 1024, 10};  // input, hidden..., classes
  std::string schedule = "r2g2";                    // EstimatorSchedule spec, applied to every layer
  EstimatorOptions estimator_options;
  double prior_sigma = 1.0;
  WeightInit mu_init = WeightInit::he;
  double rho_init = -5.0;
  double rho_init_std = 0.0;
  // N of the mini-batch ELBO: the per-batch objective is -(N/B) sum_b log p(y_b | x_b, w) + KL,
  // differentiated and reported divided by N (mean NLL + KL / N).
  int64_t train_size = 60000;
  double kl_weight = 1.0;  // multiplies the KL term (1 = the ELBO)
  AdamOptions adam{1e-4};  // the paper's lr
  uint64_t seed = 0;  // initialisation, training and evaluation noise use derive_seed(seed, ...) streams
  DType dtype = DType::f32;
};

class BayesMLP : public Module {
 public:
  explicit BayesMLP(const BayesMLPConfig& config);

  // x [B, sizes[0]] (or [B, C, H, W], flattened) -> logits [B, classes], in the current
  // mode (train: estimators; eval: mean or sample weights), drawing from the layers'
  // noise source. The trainer owns the streams: it points the layers at its training stream
  // at every step and after every evaluation, so a set_noise_source lasts until then.
  Tensor forward(const Tensor& x) override;

  using Objective = BayesObjective;
  // The objective of one mini-batch in training mode with the estimators of the current
  // step (applies the schedule; draws from the training stream). Nothing is updated.
  Objective objective(const Tensor& x, const Tensor& labels) { return trainer_.objective(x, labels); }
  // One training step: schedule, forward, backward, Adam update.
  BayesStepStats step(const Tensor& x, const Tensor& labels) { return trainer_.step(x, labels); }

  // Monte-Carlo predictive over `samples` weight draws (0: mean weights), in batches.
  BayesEvalStats evaluate(const Tensor& x, const Tensor& labels, int samples, int64_t batch_size = 1000) {
    return trainer_.evaluate(x, labels, samples, batch_size);
  }
  BayesEvalStats evaluate(const data::Dataset& data, int samples, int64_t batch_size = 1000);

  // Estimators: a constant estimator or a schedule, applied to every layer.
  void set_estimator(const std::string& name) { set_schedule(EstimatorSchedule(name)); }
  void set_schedule(const EstimatorSchedule& schedule) { trainer_.set_schedule(schedule); }
  const EstimatorSchedule& schedule() const { return trainer_.schedule(); }
  void apply_schedule(int64_t step) { trainer_.apply_schedule(step); }
  const std::string& current_estimator() const { return trainer_.current_estimator(); }
  // R2-G2 read-out of each layer's last forward (nullopt for other estimators).
  std::vector<std::optional<R2G2Diagnostics>> diagnostics() const;

  std::vector<BayesLinear*> layers();
  Tensor kl() { return total_kl(*this); }  // total KL, recorded
  BayesTrainer& trainer() { return trainer_; }
  Generator& generator() { return trainer_.train_generator(); }
  Adam& optimizer() { return trainer_.optimizer(); }
  int64_t steps_taken() const { return trainer_.steps_taken(); }
  void set_steps_taken(int64_t s) { trainer_.set_steps_taken(s); }
  const BayesMLPConfig& config() const { return config_; }

 private:
  std::pair<Tensor, Tensor> forward_and_kl(const Tensor& x);
  BayesMLPConfig config_;
  std::vector<std::unique_ptr<BayesLinear>> layers_;
  BayesTrainer trainer_;
};

}  // namespace r2g2
