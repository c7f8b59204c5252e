#pragma once
// Gradient estimators for a Bayesian conv2d layer h = conv(x, w), w ~ N(mu, sigma²) mean
// field (estimators/README.md: one system = one image x one output channel, L = the image's
// im2col patch matrix, m = P output positions, D = C*kh*kw).
//
// Every function takes x [N, C, H, W] and mu, sigma [O, C, kh, kw] (sigma already
// softplus(rho), on the tape), draws its noise from `gen`, and returns h [N, O, OH, OW]
// recorded on the tape with the estimator's backward (gradients to x, mu, sigma).
// None adds a bias: BayesConv2d adds its deterministic bias after the estimator.
//
// Noise layout, so that estimators can be compared on the same draw:
//   rt, r2g2:        eps [O, C, kh, kw] (one weight sample per mini-batch), drawn first;
//                    for the same generator state both give bit-identical h.
//   rt_per_example:  eps [N, O, C, kh, kw].
//   flipout:         E [O, C, kh, kw], then the signs r [N, C], then s [N, O].
#include "r2g2/core/ops.h"
#include "r2g2/core/random.h"
#include "r2g2/core/tensor.h"
#include "r2g2/estimators/r2g2_options.h"

namespace r2g2::conv_est {

// Reparameterisation trick, one weight sample w = mu + sigma ⊙ eps shared by the
// mini-batch: h = conv(x, w), the gradient autodiff gives.
Tensor rt(const Tensor& x, const Tensor& mu, const Tensor& sigma, Conv2dParams p, Generator& gen);

// Reparameterisation trick with an independent weight sample per example (exact
// per-example noise; N times the weight-sized work and memory).
Tensor rt_per_example(const Tensor& x, const Tensor& mu, const Tensor& sigma, Conv2dParams p, Generator& gen);

// Flipout: h_n = conv(x_n, mu) + s_n ⊙ conv(r_n ⊙ x_n, sigma ⊙ E), one E per mini-batch,
// r_n (over input channels) and s_n (over output channels) random ±1 per example.
Tensor flipout(const Tensor& x, const Tensor& mu, const Tensor& sigma, Conv2dParams p, Generator& gen);

// R2-G2: forward exactly as rt (same h for the same noise); the backward replaces the
// shared eps by eps*_nc = E[eps | h_nc], the projection of eps onto the row space of
// A_nc = X_nᵀ diag(s_c), for every image n and output channel c:
//   dLoss/dmu_c    = Σ_n X_n g_nc                      (as rt)
//   dLoss/dsigma_c = Σ_n (X_n g_nc) ⊙ eps*_nc
//   dLoss/dX_n     = Σ_c (mu_c + sigma_c ⊙ eps*_nc) g_ncᵀ   (then col2im to x)
// The solve runs in the forward pass, only when a gradient will be needed (so `diag`
// is filled then and left untouched under NoGrad). Solvers (opt.solver):
//   cg    - CG capped at the rank bound min(P, D), relative residual opt.tol; run on the
//           P x P system when P <= D, else on the D x D system of the Gram matrix
//           X_n X_nᵀ (where full column rank shows as eps* = eps).
//   exact - float64 projection on the CPU (pivoted Gram-Schmidt): the oracle; slow.
//   paper - the paper's truncated CG on the P x P system (x0 = rhs, |r_i| < abs_tol or
//           max_iters, never past the rank bound). Biased.
Tensor r2g2(const Tensor& x, const Tensor& mu, const Tensor& sigma, Conv2dParams p, Generator& gen,
            const R2G2Options& opt, R2G2Diagnostics* diag);

}  // namespace r2g2::conv_est
