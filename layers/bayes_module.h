#pragma once
// Base of every Bayesian layer (BayesLinear, BayesConv2d, LatentLinear): the estimator it
// uses in training, its forward mode, and its analytic KL to the prior.
#include <memory>
#include <string>

#include "r2g2/estimators/estimator.h"
#include "r2g2/layers/module.h"

namespace r2g2 {

// train: the estimator draws the noise and records its gradient.
// mean: deterministic, weights = mu (no noise).
// sample: one fresh weight draw per forward (Monte-Carlo prediction with S forwards);
//         the draw is the plain reparameterisation, recorded as ordinary ops.
enum class BayesMode { train, mean, sample };
const char* bayes_mode_name(BayesMode m);

class BayesianModule : public Module {
 public:
  // Replaces this layer's estimator (takes effect at the next forward).
  void set_estimator(std::unique_ptr<Estimator> estimator);
  void set_estimator(const std::string& name, const EstimatorOptions& options = {});
  Estimator& estimator() const;
  bool has_estimator() const { return estimator_ != nullptr; }

  // Forward mode: `train` while the module is training, else the evaluation mode
  // (mean unless set_eval_mode(sample)).
  BayesMode mode() const { return is_training() ? BayesMode::train : eval_mode_; }
  void set_eval_mode(BayesMode m);  // mean or sample

  // KL(q || prior), summed over every weight and bias of the layer; recorded on the tape.
  // Zero-size tensor never: layers without a KL term (LatentLinear) return a scalar 0.
  virtual Tensor kl() const = 0;

  // Short description for logs: "BayesLinear(784 -> 1024, estimator r2g2)".
  virtual std::string describe() const = 0;

 private:
  std::unique_ptr<Estimator> estimator_;
  BayesMode eval_mode_ = BayesMode::mean;
};

// KL(N(mu, sigma^2) || N(0, prior_sigma^2)) summed over all elements:
//   sum log(prior_sigma / sigma) + (sigma^2 + mu^2) / (2 prior_sigma^2) - 1/2.
// prior_sigma must be > 0 (checked). Recorded on the tape (gradients to mu and sigma).
Tensor kl_to_zero_mean_gaussian(const Tensor& mu, const Tensor& sigma, double prior_sigma);
// The same for sigma = softplus(rho), with log sigma taken as log_softplus(rho): finite, with
// the right gradient, where sigma underflows to 0 (float32 rho < -104). `sigma` is the
// caller's softplus(rho), shared with its forward pass.
Tensor kl_to_zero_mean_gaussian_rho(const Tensor& mu, const Tensor& rho, const Tensor& sigma,
                                    double prior_sigma);

}  // namespace r2g2
