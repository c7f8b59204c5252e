#include "r2g2/layers/bayes_conv2d.h"

namespace r2g2 {

BayesConv2d::BayesConv2d(int64_t in_channels, int64_t out_channels, int kernel_size,
                         const BayesConv2dOptions& o)
    : in_(in_channels), out_(out_channels), k_(kernel_size), stride_(o.stride), padding_(o.padding) {
  R2G2_CHECK(in_channels > 0 && out_channels > 0 && kernel_size > 0,
             "BayesConv2d: channels and kernel size must be positive, got ", in_channels, " -> ",
             out_channels, ", kernel ", kernel_size);
  R2G2_CHECK(o.stride >= 1 && o.padding >= 0,
             "BayesConv2d: stride must be >= 1 and padding >= 0, got stride ", o.stride, ", padding ",
             o.padding);
  const GaussianWeightOptions g{o.prior_sigma, o.rho_init, o.rho_init_std};
  GaussianWeight::check_options(g, o.dtype, "BayesConv2d");
  const Shape shape{out_, in_, k_, k_};
  weight = GaussianWeight(init_weight(shape, in_ * k_ * k_, out_ * k_ * k_, o.mu_init, o.seed, o.dtype),
                          o.seed + 1, 0, g, "BayesConv2d");
  if (o.bias) bias = Tensor::zeros({out_}, o.dtype);
  register_parameter("mu", &mu);
  register_parameter("rho", &rho);
  if (bias.defined()) register_parameter("bias", &bias);
  set_estimator(o.estimator, o.estimator_options);
  set_generator(Generator(noise_seed(o.seed)));
}

Tensor BayesConv2d::forward(const Tensor& x, Generator& gen) {
  return forward_with(x, gen, mode() == BayesMode::mean ? Tensor() : sigma());
}

std::pair<Tensor, Tensor> BayesConv2d::forward_and_kl(const Tensor& x) {
  Tensor slope;
  Tensor s = weight.sigma(&slope);
  Tensor h = forward_with(x, generator(), s);
  return {h, weight.kl(s, slope)};
}

Tensor BayesConv2d::forward_with(const Tensor& x, Generator& gen, const Tensor& s) {
  R2G2_CHECK(x.dim() == 4 && x.size(1) == in_, describe(), ": input ", shape_str(x.shape()), " must be [N, ",
             in_, ", H, W]");
  const Conv2dParams p = conv_params();
  switch (mode()) {
    case BayesMode::train: {
      Tensor h = estimator().conv2d(x, mu, s, p, gen);
      return bias.defined() ? add(h, reshape(bias, {1, out_, 1, 1})) : h;
    }
    case BayesMode::mean:
      return conv2d(x, mu, bias, p);
    case BayesMode::sample:
      return conv2d(x, weight.sample(s, gen), bias, p);
  }
  return {};
}

Tensor BayesConv2d::kl() const { return weight.kl(); }

std::string BayesConv2d::describe() const {
  std::string s =
      "BayesConv2d(" + std::to_string(in_) + " -> " + std::to_string(out_) + ", kernel " + std::to_string(k_);
  if (stride_ != 1) s += ", stride " + std::to_string(stride_);
  if (padding_ != 0) s += ", padding " + std::to_string(padding_);
  return s + ", estimator " + (has_estimator() ? estimator().name() : std::string("none")) + ")";
}

}  // namespace r2g2
