// R2-G2 for conv2d: the forward pass of rt, one tape node whose backward uses eps*
// (conv_r2g2_backward.h).
#include "r2g2/core/autograd.h"
#include "r2g2/estimators/common.h"
#include "r2g2/estimators/conv/conv_common.h"
#include "r2g2/estimators/conv/conv_estimators.h"
#include "r2g2/estimators/conv/conv_r2g2_backward.h"
#include "r2g2/estimators/conv/r2g2_conv_solve.h"

namespace r2g2::conv_est {

namespace {

enum ConvInput : size_t { kX, kMu, kSigma };

}  // namespace

Tensor r2g2(const Tensor& x, const Tensor& mu, const Tensor& sigma, Conv2dParams p, Generator& gen,
            const R2G2Options& opt, R2G2Diagnostics* diag) {
  const auto geom = detail::check_conv_args("conv r2g2", x, mu, sigma, p);
  const int64_t N = geom.images, O = geom.out_channels, D = geom.patch_size(), P = geom.positions();
  Tensor eps = gen.randn(mu.shape(), mu.dtype(), mu.device());
  const bool record_grad = needs_grad({&x, &mu, &sigma});
  Tensor h, cols, mu2, sigma2;
  ConvEpsStar noise;
  {
    NoGrad no_grad;
    h = conv2d(x.detach(), detail::shared_weight(mu.detach(), sigma.detach(), eps), {}, p);
    if (!record_grad) return h;  // no solve when no gradient will be asked for
    cols = im2col(x.detach(), geom.kernel_h, geom.kernel_w, p).contiguous();
    mu2 = reshape(mu.detach().contiguous(), {O, D});
    sigma2 = reshape(sigma.detach().contiguous(), {O, D});
    noise = solve_eps_star(cols, sigma2, reshape(eps, {O, D}), opt, diag);
  }
  const Shape w_shape = mu.shape();
  return est::record_node("conv2d_r2g2", h, {x, mu, sigma}, [=](const Tensor& g_in, est::Grads& d) {
    Tensor g3 = reshape(g_in.detach().contiguous(), {N, O, P});
    const ConvR2G2Gradients grads =
        conv_r2g2_backward(cols, g3, noise, mu2, sigma2, geom, {d.need(kX), d.need(kMu), d.need(kSigma)});
    d.put(kX, [&] { return grads.dx; });
    d.put(kMu, [&] { return reshape(grads.dmu, w_shape); });
    d.put(kSigma, [&] { return reshape(grads.dsigma, w_shape); });
  });
}

}  // namespace r2g2::conv_est
