#include "r2g2/layers/bayes_module.h"

#include <cmath>

#include "r2g2/core/error.h"
#include "r2g2/core/ops.h"

namespace r2g2 {

const char* bayes_mode_name(BayesMode m) {
  switch (m) {
    case BayesMode::train:
      return "train";
    case BayesMode::mean:
      return "mean";
    case BayesMode::sample:
      return "sample";
  }
  return "?";
}

void BayesianModule::set_estimator(std::unique_ptr<Estimator> estimator) {
  R2G2_CHECK(estimator != nullptr, "BayesianModule::set_estimator: null estimator");
  estimator_ = std::move(estimator);
}

void BayesianModule::set_estimator(const std::string& name, const EstimatorOptions& options) {
  set_estimator(make_estimator(name, options));
}

Estimator& BayesianModule::estimator() const {
  R2G2_CHECK(estimator_ != nullptr, describe(), ": no estimator set");
  return *estimator_;
}

void BayesianModule::set_eval_mode(BayesMode m) {
  R2G2_CHECK(m != BayesMode::train, "set_eval_mode: the evaluation mode is mean or sample, not train");
  eval_mode_ = m;
}

void BayesianModule::share_generator(std::shared_ptr<Generator> gen) {
  R2G2_CHECK(gen != nullptr, describe(), ": null generator");
  generator_ = std::move(gen);
}

namespace {
Tensor kl_with_log_sigma(const Tensor& mu, const Tensor& sigma, const Tensor& log_sigma, double prior_sigma) {
  R2G2_CHECK(prior_sigma > 0 && std::isfinite(prior_sigma),
             "KL: the prior standard deviation must be > 0, got ", prior_sigma);
  R2G2_CHECK(mu.shape() == sigma.shape(), "KL: mu ", shape_str(mu.shape()), " and sigma ",
             shape_str(sigma.shape()), " differ in shape");
  const double inv_2p2 = 0.5 / (prior_sigma * prior_sigma);
  const double n = static_cast<double>(mu.numel());
  // sum(-log sigma) + sum(sigma^2 + mu^2) / (2 p^2) + n (log p - 1/2)
  Tensor quad = mul(add(sum(square(sigma)), sum(square(mu))), inv_2p2);
  return add(sub(quad, sum(log_sigma)), n * (std::log(prior_sigma) - 0.5));
}
}  // namespace

Tensor kl_to_zero_mean_gaussian(const Tensor& mu, const Tensor& sigma, double prior_sigma) {
  return kl_with_log_sigma(mu, sigma, log(sigma), prior_sigma);
}

Tensor kl_to_zero_mean_gaussian_rho(const Tensor& mu, const Tensor& rho, const Tensor& sigma,
                                    double prior_sigma) {
  R2G2_CHECK(rho.shape() == sigma.shape(), "KL: rho ", shape_str(rho.shape()), " and sigma ",
             shape_str(sigma.shape()), " differ in shape");
  return kl_with_log_sigma(mu, sigma, log_softplus(rho), prior_sigma);
}

}  // namespace r2g2
