#pragma once
// One mean-field Gaussian weight tensor of a Bayesian layer: W ~ N(mu, softplus(rho)^2)
// elementwise, with the prior N(0, prior_sigma^2) on every element. BayesLinear holds one
// for its weights and one for its bias; BayesConv2d one for its kernels.
#include <cstdint>
#include <string>

#include "r2g2/core/random.h"
#include "r2g2/core/tensor.h"

namespace r2g2 {

struct GaussianWeightOptions {
  double prior_sigma = 1.0;   // must be > 0
  double rho_init = -5.0;     // sigma = softplus(rho): softplus(-5) = 0.0067
  double rho_init_std = 0.0;  // rho = rho_init + rho_init_std * N(0, 1)
};

class GaussianWeight {
 public:
  GaussianWeight() = default;  // absent (a layer without this weight)
  // mu as the caller initialised it; rho = rho_init + rho_init_std * N(0, 1), element i
  // being normal number rho_offset + i of stream rho_seed. `who` names the layer in errors.
  GaussianWeight(Tensor mu, uint64_t rho_seed, uint64_t rho_offset, const GaussianWeightOptions& options,
                 const std::string& who);
  // A deterministic weight: mu only, no rho, no KL (BayesLinear's non-Bayesian bias).
  static GaussianWeight point_mass(Tensor mu, double prior_sigma);
  // The checks every Bayesian layer makes of its prior and rho initialisation.
  static void check_options(const GaussianWeightOptions& options, DType dtype, const std::string& who);

  bool defined() const { return mu.defined(); }
  bool is_gaussian() const { return rho.defined(); }
  double prior_sigma() const { return prior_sigma_; }

  // softplus(rho), recorded; undefined for a point mass. With `slope`, it also receives
  // sigmoid(rho) when the pass computed it (rho wants a gradient), else an undefined
  // Tensor: kl(sigma, slope) then needs no exponential in its backward.
  Tensor sigma() const { return sigma(nullptr); }
  Tensor sigma(Tensor* slope) const;
  // KL(N(mu, sigma^2) || N(0, prior_sigma^2)) summed over the elements, recorded as one
  // node with its gradient to mu and rho (kl_to_zero_mean_gaussian_rho), with `sigma` the
  // caller's softplus(rho) (shared with its forward pass). Undefined for a point mass.
  Tensor kl(const Tensor& sigma, const Tensor& slope = {}) const;
  Tensor kl() const;
  // One draw mu + sigma * eps, eps from `gen`, recorded as one node with gradients
  // g to mu and g * eps to sigma (mu for a point mass).
  Tensor sample(const Tensor& sigma, Generator& gen) const;

  Tensor mu, rho;

 private:
  double prior_sigma_ = 1.0;
};

}  // namespace r2g2
