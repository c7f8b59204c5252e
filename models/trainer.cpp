#include "r2g2/models/trainer.h"

#include <chrono>
#include <cmath>

#include "r2g2/core/autograd.h"
#include "r2g2/core/error.h"
#include "r2g2/core/ops.h"
#include "r2g2/layers/elbo.h"

namespace r2g2 {

namespace {

// Points the model's Bayesian layers at `during` for a scope, then back at `after`.
class NoiseSourceScope {
 public:
  NoiseSourceScope(Module& model, std::shared_ptr<Generator> during, std::shared_ptr<Generator> after)
      : model_(model), after_(std::move(after)) {
    model_.set_noise_source(std::move(during));
  }
  ~NoiseSourceScope() { model_.set_noise_source(after_); }
  NoiseSourceScope(const NoiseSourceScope&) = delete;
  NoiseSourceScope& operator=(const NoiseSourceScope&) = delete;

 private:
  Module& model_;
  std::shared_ptr<Generator> after_;
};

}  // namespace

BayesTrainer::BayesTrainer(Module& model, const BayesTrainerOptions& options, std::string who)
    : model_(model),
      options_(options),
      who_(std::move(who)),
      train_gen_(std::make_shared<Generator>(derive_seed(options.seed, 1))),
      eval_gen_(std::make_shared<Generator>(derive_seed(options.seed, 2))) {
  R2G2_CHECK(options.train_size > 0, who_, ": train_size (N of the ELBO) must be positive, got ",
             options.train_size);
  R2G2_CHECK(options.kl_weight >= 0 && std::isfinite(options.kl_weight), who_, ": kl_weight must be >= 0, got ",
             options.kl_weight);
  use_training_stream();
}

void BayesTrainer::set_schedule(const EstimatorSchedule& schedule, std::vector<BayesianModule*> layers,
                                const EstimatorOptions& options) {
  scheduled_ = std::move(layers);
  estimator_options_ = options;
  set_schedule(schedule);
}

void BayesTrainer::set_schedule(const EstimatorSchedule& schedule) {
  R2G2_CHECK(!schedule.empty(), who_, ": empty estimator schedule");
  schedule_ = schedule;
  current_.clear();  // forces the re-application below
  apply_schedule(step_);
}

void BayesTrainer::apply_schedule(int64_t step) {
  if (schedule_.empty()) return;
  const std::string& name = schedule_.name_at(step);
  if (name == current_) return;
  for (BayesianModule* layer : scheduled_) layer->set_estimator(name, estimator_options_);
  current_ = name;
}

void BayesTrainer::refuse_pending_score_terms() {
  std::string stale;
  for (BayesianModule* m : model_.bayesian_modules()) {
    if (!m->has_estimator() || !m->estimator().has_pending_score_term()) continue;
    stale += (stale.empty() ? "" : ", ") + m->describe();
    m->estimator().discard_score_term();
  }
  if (!stale.empty())
    throw Error(who_ + ": refused: a forward left score-function terms that never reached a "
                       "loss (" + stale + "), so mu and sigma of those layers received no gradient; form such a "
                       "loss with elbo_loss or with_score_surrogates (layers/elbo.h). The terms are dropped.");
}

BayesObjective BayesTrainer::objective(const Tensor& x, const Tensor& labels) {
  refuse_pending_score_terms();
  apply_schedule(step_);
  model_.train(true);
  use_training_stream();
  BayesObjective o;
  if (forward_and_kl_) {
    std::tie(o.logits, o.kl) = forward_and_kl_(x);
  } else {
    o.logits = model_.forward(x);
    o.kl = total_kl(model_);
  }
  o.nll = cross_entropy(o.logits, labels);
  o.loss = elbo_loss(o.nll, o.kl, options_.kl_weight, options_.train_size, model_.bayesian_modules());
  return o;
}

Adam& BayesTrainer::optimizer() {
  if (!optimizer_) optimizer_ = std::make_unique<Adam>(model_.parameters(), options_.adam);
  return *optimizer_;
}

BayesStepStats BayesTrainer::step(const Tensor& x, const Tensor& labels) {
  const auto t0 = std::chrono::steady_clock::now();
  Adam& opt = optimizer();
  opt.zero_grad();
  BayesObjective o = objective(x, labels);
  backward(o.loss);
  BayesStepStats s;
  s.step = step_;
  s.estimator = current_;
  {
    // Read before the update (the device waits here either way), so that a non-finite
    // loss stops training with the parameters still finite.
    NoGrad no_grad;
    s.nll = o.nll.item();
    s.kl = o.kl.item();
    s.loss = s.nll + options_.kl_weight * s.kl / static_cast<double>(options_.train_size);
    require_finite_loss(s.loss, s.step + 1);  // steps count from 1 in messages
    auto pred = argmax(o.logits.detach(), 1).to_int_vector();
    auto lab = labels.to_int_vector();
    int64_t hit = 0;
    for (size_t i = 0; i < pred.size(); ++i) hit += pred[i] == lab[i];
    s.batch_accuracy = pred.empty() ? 0.0 : static_cast<double>(hit) / static_cast<double>(pred.size());
  }
  opt.step();
  ++step_;
  s.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return s;
}

BayesEvalStats BayesTrainer::evaluate(const Tensor& x, const Tensor& labels, int samples, int64_t batch_size) {
  NoiseSourceScope scope(model_, eval_gen_, train_gen_);
  return bayes_evaluate(
      model_, [this](const Tensor& xb) { return model_.forward(xb); }, x, labels, samples, batch_size,
      who_ + "::evaluate");
}

}  // namespace r2g2
