#include "r2g2/layers/bayes_linear.h"

#include <cmath>

#include "r2g2/core/autograd.h"
#include "r2g2/core/ops.h"

namespace r2g2 {

BayesLinear::BayesLinear(int64_t in_features, int64_t out_features, const BayesLinearOptions& o)
    : in_(in_features), out_(out_features), prior_sigma_(o.prior_sigma) {
  R2G2_CHECK(in_features > 0 && out_features > 0, "BayesLinear: sizes must be positive, got ", in_features,
             " -> ", out_features);
  R2G2_CHECK(o.prior_sigma > 0 && std::isfinite(o.prior_sigma),
             "BayesLinear: the prior standard deviation must be > 0, got ", o.prior_sigma);
  R2G2_CHECK(std::isfinite(o.rho_init) && o.rho_init_std >= 0,
             "BayesLinear: bad rho initialisation (rho_init ", o.rho_init, ", rho_init_std ", o.rho_init_std,
             ")");
  R2G2_CHECK(is_floating(o.dtype), "BayesLinear: parameters must be float32 or float64");
  {
    NoGrad no_grad;
    mu = init_weight({out_, in_}, in_, out_, o.mu_init, o.seed, o.dtype);
    rho = add(mul(Tensor::randn({out_, in_}, o.seed + 1, 0, o.dtype), o.rho_init_std), o.rho_init);
    if (o.bias) {
      bias_mu = Tensor::zeros({out_}, o.dtype);
      if (o.bayesian_bias)
        bias_rho = add(mul(Tensor::randn({out_}, o.seed + 1, static_cast<uint64_t>(out_ * in_), o.dtype),
                           o.rho_init_std),
                       o.rho_init);
    }
  }
  register_parameter("mu", &mu);
  register_parameter("rho", &rho);
  if (bias_mu.defined()) register_parameter("bias_mu", &bias_mu);
  if (bias_rho.defined()) register_parameter("bias_rho", &bias_rho);
  set_estimator(o.estimator, o.estimator_options);
}

Tensor BayesLinear::sigma() const { return softplus(rho); }
Tensor BayesLinear::bias_sigma() const { return bias_rho.defined() ? softplus(bias_rho) : Tensor(); }

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
      Tensor W = add(mu, mul(s, gen.randn(mu.shape(), mu.dtype(), mu.device())));
      Tensor h = matmul(x, W.t());
      if (!bias_mu.defined()) return h;
      Tensor b = bias_mu;
      if (bias_rho.defined()) b = add(b, mul(bs, gen.randn(b.shape(), b.dtype(), b.device())));
      return add(h, b);
    }
  }
  return {};
}

Tensor BayesLinear::kl() const { return kl_with(sigma(), bias_sigma()); }

Tensor BayesLinear::kl_with(const Tensor& s, const Tensor& bs) const {
  Tensor k = kl_to_zero_mean_gaussian_rho(mu, rho, s, prior_sigma_);
  if (bias_rho.defined()) k = add(k, kl_to_zero_mean_gaussian_rho(bias_mu, bias_rho, bs, prior_sigma_));
  return k;
}

std::pair<Tensor, Tensor> BayesLinear::forward_and_kl(const Tensor& x, Generator& gen) {
  Tensor s = sigma(), bs = bias_sigma();
  Tensor h = forward_with(x, gen, s, bs);
  return {h, kl_with(s, bs)};
}

std::string BayesLinear::describe() const {
  return "BayesLinear(" + std::to_string(in_) + " -> " + std::to_string(out_) + ", estimator " +
         (has_estimator() ? estimator().name() : std::string("none")) + ")";
}

}  // namespace r2g2
