// Flipout for conv2d (Wen et al. 2018): one shared perturbation sigma ⊙ E, decorrelated
// across examples by random signs over input channels (r_n) and output channels (s_n).
// Each example's perturbation diag(s_n) (sigma ⊙ E) diag(r_n) has the distribution of
// sigma ⊙ E, so the estimator is unbiased; autodiff through the ops gives its gradient.
#include "r2g2/core/autograd.h"
#include "r2g2/estimators/common.h"
#include "r2g2/estimators/conv/conv_common.h"
#include "r2g2/estimators/conv/conv_estimators.h"

namespace r2g2::conv_est {

Tensor flipout(const Tensor& x, const Tensor& mu, const Tensor& sigma, Conv2dParams p, Generator& gen) {
  const auto g = detail::check_conv_args("conv flipout", x, mu, sigma, p);
  Tensor e = gen.randn(mu.shape(), mu.dtype(), mu.device());
  Tensor r = est::random_signs({g.images, g.channels, 1, 1}, gen, x.dtype(), x.device());
  Tensor s = est::random_signs({g.images, g.out_channels, 1, 1}, gen, x.dtype(), x.device());
  Tensor mean = conv2d(x, mu, {}, p);
  Tensor perturbation = conv2d(mul(x, r), mul(sigma, e), {}, p);
  return add(mean, mul(perturbation, s));
}

}  // namespace r2g2::conv_est
