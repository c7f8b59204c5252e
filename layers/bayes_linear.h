#pragma once
// Bayesian fully connected layer: W ~ N(mu, softplus(rho)^2) mean field, an optional
// Gaussian bias, prior N(0, prior_sigma^2) on every weight and bias.
#include <cstdint>
#include <string>
#include <utility>

#include "r2g2/core/random.h"
#include "r2g2/core/tensor.h"
#include "r2g2/layers/bayes_module.h"
#include "r2g2/layers/gaussian_weight.h"
#include "r2g2/layers/init.h"

namespace r2g2 {

struct BayesLinearOptions {
  bool bias = true;           // a bias term
  bool bayesian_bias = true;  // Gaussian bias (bias_mu, bias_rho, in the KL); false: deterministic bias_mu
  double prior_sigma = 1.0;   // prior N(0, prior_sigma^2), must be > 0
  WeightInit mu_init = WeightInit::he;
  double rho_init = -5.0;     // sigma = softplus(rho): softplus(-5) = 0.0067
  double rho_init_std = 0.0;  // rho = rho_init + rho_init_std * N(0, 1)
  std::string estimator = "rt";
  EstimatorOptions estimator_options;
  // Initialisation streams: seed for mu, seed + 1 for rho; the layer's own noise stream
  // is BayesianModule::noise_seed(seed) until a model shares one (set_noise_source).
  uint64_t seed = 0;
  DType dtype = DType::f32;
};

class BayesLinear : public BayesianModule {
 public:
  BayesLinear(int64_t in_features, int64_t out_features, const BayesLinearOptions& options = {});

  // x [N, in] -> [N, out]. Mode train: the estimator (noise from the layer's generator);
  // mean: x mu^T + bias_mu; sample: one weight draw, recorded as plain ops.
  Tensor forward(const Tensor& x) override { return forward(x, generator()); }
  // The same with the noise drawn from `gen` instead of the layer's generator.
  Tensor forward(const Tensor& x, Generator& gen);

  Tensor kl() const override;
  // forward(x) and kl() sharing one softplus(rho) (the training step needs both).
  std::pair<Tensor, Tensor> forward_and_kl(const Tensor& x);
  std::string describe() const override;

  Tensor sigma() const { return weight.sigma(); }     // softplus(rho), recorded
  Tensor bias_sigma() const { return bias.sigma(); }  // softplus(bias_rho), or undefined without a Gaussian bias
  int64_t in_features() const { return in_; }
  int64_t out_features() const { return out_; }
  double prior_sigma() const { return weight.prior_sigma(); }

  GaussianWeight weight;  // [out, in]
  GaussianWeight bias;    // [out]; absent without a bias, a point mass without a Gaussian bias
  // The parameters by their checkpoint names.
  Tensor& mu = weight.mu;
  Tensor& rho = weight.rho;
  Tensor& bias_mu = bias.mu;
  Tensor& bias_rho = bias.rho;

 private:
  Tensor forward_with(const Tensor& x, Generator& gen, const Tensor& sigma, const Tensor& bias_sigma);
  Tensor kl_with(const Tensor& sigma, const Tensor& bias_sigma) const;
  int64_t in_, out_;
};

}  // namespace r2g2
