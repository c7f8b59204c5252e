#include "r2g2/models/bayes_mlp.h"

#include "r2g2/core/ops.h"

namespace r2g2 {

namespace {
BayesTrainerOptions trainer_options(const BayesMLPConfig& c) {
  return {.train_size = c.train_size, .kl_weight = c.kl_weight, .adam = c.adam, .seed = c.seed};
}
}  // namespace

BayesMLP::BayesMLP(const BayesMLPConfig& config)
    : config_(config), trainer_(*this, trainer_options(config), "BayesMLP") {
  R2G2_CHECK(config.sizes.size() >= 2, "BayesMLP: sizes needs at least an input and an output size, got ",
             config.sizes.size(), " numbers");
  for (int64_t s : config.sizes) R2G2_CHECK(s > 0, "BayesMLP: every size must be positive, got ", s);
  const EstimatorSchedule schedule(config.schedule);
  for (size_t l = 0; l + 1 < config.sizes.size(); ++l) {
    BayesLinearOptions o;
    o.prior_sigma = config.prior_sigma;
    o.mu_init = config.mu_init;
    o.rho_init = config.rho_init;
    o.rho_init_std = config.rho_init_std;
    o.estimator = schedule.name_at(0);
    o.estimator_options = config.estimator_options;
    o.seed = derive_seed(config.seed, 1000 + l);  // per layer (mu: this stream, rho: + 1)
    o.dtype = config.dtype;
    layers_.push_back(std::make_unique<BayesLinear>(config.sizes[l], config.sizes[l + 1], o));
    register_module("fc" + std::to_string(l + 1), layers_.back().get());
  }
  trainer_.set_schedule(schedule, bayesian_modules(), config.estimator_options);
  trainer_.set_forward_and_kl([this](const Tensor& x) { return forward_and_kl(x); });
  trainer_.use_training_stream();
}

std::vector<BayesLinear*> BayesMLP::layers() {
  std::vector<BayesLinear*> out;
  for (auto& l : layers_) out.push_back(l.get());
  return out;
}

Tensor BayesMLP::forward(const Tensor& x) {
  Tensor h = x.dim() == 2 ? x : x.reshape({x.size(0), -1});
  for (size_t l = 0; l < layers_.size(); ++l) {
    h = layers_[l]->forward(h);
    if (l + 1 < layers_.size()) h = relu(h);
  }
  return h;
}

// One softplus(rho) per layer serves both the estimator and the KL.
std::pair<Tensor, Tensor> BayesMLP::forward_and_kl(const Tensor& x) {
  Tensor h = x.dim() == 2 ? x : x.reshape({x.size(0), -1}), kl;
  for (size_t l = 0; l < layers_.size(); ++l) {
    auto [out, k] = layers_[l]->forward_and_kl(h);
    h = l + 1 < layers_.size() ? relu(out) : out;
    kl = kl.defined() ? add(kl, k) : k;
  }
  return {h, kl};
}

std::vector<std::optional<R2G2Diagnostics>> BayesMLP::diagnostics() const {
  std::vector<std::optional<R2G2Diagnostics>> out;
  for (const auto& l : layers_) out.push_back(l->estimator().diagnostics());
  return out;
}

BayesEvalStats BayesMLP::evaluate(const data::Dataset& d, int samples, int64_t batch_size) {
  data::Dataset flat = d.flattened();
  Tensor x = flat.images.device() == device() ? flat.images : flat.images.to(device());
  Tensor y = flat.labels.device() == device() ? flat.labels : flat.labels.to(device());
  return evaluate(x, y, samples, batch_size);
}

}  // namespace r2g2
