#pragma once
// Base of every Bayesian layer (BayesLinear, BayesConv2d, LatentLinear): the estimator it
// uses in training, its forward mode, its noise source and its analytic KL to the prior.
#include <memory>
#include <string>

#include "r2g2/core/random.h"
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

  // The noise source: forward(x) draws its normals here (train and sample modes; mean
  // mode draws nothing). Each layer starts with a private stream derived from its options'
  // seed (see noise_seed), as its initialisation is: layers built with the same seed start
  // equal and draw the same numbers, so give each layer its own seed. set_generator gives
  // the layer a private copy of `gen`; Module::set_noise_source shares one stream between
  // every Bayesian layer of a tree, drawn from in the order the layers run (what a model
  // does so that one seed fixes a whole training run). A shared stream advances for
  // every layer that uses it, so reordering or adding layers changes the later draws.
  Generator& generator() { return *generator_; }
  std::shared_ptr<Generator> generator_handle() const { return generator_; }
  void set_generator(const Generator& gen) { generator_ = std::make_shared<Generator>(gen); }
  void share_generator(std::shared_ptr<Generator> gen);
  // The private stream of a layer initialised from `init_seed`.
  static uint64_t noise_seed(uint64_t init_seed) { return derive_seed(init_seed, 0x6E6F697365ull); }

  // KL(q || prior), summed over every weight and bias of the layer; recorded on the tape.
  // Zero-size tensor never: layers without a KL term (LatentLinear) return a scalar 0.
  virtual Tensor kl() const = 0;

  // Short description for logs: "BayesLinear(784 -> 1024, estimator r2g2)".
  virtual std::string describe() const = 0;

 private:
  std::unique_ptr<Estimator> estimator_;
  BayesMode eval_mode_ = BayesMode::mean;
  std::shared_ptr<Generator> generator_ = std::make_shared<Generator>();
};

// KL(N(mu, sigma^2) || N(0, prior_sigma^2)) summed over all elements:
//   sum log(prior_sigma / sigma) + (sigma^2 + mu^2) / (2 prior_sigma^2) - 1/2.
// prior_sigma must be > 0 (checked). Recorded on the tape as one node (gradients to mu and
// sigma), computed in one fused pass each way (kernels/gaussian.inc): the terms are summed
// in double in a fixed order, so the value does not depend on the thread count.
Tensor kl_to_zero_mean_gaussian(const Tensor& mu, const Tensor& sigma, double prior_sigma);
// The same for sigma = softplus(rho), with log sigma taken as log_softplus(rho): finite, with
// the right gradient, where sigma underflows to 0 (float32 rho < -104). The gradient goes
// to mu and rho directly (dKL/drho = (sigma / p^2 - 1/sigma) sigmoid(rho), written so that it
// stays finite), in the same pass. `sigma` is the caller's softplus(rho), shared with its
// forward pass: the KL reads it rather than computing softplus again, and does not
// differentiate it (passing anything but softplus(rho) gives a wrong KL). `slope`, when
// defined, is sigmoid(rho) as GaussianWeight::sigma computed it beside sigma: the backward
// then reads it instead of taking an exponential per element (the same bits).
Tensor kl_to_zero_mean_gaussian_rho(const Tensor& mu, const Tensor& rho, const Tensor& sigma,
                                    double prior_sigma, const Tensor& slope = {});
// The same, computing softplus(rho) itself.
Tensor kl_to_zero_mean_gaussian_rho(const Tensor& mu, const Tensor& rho, double prior_sigma);

}  // namespace r2g2
