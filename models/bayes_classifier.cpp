#include "r2g2/models/bayes_classifier.h"

#include <algorithm>
#include <cmath>

#include "r2g2/core/autograd.h"
#include "r2g2/core/ops.h"
#include "r2g2/layers/bayes_module.h"

namespace r2g2 {

BayesEvalStats bayes_evaluate(Module& model, const std::function<Tensor(const Tensor&)>& forward,
                              const Tensor& x, const Tensor& labels, int samples, int64_t batch_size,
                              const std::string& who) {
  R2G2_CHECK(samples >= 0, who, ": samples must be >= 0, got ", samples);
  R2G2_CHECK(batch_size > 0, who, ": batch_size must be > 0, got ", batch_size);
  R2G2_CHECK(x.size(0) == labels.numel(), who, ": ", x.size(0), " inputs but ", labels.numel(), " labels");
  NoGrad no_grad;
  const bool was_training = model.is_training();
  model.eval();
  for (BayesianModule* m : model.bayesian_modules())
    m->set_eval_mode(samples > 0 ? BayesMode::sample : BayesMode::mean);
  const int S = std::max(samples, 1);
  const int64_t n = x.size(0);
  const auto lab = labels.to_int_vector();
  std::vector<double> confidence;
  std::vector<bool> correct;
  double ll = 0;
  for (int64_t b0 = 0; b0 < n; b0 += batch_size) {
    const int64_t b = std::min(batch_size, n - b0);
    Tensor xb = x.slice(0, b0, b0 + b);
    std::vector<std::vector<double>> lp(S);
    int64_t C = 0;
    for (int s = 0; s < S; ++s) {
      Tensor logits = forward(xb);
      C = logits.size(1);
      lp[s] = log_softmax(logits, 1).to_vector();
    }
    for (int64_t i = 0; i < b; ++i) {
      // log of the mean predictive probability, per class (log-sum-exp over the draws)
      int64_t best = 0;
      double best_p = -1, log_py = 0;
      for (int64_t c = 0; c < C; ++c) {
        double m = -INFINITY;
        for (int s = 0; s < S; ++s) m = std::max(m, lp[s][i * C + c]);
        double acc = 0;
        for (int s = 0; s < S; ++s) acc += std::exp(lp[s][i * C + c] - m);
        const double logp = m + std::log(acc / S), p = std::exp(logp);
        if (p > best_p) best_p = p, best = c;
        if (c == lab[b0 + i]) log_py = logp;
      }
      ll += log_py;
      confidence.push_back(best_p);
      correct.push_back(best == lab[b0 + i]);
    }
  }
  model.train(was_training);
  BayesEvalStats e;
  e.examples = n;
  e.samples = samples;
  e.test_ll = n > 0 ? ll / static_cast<double>(n) : 0.0;
  int64_t hits = 0;
  for (bool c : correct) hits += c;
  e.accuracy = n > 0 ? static_cast<double>(hits) / static_cast<double>(n) : 0.0;
  e.ece = expected_calibration_error(confidence, correct);
  return e;
}

double expected_calibration_error(const std::vector<double>& confidence, const std::vector<bool>& correct,
                                  int bins) {
  R2G2_CHECK(confidence.size() == correct.size(), "expected_calibration_error: ", confidence.size(),
             " confidences but ", correct.size(), " outcomes");
  R2G2_CHECK(bins > 0, "expected_calibration_error: bins must be > 0");
  if (confidence.empty()) return 0.0;
  std::vector<double> conf_sum(bins, 0.0), acc_sum(bins, 0.0);
  std::vector<int64_t> count(bins, 0);
  for (size_t i = 0; i < confidence.size(); ++i) {
    int k = static_cast<int>(confidence[i] * bins);
    k = std::clamp(k, 0, bins - 1);
    conf_sum[k] += confidence[i];
    acc_sum[k] += correct[i] ? 1.0 : 0.0;
    ++count[k];
  }
  double ece = 0;
  for (int k = 0; k < bins; ++k)
    if (count[k] > 0) ece += std::abs(acc_sum[k] - conf_sum[k]) / static_cast<double>(confidence.size());
  return ece;
}

}  // namespace r2g2
