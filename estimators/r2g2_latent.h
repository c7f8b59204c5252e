#pragma once
// The R2-G2 projection for a Gaussian latent followed by a linear map (estimators/README.md):
// per example n, A_n = W diag(sigma_n) and eps*_n = A_n^T K_n^+ A_n eps_n, the projection
// of eps_n onto the row space of A_n. Exposed for the estimator, the tests and benches.
#include <cstdint>
#include <string>

#include "r2g2/core/tensor.h"
#include "r2g2/estimators/r2g2_options.h"

namespace r2g2 {

struct LatentProjection {
  Tensor eps_star;    // [N, D], same device and dtype as eps
  Tensor iterations;  // int32 [N] (undefined when no iteration ran: identity, exact)
  Tensor residual;    // float64 [N], final relative residual (undefined likewise)
  std::string method;
  int rank = 0;  // numerical rank of W (float64 pivoted Cholesky of its smaller Gram matrix)
  int iteration_cap = 0;
  int64_t direct_systems = 0;  // cg: systems finished by the direct solve (not converged at the cap)
};

// sigma, eps [N, D]; weight [m, D]; values only (nothing recorded). Method, by solver:
//   cg:    W of full column rank (rank D, so D <= m) -> eps* = eps exactly (0 where sigma
//          is 0); else CG in the cheaper space (D-space when D < m, else m-space), capped
//          at rank(W) <= min(m, D) iterations, relative residual opt.tol, per-system exit.
//          CG never runs past the rank bound; a system still above tol there (an
//          ill-conditioned K needs more than rank(K) iterations in finite precision, and
//          a truncated solve is biased) is finished by a float64 direct solve (pivoted
//          Cholesky, kernels/cpu/r2g2_cg.h), reported in the method and direct_systems.
//   exact: the float64 projection oracle on the CPU (kernels/cpu/r2g2_exact.h; tensors
//          elsewhere are copied there).
//   paper: the paper's truncated m-space CG (x0 = rhs, |r_i| < abs_tol or max_iters,
//          capped at rank(W)); no full-rank shortcut, as in the paper. Biased.
LatentProjection r2g2_latent_project(const Tensor& sigma, const Tensor& eps, const Tensor& weight,
                                     const R2G2Options& opt);

// Reads a projection back for people: iterations, residual, noise removed
// (1 - ||eps*||^2 / ||eps||^2 over the whole layer). Synchronises with the device.
R2G2Diagnostics summarize(const LatentProjection& p, const Tensor& eps);

}  // namespace r2g2
