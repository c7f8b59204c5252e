#pragma once
// The backward of conv_est::r2g2 (estimators/README.md, "Closed forms"), outside the tape:
// with eps*_nc from the forward's solve (r2g2_conv_solve.h) and g_nc the output gradient of
// image n, channel c,
//   dmu_c    = Σ_n X_n g_nc
//   dsigma_c = Σ_n (X_n g_nc) ⊙ eps*_nc
//   dX_n     = Σ_c (mu_c + sigma_c ⊙ eps*_nc) g_ncᵀ, then col2im to dx.
// conv_est::r2g2 records it; tests compare its forms with each other and with float64.
#include "r2g2/core/tensor.h"
#include "r2g2/estimators/conv/r2g2_conv_solve.h"
#include "r2g2/kernels/common.h"

namespace r2g2::conv_est {

// How the sums are formed (both give the same gradients up to rounding):
//   fused   - one pass of the kernel r2g2_conv_backward_m over (d tile, image, channel):
//             3P + 3 multiply-adds per (n, c, d), no [N, O, D] temporary. Needs eps* in
//             its beta form and a backend with the kernel (the CPU).
//   chunked - device-generic ops over chunks of images: eps*_nc, X_n g_nc and w*_nc as
//             [count, O, D] tensors (three GEMMs of P multiply-adds per element, and about
//             a dozen elementwise passes over them).
//   automatic - fused where it applies, else chunked.
enum class ConvR2G2BackwardForm { automatic, fused, chunked };

struct ConvR2G2Gradients {
  Tensor dx, dmu, dsigma;  // [N, C, H, W], [O, D], [O, D]; undefined where not asked for
};

struct ConvR2G2Needs {
  bool x = true, mu = true, sigma = true;
};

// cols [N, D, P] (im2col of x), grad [N, O, P], mu and sigma [O, D] (the layer's mean and
// standard deviation, flattened), `noise` the solve's eps*; `geom` the layer's geometry
// (conv_common.h's check_conv_args), which col2im needs.
ConvR2G2Gradients conv_r2g2_backward(const Tensor& cols, const Tensor& grad, const ConvEpsStar& noise,
                                     const Tensor& mu, const Tensor& sigma, const kernels::ConvGeom& geom,
                                     ConvR2G2Needs needs,
                                     ConvR2G2BackwardForm form = ConvR2G2BackwardForm::automatic);

}  // namespace r2g2::conv_est
