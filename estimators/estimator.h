#pragma once
// One interface for every Gaussian reparameterisation gradient estimator (see
// estimators/README.md for the notation: mu, sigma, eps, eps_star, L, A, K).
//
// A Bayesian layer hands its estimator the Gaussian (mu, sigma; sigma = softplus(rho)
// already computed on the tape) and the linear map that follows it. The estimator
// draws the noise, computes the pre-activation h and records ONE tape node whose
// backward is the estimator's gradient (no stop-gradient trick, no h* forward pass).
//
// Names (make_estimator): rt, rt-per-example, lrt, flipout, score, r2g2, r2g2-paper,
// r2g2-shared. An estimator object keeps per-layer state (diagnostics, the pending
// score term), so every layer owns its own instance.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "r2g2/core/ops.h"
#include "r2g2/core/random.h"
#include "r2g2/core/tensor.h"
#include "r2g2/estimators/r2g2_options.h"

namespace r2g2 {

// Settings an estimator may read; each reads only its own.
struct EstimatorOptions {
  R2G2Options r2g2;  // r2g2*: the solve (r2g2-paper forces R2G2Solver::paper)
  // r2g2 on a linear layer: false (default) samples the pre-activations LRT-style (one
  // normal per example and unit, as the paper); true samples one weight matrix per
  // mini-batch exactly as rt does (same forward values as rt for the same noise).
  // "r2g2-shared" is r2g2 with this set.
  bool r2g2_shared_sample = false;
};

namespace est {
struct EstimatorEntry;
struct EstimatorState;
}  // namespace est

// One estimator bound to one layer. Which function serves which layer kind is the
// table in registry.cpp; a pair missing there is an r2g2::Error naming the estimator,
// the layer kind, why (where known) and the kinds the estimator does support.
class Estimator {
 public:
  Estimator(const est::EstimatorEntry& entry, const EstimatorOptions& options);
  ~Estimator();
  Estimator(const Estimator&) = delete;
  Estimator& operator=(const Estimator&) = delete;

  std::string name() const;

  // Bayesian linear layer h = x W^T + b, W ~ N(mu, sigma^2) and b ~ N(bias_mu, bias_sigma^2)
  // mean field. x [N, in]; mu, sigma [out, in]; bias_mu, bias_sigma [out]. No bias: both
  // undefined; deterministic bias: bias_sigma undefined. The Gaussian bias is treated
  // exactly as an extra input column of ones (one more weight per output unit); it is
  // handled in place rather than by concatenation, to avoid copying x and the weights.
  // Returns h [N, out] with gradients to x, mu, sigma, bias_mu, bias_sigma.
  Tensor linear(const Tensor& x, const Tensor& mu, const Tensor& sigma, const Tensor& bias_mu,
                const Tensor& bias_sigma, Generator& gen);

  // Gaussian latent z ~ N(mu, sigma^2), one per example (mu, sigma [N, D], e.g. a VAE
  // encoder's output), followed by a deterministic linear layer: h = z W^T + bias [N, m],
  // weight [m, D], bias [m] or undefined. Gradients to mu, sigma, weight, bias.
  Tensor latent_linear(const Tensor& mu, const Tensor& sigma, const Tensor& weight, const Tensor& bias,
                       Generator& gen);

  // Bayesian conv2d WITHOUT bias (the layer adds its own bias term): x [N, C, H, W],
  // mu, sigma [O, C, kh, kw] -> h [N, O, OH, OW], gradients to x, mu, sigma.
  Tensor conv2d(const Tensor& x, const Tensor& mu, const Tensor& sigma, Conv2dParams p, Generator& gen);

  // Score-function hook. A pathwise estimator returns an undefined Tensor. The score
  // estimator blocks the pathwise gradient to mu/sigma in its forward and keeps
  // log q(sample) of its draw (recorded only while gradients are enabled); this returns
  // s = stopgrad(loss) * log q and forgets the draw. The model adds (s - s.detach())
  // to the loss it differentiates: the value is unchanged and autodiff delivers
  // loss * d log q / d(mu, sigma). (layers/elbo.h does this for a whole model.)
  Tensor score_surrogate(const Tensor& loss);
  // True for estimators whose gradient needs score_surrogate to be added to the loss.
  bool needs_surrogate() const;
  // True between a recorded forward of a score estimator and its score_surrogate. A
  // recorded forward that finds a term still pending refuses (and drops the old term):
  // the previous loss was differentiated without the surrogate, so mu and sigma got no
  // gradient. At most one term is ever pending.
  bool has_pending_score_term() const;
  // Forgets a pending term (a caller that refuses a step clears every layer at once).
  void discard_score_term();

  // R2-G2 read-out of the last forward pass (nullopt for estimators without a solve,
  // or before the first forward).
  std::optional<R2G2Diagnostics> diagnostics() const;

 private:
  void refuse_pending_score_term();
  const est::EstimatorEntry* entry_;
  std::unique_ptr<est::EstimatorState> state_;
};

// Builds an estimator by name; an unknown name throws r2g2::Error listing the known ones.
std::unique_ptr<Estimator> make_estimator(const std::string& name, const EstimatorOptions& options = {});
std::vector<std::string> estimator_names();
std::string estimator_names_joined();  // "rt, rt-per-example, ..." for help texts

// Estimators chosen by training step, parsed from "name[:steps],name[:steps],...,name":
// "r2g2:2000,rt" is r2g2 for steps [0, 2000), then rt. Every segment but the last needs
// a positive step count; the last runs for the rest of training (a count there is
// accepted and ignored). A single name is a constant schedule. Names are checked
// against the registry when parsed.
class EstimatorSchedule {
 public:
  EstimatorSchedule() = default;
  explicit EstimatorSchedule(const std::string& spec);
  static EstimatorSchedule constant(const std::string& name) { return EstimatorSchedule(name); }
  // The estimator for (0-based) training step `step`.
  const std::string& name_at(int64_t step) const;
  bool empty() const { return segments_.empty(); }
  std::string str() const;  // canonical "r2g2:2000,rt"
  const std::vector<std::pair<std::string, int64_t>>& segments() const { return segments_; }

 private:
  std::vector<std::pair<std::string, int64_t>> segments_;  // (name, steps); last count unused
};

}  // namespace r2g2
