#include "r2g2/layers/latent_linear.h"

#include "r2g2/core/autograd.h"
#include "r2g2/core/ops.h"

namespace r2g2 {

LatentLinear::LatentLinear(int64_t latent_size, int64_t out_features, const LatentLinearOptions& o)
    : D_(latent_size), m_(out_features) {
  R2G2_CHECK(latent_size > 0 && out_features > 0, "LatentLinear: sizes must be positive, got latent ",
             latent_size, " -> ", out_features);
  weight = init_weight({m_, D_}, D_, m_, o.init, o.seed, o.dtype);
  register_parameter("weight", &weight);
  if (o.bias) {
    bias = Tensor::zeros({m_}, o.dtype);
    register_parameter("bias", &bias);
  }
  set_estimator(o.estimator, o.estimator_options);
  set_generator(Generator(noise_seed(o.seed)));
}

Tensor LatentLinear::forward(const Tensor& mu, const Tensor& sigma, Generator& gen) {
  R2G2_CHECK(mu.dim() == 2 && mu.size(1) == D_ && sigma.shape() == mu.shape(), describe(), ": mu ",
             shape_str(mu.shape()), " and sigma ", shape_str(sigma.shape()), " must both be [N, ", D_, "]");
  switch (mode()) {
    case BayesMode::train:
      return estimator().latent_linear(mu, sigma, weight, bias, gen);
    case BayesMode::mean:
    case BayesMode::sample: {
      Tensor z = mu;
      if (mode() == BayesMode::sample)
        z = add(mu, mul(sigma, gen.randn(mu.shape(), mu.dtype(), mu.device())));
      Tensor h = matmul(z, weight.t());
      return bias.defined() ? add(h, bias) : h;
    }
  }
  return {};
}

Tensor LatentLinear::kl() const { return Tensor::zeros({}, weight.dtype(), weight.device()); }

std::string LatentLinear::describe() const {
  return "LatentLinear(latent " + std::to_string(D_) + " -> " + std::to_string(m_) + ", estimator " +
         (has_estimator() ? estimator().name() : std::string("none")) + ")";
}

namespace {
LinearOptions with_seed(LinearOptions o, uint64_t extra) {
  o.seed += extra;
  return o;
}
}  // namespace

GaussianLatent::GaussianLatent(int64_t in_features, int64_t latent_size, const LinearOptions& options)
    : D_(latent_size),
      mu_head_(in_features, latent_size, options),
      sigma_head_(in_features, latent_size, with_seed(options, 1)) {
  register_module("mu", &mu_head_);
  register_module("sigma", &sigma_head_);
}

std::pair<Tensor, Tensor> GaussianLatent::mu_and_sigma(const Tensor& x) const {
  return {mu_head_.apply(x), softplus(sigma_head_.apply(x))};
}

Tensor GaussianLatent::kl_to_standard_normal(const Tensor& mu, const Tensor& sigma) {
  return kl_to_zero_mean_gaussian(mu, sigma, 1.0);
}

}  // namespace r2g2
