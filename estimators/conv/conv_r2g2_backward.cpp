// The backward of conv_est::r2g2 in its two forms (see conv_r2g2_backward.h).
#include "r2g2/estimators/conv/conv_r2g2_backward.h"

#include <algorithm>

#include "r2g2/core/autograd.h"
#include "r2g2/core/dispatch.h"
#include "r2g2/core/ops.h"
#include "r2g2/estimators/conv/conv_common.h"
#include "r2g2/kernels/cpu/r2g2_conv.h"

namespace r2g2::conv_est {

namespace {

// Elements of one [count, O, D] temporary of the chunked form; it holds about four.
constexpr int64_t kChunkElements = int64_t{1} << 22;

bool fused_applies(const ConvEpsStar& noise, const Tensor& cols) {
  return noise.beta.defined() && cols.device().is_cpu();
}

ConvR2G2Gradients fused(const Tensor& cols, const Tensor& grad, const Tensor& beta, const Tensor& mu,
                        const Tensor& sigma, const kernels::ConvGeom& geom, ConvR2G2Needs needs) {
  const int64_t N = geom.images, O = geom.out_channels, D = geom.patch_size(), P = geom.positions();
  const DType dt = cols.dtype();
  const Device dev = cols.device();
  ConvR2G2Gradients out;
  Tensor dcols;
  if (needs.x) dcols = Tensor::empty({N, D, P}, dt, dev);
  if (needs.mu) out.dmu = Tensor::empty({O, D}, dt, dev);
  if (needs.sigma) out.dsigma = Tensor::empty({O, D}, dt, dev);
  dispatch_floating(dt, "conv r2g2 backward", [&](auto tag) {
    using T = decltype(tag);
    auto ptr = [](Tensor& t) { return t.defined() ? t.data<T>() : nullptr; };
    // The CUDA backend has no such kernel: it never gets here (fused_applies).
    const r2g2::detail::ProfiledKernel<decltype(kernels::cpu::r2g2_conv_backward_m<T>)> kernel(
        &kernels::cpu::r2g2_conv_backward_m<T>, dev, "r2g2_conv_backward_m<T>");
    kernel(cols.data<T>(), grad.data<T>(), beta.data<T>(), mu.data<T>(), sigma.data<T>(), ptr(out.dmu),
           ptr(out.dsigma), ptr(dcols), geom);
  });
  if (needs.x) {
    out.dx = Tensor::zeros({N, geom.channels, geom.height, geom.width}, dt, dev);
    detail::col2im_add(dcols, geom, out.dx, 0);
  }
  return out;
}

// The mini-batch in chunks that bound the [count, O, D] temporaries in memory.
ConvR2G2Gradients chunked(const Tensor& cols, const Tensor& grad, const ConvEpsStar& noise, const Tensor& mu,
                          const Tensor& sigma, const kernels::ConvGeom& geom, ConvR2G2Needs needs) {
  const int64_t N = geom.images, O = geom.out_channels, D = geom.patch_size();
  Tensor dmu = Tensor::zeros({O, D}, grad.dtype(), grad.device());
  Tensor dsigma = Tensor::zeros({O, D}, grad.dtype(), grad.device());
  const Shape x_shape{N, geom.channels, geom.height, geom.width};
  Tensor dx = needs.x ? Tensor::zeros(x_shape, grad.dtype(), grad.device()) : Tensor();
  const int64_t chunk =
      std::clamp<int64_t>(kChunkElements / std::max<int64_t>(O * D, 1), 1, std::max<int64_t>(N, 1));
  for (int64_t n0 = 0; n0 < N; n0 += chunk) {
    const int64_t n1 = std::min(N, n0 + chunk);
    Tensor xt = cols.slice(0, n0, n1).transpose(1, 2);  // [count, P, D]
    Tensor gc = grad.slice(0, n0, n1);                  // [count, O, P]
    // eps*_nc for the chunk, [count, O, D].
    Tensor es = noise.beta.defined() ? mul(matmul(noise.beta.slice(0, n0, n1), xt), sigma)
                                     : noise.eps_star.slice(0, n0, n1);
    if (needs.mu || needs.sigma) {
      Tensor xg = matmul(gc, xt);  // X_n g_nc, [count, O, D]
      if (needs.mu) dmu = add(dmu, sum(xg, {0}));
      if (needs.sigma) dsigma = add(dsigma, sum(mul(xg, es), {0}));
    }
    if (needs.x) {
      Tensor w_star = add(mu, mul(sigma, es));
      detail::col2im_add(matmul(w_star.transpose(1, 2), gc), geom, dx, n0);
    }
  }
  ConvR2G2Gradients out;
  out.dx = dx;
  if (needs.mu) out.dmu = dmu;
  if (needs.sigma) out.dsigma = dsigma;
  return out;
}

}  // namespace

ConvR2G2Gradients conv_r2g2_backward(const Tensor& cols_in, const Tensor& grad_in, const ConvEpsStar& noise,
                                     const Tensor& mu_in, const Tensor& sigma_in,
                                     const kernels::ConvGeom& geom, ConvR2G2Needs needs,
                                     ConvR2G2BackwardForm form) {
  NoGrad no_grad;
  const int64_t N = geom.images, O = geom.out_channels, D = geom.patch_size(), P = geom.positions();
  R2G2_CHECK(cols_in.shape() == Shape({N, D, P}) && grad_in.shape() == Shape({N, O, P}) &&
                 mu_in.shape() == Shape({O, D}) && sigma_in.shape() == Shape({O, D}),
             "conv r2g2 backward: cols ", shape_str(cols_in.shape()), ", grad ", shape_str(grad_in.shape()),
             ", mu ", shape_str(mu_in.shape()), " and sigma ", shape_str(sigma_in.shape()),
             " do not match [N, D, P], [N, O, P], [O, D], [O, D] with N = ", N, ", O = ", O, ", D = ", D,
             ", P = ", P);
  R2G2_CHECK(noise.beta.defined() != noise.eps_star.defined(),
             "conv r2g2 backward: eps* must be given in exactly one form (beta or dense)");
  R2G2_CHECK(form != ConvR2G2BackwardForm::fused || fused_applies(noise, cols_in),
             "conv r2g2 backward: the fused form needs eps* as beta on the CPU (got ",
             noise.beta.defined() ? "beta" : "dense eps*", " on ", cols_in.device().str(), ")");
  Tensor cols = cols_in.detach().contiguous(), grad = grad_in.detach().contiguous();
  Tensor mu = mu_in.detach().contiguous(), sigma = sigma_in.detach().contiguous();
  if (form != ConvR2G2BackwardForm::chunked && fused_applies(noise, cols))
    return fused(cols, grad, noise.beta.contiguous(), mu, sigma, geom, needs);
  return chunked(cols, grad, noise, mu, sigma, geom, needs);
}

}  // namespace r2g2::conv_est
