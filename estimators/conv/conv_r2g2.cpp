// R2-G2 for conv2d: the forward pass of rt, one tape node whose backward uses eps*.
//
// eps*_nc differs per image, so the backward works with per-image weight-sized tensors
// ([count, O, D]); it walks the mini-batch in chunks that bound them in memory.
#include <algorithm>

#include "r2g2/core/autograd.h"
#include "r2g2/estimators/common.h"
#include "r2g2/estimators/conv/conv_common.h"
#include "r2g2/estimators/conv/conv_estimators.h"
#include "r2g2/estimators/conv/r2g2_conv_solve.h"

namespace r2g2::conv_est {

namespace {

// Elements of one [count, O, D] temporary; the backward holds about four of them.
constexpr int64_t kChunkElements = int64_t{1} << 22;

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
    Tensor dmu = Tensor::zeros({O, D}, g3.dtype(), g3.device());
    Tensor dsigma = Tensor::zeros({O, D}, g3.dtype(), g3.device());
    const Shape x_shape{N, geom.channels, geom.height, geom.width};
    Tensor dx = d.need(kX) ? Tensor::zeros(x_shape, g3.dtype(), g3.device()) : Tensor();
    const int64_t chunk =
        std::clamp<int64_t>(kChunkElements / std::max<int64_t>(O * D, 1), 1, std::max<int64_t>(N, 1));
    for (int64_t n0 = 0; n0 < N; n0 += chunk) {
      const int64_t n1 = std::min(N, n0 + chunk);
      Tensor xt = cols.slice(0, n0, n1).transpose(1, 2);  // [count, P, D]
      Tensor gc = g3.slice(0, n0, n1);                    // [count, O, P]
      // eps*_nc for the chunk, [count, O, D].
      Tensor es = noise.beta.defined() ? mul(matmul(noise.beta.slice(0, n0, n1), xt), sigma2)
                                       : noise.eps_star.slice(0, n0, n1);
      if (d.any(kMu, kSigma)) {
        Tensor xg = matmul(gc, xt);  // X_n g_nc, [count, O, D]
        if (d.need(kMu)) dmu = add(dmu, sum(xg, {0}));
        if (d.need(kSigma)) dsigma = add(dsigma, sum(mul(xg, es), {0}));
      }
      if (d.need(kX)) {
        // dX_n = (mu + sigma ⊙ eps*_n)ᵀ g_n, the column gradient of image n.
        Tensor w_star = add(mu2, mul(sigma2, es));
        detail::col2im_add(matmul(w_star.transpose(1, 2), gc), geom, dx, n0);
      }
    }
    d.put(kX, [&] { return dx; });
    d.put(kMu, [&] { return reshape(dmu, w_shape); });
    d.put(kSigma, [&] { return reshape(dsigma, w_shape); });
  });
}

}  // namespace r2g2::conv_est
