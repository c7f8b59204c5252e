#pragma once
// The objective of a Bayesian network: the KL of all its Bayesian layers, the mini-batch
// ELBO, and the score-function surrogates that estimators such as `score` need.
//
// A score-function estimator blocks the pathwise gradient to mu and sigma and keeps
// log q of its draw instead; the gradient reaches mu and sigma only if the loss that is
// differentiated carries the surrogate (s - s.detach()), s = stopgrad(data term) * log q.
// elbo_loss adds it; a loss formed by hand goes through with_score_surrogates. A layer
// whose surrogate was never added refuses its next training forward (see
// Estimator::has_pending_score_term), so the omission cannot pass silently.
#include <cstdint>
#include <vector>

#include "r2g2/core/tensor.h"
#include "r2g2/layers/bayes_module.h"

namespace r2g2 {

// Sum of kl() over every Bayesian layer of `model` (itself included), in registration
// order; recorded. A scalar 0 when the tree has none.
Tensor total_kl(Module& model);

// `loss` plus (s - s.detach()) for every layer whose estimator holds a pending score term,
// s = stopgrad(data_term) * log q: the value stays `loss`, the gradient gains the score
// term. `data_term` is the part of the loss that depends on the sampled weights (the NLL;
// an analytic KL has its own gradient and stays out).
Tensor with_score_surrogates(const Tensor& loss, const Tensor& data_term,
                             const std::vector<BayesianModule*>& layers);
// The same with data_term = loss, over the Bayesian layers of `model`.
Tensor with_score_surrogates(const Tensor& loss, Module& model);

// The per-example mini-batch ELBO loss NLL + kl_weight KL / N (N = train_size), with the
// score surrogates of `layers` (of the NLL).
Tensor elbo_loss(const Tensor& nll, const Tensor& kl, double kl_weight, int64_t train_size,
                 const std::vector<BayesianModule*>& layers);
Tensor elbo_loss(const Tensor& nll, const Tensor& kl, double kl_weight, int64_t train_size, Module& model);

}  // namespace r2g2
