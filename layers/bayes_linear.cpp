#include "r2g2/layers/bayes_linear.h"

#include "r2g2/core/autograd.h"
#include "r2g2/core/ops.h"

namespace r2g2 {

BayesLinear::BayesLinear(int64_t in_features, int64_t out_features, const BayesLinearOptions& o)
    : in_(in_features), out_(out_features) {
  R2G2_CHECK(in_features > 0 && out_features > 0, "BayesLinear: sizes must be positive, got ", in_features,
             " -> ", out_features);
  const GaussianWeightOptions g{o.prior_sigma, o.rho_init, o.rho_init_std};
  GaussianWeight::check_options(g, o.dtype, "BayesLinear");
  weight = GaussianWeight(init_weight({out_, in_}, in_, out_, o.mu_init, o.seed, o.dtype), o.seed + 1, 0, g,
                          "BayesLinear");
  if (o.bias) {
    Tensor zeros = Tensor::zeros({out_}, o.dtype);
    // The bias's rho continues the weights' rho stream.
    bias = o.bayesian_bias ? GaussianWeight(zeros, o.seed + 1, static_cast<uint64_t>(out_ * in_), g, "BayesLinear")
                           : GaussianWeight::point_mass(zeros, o.prior_sigma);
  }
  register_parameter("mu", &mu);
  register_parameter("rho", &rho);
  if (bias_mu.defined()) register_parameter("bias_mu", &bias_mu);
  if (bias_rho.defined()) register_parameter("bias_rho", &bias_rho);
  set_estimator(o.estimator, o.estimator_options);
  set_generator(Generator(noise_seed(o.seed)));
}

Tensor BayesLinear::forward(const Tensor& x, Generator& gen) {
  if (mode() == BayesMode::mean) return forward_with(x, gen, Tensor(), Tensor());
  return forward_with(x, gen, sigma(), bias_sigma());
}

Tensor BayesLinear::forward_with(const Tensor& x, Generator& gen, const Tensor& s, const Tensor& bs) {
  R2G2_CHECK(x.dim() == 2 && x.size(1) == in_, describe(), ": input ", shape_str(x.shape()), " must be [N, ",
             in_, "]");
  switch (mode()) {
    case BayesMode::train:
      return estimator().linear(x, mu, s, bias_mu, bs, gen);
    case BayesMode::mean: {
      Tensor h = matmul(x, mu.t());
      return bias_mu.defined() ? add(h, bias_mu) : h;
    }
    case BayesMode::sample: {
      Tensor h = matmul(x, weight.sample(s, gen).t());
      return bias.defined() ? add(h, bias.sample(bs, gen)) : h;
    }
  }
  return {};
}

Tensor BayesLinear::kl() const {
  // The no-argument KLs read softplus(rho) inside their fused kernel: recording sigma here
  // would be a pass over the parameters that nothing differentiates.
  Tensor k = weight.kl();
  if (bias.is_gaussian()) k = add(k, bias.kl());
  return k;
}

Tensor BayesLinear::kl_with(const Tensor& s, const Tensor& bs) const {
  Tensor k = weight.kl(s);
  if (bias.is_gaussian()) k = add(k, bias.kl(bs));
  return k;
}

std::pair<Tensor, Tensor> BayesLinear::forward_and_kl(const Tensor& x) {
  // The slopes sigmoid(rho) computed with sigma spare the KL's backward its exponentials.
  Tensor slope, bias_slope;
  Tensor s = weight.sigma(&slope), bs = bias.sigma(&bias_slope);
  Tensor h = forward_with(x, generator(), s, bs);
  Tensor k = weight.kl(s, slope);
  if (bias.is_gaussian()) k = add(k, bias.kl(bs, bias_slope));
  return {h, k};
}

std::string BayesLinear::describe() const {
  return "BayesLinear(" + std::to_string(in_) + " -> " + std::to_string(out_) + ", estimator " +
         (has_estimator() ? estimator().name() : std::string("none")) + ")";
}

}  // namespace r2g2
