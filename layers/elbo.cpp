#include "r2g2/layers/elbo.h"

#include "r2g2/core/error.h"
#include "r2g2/core/ops.h"

namespace r2g2 {

Tensor total_kl(Module& model) {
  Tensor total;
  for (BayesianModule* m : model.bayesian_modules()) total = total.defined() ? add(total, m->kl()) : m->kl();
  if (total.defined()) return total;
  const auto params = model.parameters();
  return params.empty() ? Tensor::zeros({}) : Tensor::zeros({}, params[0].dtype(), params[0].device());
}

Tensor with_score_surrogates(const Tensor& loss, const Tensor& data_term,
                             const std::vector<BayesianModule*>& layers) {
  R2G2_CHECK(loss.numel() == 1 && data_term.numel() == 1, "with_score_surrogates: the loss ",
             shape_str(loss.shape()), " and the data term ", shape_str(data_term.shape()), " must be scalars");
  Tensor out = loss;
  for (BayesianModule* m : layers) {
    if (!m->has_estimator() || !m->estimator().needs_surrogate()) continue;
    Tensor s = m->estimator().score_surrogate(data_term);
    if (s.defined()) out = add(out, sub(s, s.detach()));
  }
  return out;
}

Tensor with_score_surrogates(const Tensor& loss, Module& model) {
  return with_score_surrogates(loss, loss, model.bayesian_modules());
}

Tensor elbo_loss(const Tensor& nll, const Tensor& kl, double kl_weight, int64_t train_size,
                 const std::vector<BayesianModule*>& layers) {
  R2G2_CHECK(train_size > 0, "elbo_loss: train_size (N of the ELBO) must be positive, got ", train_size);
  return with_score_surrogates(add(nll, mul(kl, kl_weight / static_cast<double>(train_size))), nll, layers);
}

Tensor elbo_loss(const Tensor& nll, const Tensor& kl, double kl_weight, int64_t train_size, Module& model) {
  return elbo_loss(nll, kl, kl_weight, train_size, model.bayesian_modules());
}

}  // namespace r2g2
