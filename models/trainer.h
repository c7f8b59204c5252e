#pragma once
// One trainer for every Bayesian classifier: the mini-batch ELBO objective, the training
// step (Adam, built lazily over the model's parameters), the estimator schedule, the
// training and evaluation noise streams, and the Monte-Carlo predictive evaluation.
//
//   BayesTrainer trainer(model, {.train_size = 60000, .adam = {1e-3}, .seed = 1});
//   trainer.set_schedule(EstimatorSchedule("r2g2:2000,rt"), model.bayesian_modules());
//   for (batch ...) BayesStepStats s = trainer.step(batch.images, batch.labels);
//   BayesEvalStats e = trainer.evaluate(test_x, test_y, /*samples=*/10);
//
// The model is any Module whose forward(x) returns logits. The trainer makes every
// Bayesian layer of the model draw from its training stream (derive_seed(seed, 1)),
// and from its evaluation stream (derive_seed(seed, 2)) while evaluating, so one seed
// fixes a whole run. The model must outlive the trainer.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "r2g2/core/optim.h"
#include "r2g2/core/random.h"
#include "r2g2/estimators/estimator.h"
#include "r2g2/layers/bayes_module.h"
#include "r2g2/models/bayes_classifier.h"

namespace r2g2 {

struct BayesTrainerOptions {
  // N of the mini-batch ELBO: the per-batch objective -(N/B) sum_b log p(y_b | x_b, w) + KL,
  // differentiated and reported divided by N (mean NLL + KL / N).
  int64_t train_size = 60000;
  double kl_weight = 1.0;  // multiplies the KL term (1 = the ELBO)
  AdamOptions adam{1e-4};
  uint64_t seed = 0;  // training noise: derive_seed(seed, 1); evaluation noise: derive_seed(seed, 2)
  // Train with a CUDA graph (CUDA only): the first cuda_graph_warmup steps run eagerly (so
  // that the allocator's cache holds the step's blocks), the next is captured once with
  // the batch in static device buffers, and every step from then on copies its batch in
  // and replays it. Losses, parameters, noise streams and step counts are those of eager
  // steps. Needs one estimator for the whole run (a schedule that switches is refused), a
  // fixed batch shape, and an estimator that reads nothing back to the host mid-step.
  bool cuda_graph = false;
  int cuda_graph_warmup = 2;
};

struct BayesStepStats {
  int64_t step = 0;           // 0-based index of this step
  std::string estimator;      // the schedule's estimator for this step
  double loss = 0;            // (N/B sum NLL + kl_weight KL) / N
  double nll = 0;             // mean NLL of the batch under the sampled weights
  double kl = 0;              // total KL (all layers)
  double batch_accuracy = 0;  // of the training forward (sampled weights)
  double seconds = 0;         // wall time of the step (forward, backward, update)
};

// The objective of one mini-batch.
struct BayesObjective {
  Tensor loss;  // what a step differentiates: NLL + kl_weight KL / N, plus score surrogates (value unchanged)
  Tensor nll;   // mean NLL
  Tensor kl;    // total KL
  Tensor logits;
};

class BayesTrainer {
 public:
  // The logits and the total KL of one training forward (a model may share work between
  // them); the default is {model.forward(x), total_kl(model)}.
  using ForwardAndKl = std::function<std::pair<Tensor, Tensor>(const Tensor& x)>;

  // `who` names the model in errors ("BayesMLP").
  BayesTrainer(Module& model, const BayesTrainerOptions& options, std::string who);
  // Points every Bayesian layer of the model at the training stream. The constructor and
  // every objective() do it; a model that builds its layers after its trainer calls it
  // once they exist, so that a plain model.forward(x) draws from the run's stream too.
  void use_training_stream() { model_.set_noise_source(train_gen_); }
  void set_forward_and_kl(ForwardAndKl forward_and_kl) { forward_and_kl_ = std::move(forward_and_kl); }

  // The estimators of `layers` follow `schedule` from now on (applied at once for the
  // current step, then at every step). Layers outside `layers` keep their estimators.
  void set_schedule(const EstimatorSchedule& schedule, std::vector<BayesianModule*> layers,
                    const EstimatorOptions& options = {});
  void set_schedule(const EstimatorSchedule& schedule);  // same layers and options as before
  const EstimatorSchedule& schedule() const { return schedule_; }
  // Applies the schedule's estimator for `step` to the scheduled layers (a no-op when unchanged).
  void apply_schedule(int64_t step);
  const std::string& current_estimator() const { return current_; }

  // The objective of one mini-batch in training mode with the estimators of the current
  // step, drawn from the training stream. Nothing is updated.
  BayesObjective objective(const Tensor& x, const Tensor& labels);
  // zero_grad, objective, backward, Adam update, timed. objective() and step() refuse
  // (r2g2::Error, dropping the stale terms) when a score-function layer still holds the
  // term of an earlier forward whose loss lacked the surrogate. A non-finite loss stops the
  // step before the update (require_finite_loss, core/autograd.h): the parameters and the
  // step count stay as they were.
  BayesStepStats step(const Tensor& x, const Tensor& labels);
  // Turns the CUDA-graph mode (BayesTrainerOptions::cuda_graph) on or off; off drops the
  // captured graph. The parameters must not move or be replaced (Module::to, loading a
  // checkpoint) while a graph is captured: turn it off and on again after such a change.
  void set_cuda_graph(bool on);
  bool cuda_graph_captured() const;
  // Monte-Carlo predictive over `samples` weight draws (0: the mean weights), in batches,
  // drawn from the evaluation stream.
  BayesEvalStats evaluate(const Tensor& x, const Tensor& labels, int samples, int64_t batch_size);

  // Adam over the model's parameters, built at the first call. Module::to moves the
  // parameters in place, so the optimizer stays valid across moves.
  Adam& optimizer();
  Generator& train_generator() { return *train_gen_; }
  Generator& eval_generator() { return *eval_gen_; }
  int64_t steps_taken() const { return step_; }
  void set_steps_taken(int64_t steps) { step_ = steps; }
  const BayesTrainerOptions& options() const { return options_; }

 private:
  void refuse_pending_score_terms();
  // objective() with, when bad_row is given, the cross entropy kept on the device (a
  // captured step cannot read the loss back); bad_row then receives the label check.
  BayesObjective objective(const Tensor& x, const Tensor& labels, Tensor* bad_row);
  BayesStepStats eager_step(const Tensor& x, const Tensor& labels, bool device_loss);
  BayesStepStats graph_step(const Tensor& x, const Tensor& labels);
  void capture_graph();
  // Fills s.loss, s.nll, s.kl from the host values and raises a non-finite loss.
  void finish_stats(BayesStepStats& s, double nll, double kl) const;
  struct GraphState;  // trainer.cpp; shared_ptr so that the trainer stays movable
  std::shared_ptr<GraphState> graph_;
  Module& model_;
  BayesTrainerOptions options_;
  std::string who_;
  ForwardAndKl forward_and_kl_;
  EstimatorSchedule schedule_;
  std::vector<BayesianModule*> scheduled_;
  EstimatorOptions estimator_options_;
  std::string current_;
  std::shared_ptr<Generator> train_gen_, eval_gen_;
  std::unique_ptr<Adam> optimizer_;
  int64_t step_ = 0;
};

}  // namespace r2g2
