#pragma once
// What the Bayesian classifiers (BayesMLP, BayesVGG) share: the mini-batch ELBO with its
// score-function surrogates, one training step and its statistics, the Monte-Carlo
// predictive evaluation (accuracy, test LL, ECE), and the lazily built Adam that follows
// the model across devices. Each model keeps its own layers, forward and estimator policy.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "r2g2/core/optim.h"
#include "r2g2/core/tensor.h"
#include "r2g2/layers/module.h"

namespace r2g2 {

struct BayesStepStats {
  int64_t step = 0;           // 0-based index of this step
  std::string estimator;      // the schedule's estimator for this step
  double loss = 0;            // (N/B sum NLL + kl_weight KL) / N
  double nll = 0;             // mean NLL of the batch under the sampled weights
  double kl = 0;              // total KL (all layers)
  double batch_accuracy = 0;  // of the training forward (sampled weights)
  double seconds = 0;         // wall time of the step (forward, backward, update)
};

struct BayesEvalStats {
  double accuracy = 0;  // of the Monte-Carlo predictive mean
  double test_ll = 0;   // mean log predictive probability, log (1/S) sum_s p(y | x, w_s)
  double ece = 0;       // expected calibration error, 15 equal-width confidence bins
  int64_t examples = 0;
  int samples = 0;  // S (0: the mean weights, deterministic)
};

// The objective of one mini-batch, as a model's objective() returns it.
struct BayesObjective {
  Tensor loss;  // what a step differentiates: NLL + kl_weight KL / N, plus score surrogates (value unchanged)
  Tensor nll;   // mean NLL
  Tensor kl;    // total KL
  Tensor logits;
};

// The per-example ELBO loss NLL + kl_weight KL / N (N = train_size), plus (s - s.detach())
// for every layer whose estimator needs a score surrogate s (of stopgrad(NLL)): the value
// stays the ELBO while the gradient gains the score term. The KL is analytic.
Tensor elbo_loss(const Tensor& nll, const Tensor& kl, double kl_weight, int64_t train_size,
                 const std::vector<BayesianModule*>& layers);

// One training step: zero_grad, objective, backward, Adam update, timed from the call (the
// optimizer may be built lazily inside it). Reads nll, kl, loss and the batch accuracy of
// the objective; the caller fills in `step` and `estimator`.
BayesStepStats bayes_train_step(const std::function<Adam&()>& optimizer,
                                const std::function<BayesObjective()>& objective, const Tensor& labels,
                                double kl_weight, int64_t train_size);

// Monte-Carlo predictive of `model` over `samples` weight draws (0: the mean weights), in
// batches of `batch_size`; forward(xb) returns the logits of one draw. Evaluates without
// gradients in eval mode and restores the training mode. `who` names the caller in errors.
BayesEvalStats bayes_evaluate(Module& model, const std::function<Tensor(const Tensor&)>& forward,
                              const Tensor& x, const Tensor& labels, int samples, int64_t batch_size,
                              const std::string& who);

// The model's Adam, built over its parameters at the first call (so after any move).
Adam& lazy_adam(std::unique_ptr<Adam>& optimizer, const Module& model, const AdamOptions& options);
// After model.to(device): rebuilds an already built optimizer over the moved parameters,
// carrying the moments and the step count along.
void rebuild_adam(std::unique_ptr<Adam>& optimizer, const Module& model, const AdamOptions& options);

// Expected calibration error: 15 equal-width bins of confidence (the top predicted
// probability), sum over bins of (bin size / n) |accuracy - mean confidence|.
double expected_calibration_error(const std::vector<double>& confidence, const std::vector<bool>& correct,
                                  int bins = 15);

}  // namespace r2g2
