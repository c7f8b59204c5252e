#include "r2g2/models/bayes_mlp.h"

#include <cmath>

#include "r2g2/core/ops.h"

namespace r2g2 {

BayesMLP::BayesMLP(const BayesMLPConfig& config)
    : config_(config), train_gen_(derive_seed(config.seed, 1)), eval_gen_(derive_seed(config.seed, 2)) {
  R2G2_CHECK(config.sizes.size() >= 2, "BayesMLP: sizes needs at least an input and an output size, got ",
             config.sizes.size(), " numbers");
  for (int64_t s : config.sizes) R2G2_CHECK(s > 0, "BayesMLP: every size must be positive, got ", s);
  R2G2_CHECK(config.train_size > 0, "BayesMLP: train_size (N of the ELBO) must be positive, got ",
             config.train_size);
  R2G2_CHECK(config.kl_weight >= 0 && std::isfinite(config.kl_weight),
             "BayesMLP: kl_weight must be >= 0, got ", config.kl_weight);
  schedule_ = EstimatorSchedule(config.schedule);
  current_ = schedule_.name_at(0);
  for (size_t l = 0; l + 1 < config.sizes.size(); ++l) {
    BayesLinearOptions o;
    o.prior_sigma = config.prior_sigma;
    o.mu_init = config.mu_init;
    o.rho_init = config.rho_init;
    o.rho_init_std = config.rho_init_std;
    o.estimator = current_;
    o.estimator_options = config.estimator_options;
    o.seed = derive_seed(config.seed, 1000 + l);  // per layer (mu: this stream, rho: + 1)
    o.dtype = config.dtype;
    layers_.push_back(std::make_unique<BayesLinear>(config.sizes[l], config.sizes[l + 1], o));
    register_module("fc" + std::to_string(l + 1), layers_.back().get());
  }
}

std::vector<BayesLinear*> BayesMLP::layers() {
  std::vector<BayesLinear*> out;
  for (auto& l : layers_) out.push_back(l.get());
  return out;
}

Tensor BayesMLP::forward(const Tensor& x_in, Generator& gen) {
  Tensor h = x_in.dim() == 2 ? x_in : x_in.reshape({x_in.size(0), -1});
  for (size_t l = 0; l < layers_.size(); ++l) {
    h = layers_[l]->forward(h, gen);
    if (l + 1 < layers_.size()) h = relu(h);
  }
  return h;
}

Tensor BayesMLP::kl() const {
  Tensor total;
  for (const auto& l : layers_) total = total.defined() ? add(total, l->kl()) : l->kl();
  return total;
}

void BayesMLP::set_schedule(const EstimatorSchedule& schedule) {
  R2G2_CHECK(!schedule.empty(), "BayesMLP: empty estimator schedule");
  schedule_ = schedule;
  current_.clear();  // re-applied at the next step
}

void BayesMLP::apply_schedule(int64_t step) {
  const std::string& name = schedule_.name_at(step);
  if (name == current_) return;
  for (auto& l : layers_) l->set_estimator(name, config_.estimator_options);
  current_ = name;
}

std::vector<std::optional<R2G2Diagnostics>> BayesMLP::diagnostics() const {
  std::vector<std::optional<R2G2Diagnostics>> out;
  for (const auto& l : layers_) out.push_back(l->estimator().diagnostics());
  return out;
}

BayesMLP::Objective BayesMLP::objective(const Tensor& x, const Tensor& labels) {
  apply_schedule(step_);
  train(true);
  Objective o;
  // One softplus(rho) per layer serves both the estimator and the KL.
  Tensor h = x.dim() == 2 ? x : x.reshape({x.size(0), -1});
  for (size_t l = 0; l < layers_.size(); ++l) {
    auto [out, k] = layers_[l]->forward_and_kl(h, train_gen_);
    h = l + 1 < layers_.size() ? relu(out) : out;
    o.kl = o.kl.defined() ? add(o.kl, k) : k;
  }
  o.logits = h;
  o.nll = cross_entropy(o.logits, labels);
  o.loss = elbo_loss(o.nll, o.kl, config_.kl_weight, config_.train_size, bayesian_modules());
  return o;
}

Adam& BayesMLP::optimizer() { return lazy_adam(optimizer_, *this, config_.adam); }

BayesStepStats BayesMLP::step(const Tensor& x, const Tensor& labels) {
  BayesStepStats s =
      bayes_train_step([this]() -> Adam& { return optimizer(); }, [&] { return objective(x, labels); },
                       labels, config_.kl_weight, config_.train_size);
  s.step = step_++;
  s.estimator = current_;  // after objective() applied the schedule
  return s;
}

BayesEvalStats BayesMLP::evaluate(const Tensor& x, const Tensor& labels, int samples, int64_t batch_size) {
  return bayes_evaluate(
      *this, [this](const Tensor& xb) { return forward(xb, eval_gen_); }, x, labels, samples, batch_size,
      "BayesMLP::evaluate");
}

BayesEvalStats BayesMLP::evaluate(const data::Dataset& d, int samples, int64_t batch_size) {
  data::Dataset flat = d.flattened();
  Tensor x = flat.images.device() == device() ? flat.images : flat.images.to(device());
  Tensor y = flat.labels.device() == device() ? flat.labels : flat.labels.to(device());
  return evaluate(x, y, samples, batch_size);
}

void BayesMLP::to(Device device) {
  Module::to(device);
  rebuild_adam(optimizer_, *this, config_.adam);
}

}  // namespace r2g2
