#include "r2g2/layers/bayes_conv2d.h"

#include <cmath>

#include "r2g2/core/autograd.h"

namespace r2g2 {

BayesConv2d::BayesConv2d(int64_t in_channels, int64_t out_channels, int kernel_size,
                         const BayesConv2dOptions& o)
    : in_(in_channels),
      out_(out_channels),
      k_(kernel_size),
      stride_(o.stride),
      padding_(o.padding),
      prior_sigma_(o.prior_sigma) {
  R2G2_CHECK(in_channels > 0 && out_channels > 0 && kernel_size > 0,
             "BayesConv2d: channels and kernel size must be positive, got ", in_channels, " -> ",
             out_channels, ", kernel ", kernel_size);
  R2G2_CHECK(o.stride >= 1 && o.padding >= 0,
             "BayesConv2d: stride must be >= 1 and padding >= 0, got stride ", o.stride, ", padding ",
             o.padding);
  R2G2_CHECK(o.prior_sigma > 0 && std::isfinite(o.prior_sigma),
             "BayesConv2d: the prior standard deviation must be > 0, got ", o.prior_sigma);
  R2G2_CHECK(std::isfinite(o.rho_init) && o.rho_init_std >= 0,
             "BayesConv2d: bad rho initialisation (rho_init ", o.rho_init, ", rho_init_std ", o.rho_init_std,
             ")");
  R2G2_CHECK(is_floating(o.dtype), "BayesConv2d: parameters must be float32 or float64");
  const Shape shape{out_, in_, k_, k_};
  {
    NoGrad no_grad;
    mu = init_weight(shape, in_ * k_ * k_, out_ * k_ * k_, o.mu_init, o.seed, o.dtype);
    rho = add(mul(Tensor::randn(shape, o.seed + 1, 0, o.dtype), o.rho_init_std), o.rho_init);
    if (o.bias) bias = Tensor::zeros({out_}, o.dtype);
  }
  register_parameter("mu", &mu);
  register_parameter("rho", &rho);
  if (bias.defined()) register_parameter("bias", &bias);
  set_estimator(o.estimator, o.estimator_options);
}

Tensor BayesConv2d::sigma() const { return softplus(rho); }

Tensor BayesConv2d::forward(const Tensor& x, Generator& gen) {
  R2G2_CHECK(x.dim() == 4 && x.size(1) == in_, describe(), ": input ", shape_str(x.shape()), " must be [N, ",
             in_, ", H, W]");
  const Conv2dParams p = conv_params();
  switch (mode()) {
    case BayesMode::train: {
      Tensor h = estimator().conv2d(x, mu, sigma(), p, gen);
      return bias.defined() ? add(h, reshape(bias, {1, out_, 1, 1})) : h;
    }
    case BayesMode::mean:
      return conv2d(x, mu, bias, p);
    case BayesMode::sample: {
      Tensor w = add(mu, mul(sigma(), gen.randn(mu.shape(), mu.dtype(), mu.device())));
      return conv2d(x, w, bias, p);
    }
  }
  return {};
}

Tensor BayesConv2d::kl() const { return kl_to_zero_mean_gaussian_rho(mu, rho, sigma(), prior_sigma_); }

std::string BayesConv2d::describe() const {
  std::string s =
      "BayesConv2d(" + std::to_string(in_) + " -> " + std::to_string(out_) + ", kernel " + std::to_string(k_);
  if (stride_ != 1) s += ", stride " + std::to_string(stride_);
  if (padding_ != 0) s += ", padding " + std::to_string(padding_);
  return s + ", estimator " + (has_estimator() ? estimator().name() : std::string("none")) + ")";
}

}  // namespace r2g2
