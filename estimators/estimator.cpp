// Estimator: argument checks and the table look-up, written once for every estimator.
#include "r2g2/core/autograd.h"
#include "r2g2/core/error.h"
#include "r2g2/core/ops.h"
#include "r2g2/estimators/common.h"
#include "r2g2/estimators/table.h"

namespace r2g2 {

namespace est {

const char* layer_kind_name(LayerKind kind) {
  switch (kind) {
    case LayerKind::linear:
      return "Bayesian linear layer";
    case LayerKind::conv2d:
      return "conv2d layer";
    case LayerKind::latent_linear:
      return "Gaussian latent followed by a linear layer";
  }
  return "layer";
}

void EstimatorState::add_log_q(const Tensor& lq) {
  if (!grad_enabled()) return;  // evaluation: nothing will be differentiated
  log_q = log_q.defined() ? add(log_q, lq) : lq;
}

void EstimatorState::set_diagnostics(std::function<R2G2Diagnostics()> later) {
  pending_diagnostics = std::move(later);
  diagnostics.reset();
}

void EstimatorState::set_diagnostics(const R2G2Diagnostics& now) {
  pending_diagnostics = nullptr;
  diagnostics = now;
}

namespace {

bool supports(const EstimatorEntry& e, LayerKind kind) {
  switch (kind) {
    case LayerKind::linear:
      return e.linear != nullptr;
    case LayerKind::conv2d:
      return e.conv2d != nullptr;
    case LayerKind::latent_linear:
      return e.latent_linear != nullptr;
  }
  return false;
}

// The function for `kind`, or the error that names what the estimator does support.
template <class Fn>
Fn lookup(const EstimatorEntry& e, Fn fn, LayerKind kind) {
  if (fn) return fn;
  std::string msg = std::string(e.name) + " cannot be used on a " + layer_kind_name(kind);
  for (const Unsupported& u : e.why_not)
    if (u.kind == kind) msg += std::string(": ") + u.why;
  std::string kinds;
  for (LayerKind k : {LayerKind::linear, LayerKind::conv2d, LayerKind::latent_linear})
    if (supports(e, k)) kinds += (kinds.empty() ? "" : ", ") + std::string(layer_kind_name(k));
  throw Error(msg + " (" + e.name + " supports: " + (kinds.empty() ? "no layer kind" : kinds) + ")");
}

}  // namespace
}  // namespace est

Estimator::Estimator(const est::EstimatorEntry& entry, const EstimatorOptions& options)
    : entry_(&entry), state_(std::make_unique<est::EstimatorState>()) {
  state_->options = entry.adjust_options ? entry.adjust_options(options) : options;
}

Estimator::~Estimator() = default;

std::string Estimator::name() const { return entry_->name; }

void Estimator::refuse_pending_score_term() {
  if (!state_->log_q.defined() || !grad_enabled()) return;
  state_->log_q = Tensor();
  throw Error(std::string(entry_->name) +
              ": the score-function term of the previous forward was never added to a loss, so mu and sigma "
              "received no gradient; form the loss with elbo_loss(...) or with_score_surrogates(loss, model) "
              "(layers/elbo.h) before backward, or train through BayesTrainer");
}

bool Estimator::has_pending_score_term() const { return state_->log_q.defined(); }

void Estimator::discard_score_term() { state_->log_q = Tensor(); }

Tensor Estimator::linear(const Tensor& x, const Tensor& mu, const Tensor& sigma, const Tensor& bias_mu,
                         const Tensor& bias_sigma, Generator& gen) {
  auto fn = est::lookup(*entry_, entry_->linear, est::LayerKind::linear);
  refuse_pending_score_term();
  est::check_linear_args(entry_->name, x, mu, sigma, bias_mu, bias_sigma);
  return fn(*state_, x, mu, sigma, bias_mu, bias_sigma, gen);
}

Tensor Estimator::latent_linear(const Tensor& mu, const Tensor& sigma, const Tensor& weight,
                                const Tensor& bias, Generator& gen) {
  auto fn = est::lookup(*entry_, entry_->latent_linear, est::LayerKind::latent_linear);
  refuse_pending_score_term();
  est::check_latent_args(entry_->name, mu, sigma, weight, bias);
  return fn(*state_, mu, sigma, weight, bias, gen);
}

Tensor Estimator::conv2d(const Tensor& x, const Tensor& mu, const Tensor& sigma, Conv2dParams p,
                         Generator& gen) {
  auto fn = est::lookup(*entry_, entry_->conv2d, est::LayerKind::conv2d);
  refuse_pending_score_term();
  est::check_conv_args(entry_->name, x, mu, sigma);
  return fn(*state_, x, mu, sigma, p, gen);
}

Tensor Estimator::score_surrogate(const Tensor& loss) {
  if (!state_->log_q.defined()) return {};
  Tensor s = mul(state_->log_q, loss.detach());
  state_->log_q = Tensor();
  return s;
}

bool Estimator::needs_surrogate() const { return entry_->needs_surrogate; }

std::optional<R2G2Diagnostics> Estimator::diagnostics() const {
  if (!state_->diagnostics && state_->pending_diagnostics)
    state_->diagnostics = state_->pending_diagnostics();
  return state_->diagnostics;
}

}  // namespace r2g2
