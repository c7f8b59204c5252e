#pragma once
// A reparameterised Gaussian latent and the deterministic linear layer that follows it
// (the VAE decoder's first layer): z ~ N(mu, sigma^2) per example, h = z W^T + b. The
// estimator decides how the gradient reaches mu, sigma and W (rt, score, r2g2, r2g2-paper;
// lrt and flipout do not apply and say why).
#include <cstdint>
#include <string>
#include <utility>

#include "r2g2/core/random.h"
#include "r2g2/core/tensor.h"
#include "r2g2/layers/bayes_module.h"
#include "r2g2/layers/init.h"
#include "r2g2/layers/linear.h"

namespace r2g2 {

struct LatentLinearOptions {
  bool bias = true;
  WeightInit init = WeightInit::glorot;
  std::string estimator = "rt";
  EstimatorOptions estimator_options;
  uint64_t seed = 0;
  DType dtype = DType::f32;
};

class LatentLinear : public BayesianModule {
 public:
  LatentLinear(int64_t latent_size, int64_t out_features, const LatentLinearOptions& options = {});

  // mu, sigma [N, D] -> h [N, m]. train: the estimator; mean: mu W^T + b;
  // sample: z = mu + sigma eps, recorded as plain ops. The noise comes from the layer's
  // generator, or from `gen` where given. (Two inputs: the single-input Module::forward
  // is an error here.)
  using Module::forward;
  Tensor forward(const Tensor& mu, const Tensor& sigma) { return forward(mu, sigma, generator()); }
  Tensor forward(const Tensor& mu, const Tensor& sigma, Generator& gen);

  // The weights here are deterministic: the latent's KL belongs to the model
  // (GaussianLatent::kl_to_standard_normal). Returns a scalar 0.
  Tensor kl() const override;
  std::string describe() const override;
  int64_t latent_size() const { return D_; }
  int64_t out_features() const { return m_; }

  Tensor weight;  // [m, D]
  Tensor bias;    // [m] or undefined

 private:
  int64_t D_, m_;
};

// Encoder head of a Gaussian latent: mu = x Wmu^T + bmu, sigma = softplus(x Ws^T + bs).
class GaussianLatent : public Module {
 public:
  GaussianLatent(int64_t in_features, int64_t latent_size, const LinearOptions& options = {});
  // {mu, sigma}, both [N, D]. Two outputs, so not Module::forward: a GaussianLatent is not
  // a stage of a Sequential.
  std::pair<Tensor, Tensor> mu_and_sigma(const Tensor& x) const;
  // sum over the batch and latent units of KL(N(mu, sigma^2) || N(0, 1)).
  static Tensor kl_to_standard_normal(const Tensor& mu, const Tensor& sigma);
  int64_t latent_size() const { return D_; }

 private:
  int64_t D_;
  Linear mu_head_, sigma_head_;
};

}  // namespace r2g2
