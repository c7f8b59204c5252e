// Reparameterisation trick for conv2d: the estimator is what autodiff gives for the
// sampled weights, so both forms are built from differentiable ops.
#include "r2g2/core/autograd.h"
#include "r2g2/estimators/conv/conv_common.h"
#include "r2g2/estimators/conv/conv_estimators.h"

namespace r2g2::conv_est {

Tensor rt(const Tensor& x, const Tensor& mu, const Tensor& sigma, Conv2dParams p, Generator& gen) {
  detail::check_conv_args("conv rt", x, mu, sigma, p);
  Tensor eps = gen.randn(mu.shape(), mu.dtype(), mu.device());
  return conv2d(x, detail::shared_weight(mu, sigma, eps), {}, p);
}

Tensor rt_per_example(const Tensor& x, const Tensor& mu, const Tensor& sigma, Conv2dParams p,
                      Generator& gen) {
  const auto g = detail::check_conv_args("conv rt_per_example", x, mu, sigma, p);
  const int64_t N = g.images, O = g.out_channels, D = g.patch_size();
  Tensor eps = gen.randn({N, O, g.channels, g.kernel_h, g.kernel_w}, mu.dtype(), mu.device());
  // w_n = mu + sigma ⊙ eps_n as [N, O, D]; h_n = w_n X_n with X_n the image's patches.
  Tensor w = add(reshape(mu, {1, O, D}), mul(reshape(sigma, {1, O, D}), reshape(eps, {N, O, D})));
  Tensor cols = im2col(x, g.kernel_h, g.kernel_w, p);
  return reshape(matmul(w, cols), {N, O, g.out_h, g.out_w});
}

}  // namespace r2g2::conv_est
