#pragma once
// What is specific to Bayesian classifiers: the Monte-Carlo predictive evaluation
// (accuracy, test log-likelihood, calibration) and its statistics.
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "r2g2/core/tensor.h"
#include "r2g2/layers/module.h"

namespace r2g2 {

struct BayesEvalStats {
  double accuracy = 0;  // of the Monte-Carlo predictive mean
  double test_ll = 0;   // mean log predictive probability, log (1/S) sum_s p(y | x, w_s)
  double ece = 0;       // expected calibration error, 15 equal-width confidence bins
  int64_t examples = 0;
  int samples = 0;  // S (0: the mean weights, deterministic)
};

// Monte-Carlo predictive of `model` over `samples` weight draws (0: the mean weights), in
// batches of `batch_size`; forward(xb) returns the logits of one draw. Evaluates without
// gradients in eval mode and restores the training mode. `who` names the caller in errors.
BayesEvalStats bayes_evaluate(Module& model, const std::function<Tensor(const Tensor&)>& forward,
                              const Tensor& x, const Tensor& labels, int samples, int64_t batch_size,
                              const std::string& who);

// Expected calibration error: 15 equal-width bins of confidence (the top predicted
// probability), sum over bins of (bin size / n) |accuracy - mean confidence|.
double expected_calibration_error(const std::vector<double>& confidence, const std::vector<bool>& correct,
                                  int bins = 15);

}  // namespace r2g2
