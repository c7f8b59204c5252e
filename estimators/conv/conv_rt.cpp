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
  const auto d = detail::check_conv_args("conv rt_per_example", x, mu, sigma, p);
  Tensor eps = gen.randn({d.n, d.o, d.c, d.kh, d.kw}, mu.dtype(), mu.device());
  // w_n = mu + sigma ⊙ eps_n as [N, O, D]; h_n = w_n X_n with X_n the image's patches.
  Tensor w =
      add(reshape(mu, {1, d.o, d.d}), mul(reshape(sigma, {1, d.o, d.d}), reshape(eps, {d.n, d.o, d.d})));
  Tensor cols = im2col(x, static_cast<int>(d.kh), static_cast<int>(d.kw), p);
  return reshape(matmul(w, cols), {d.n, d.o, d.oh, d.ow});
}

}  // namespace r2g2::conv_est
