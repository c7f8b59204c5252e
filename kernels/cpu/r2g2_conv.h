#pragma once
// Batched solves behind R2-G2 for a Bayesian conv2d layer (estimators/README.md, "Closed forms").
//
// One system per (image n, output channel c). X_n is image n's im2col matrix [D, P]
// (D = C*kh*kw rows, P = OH*OW positions), s_c and eps_c are row c of sigma and of the
// shared weight noise, both [O, D]. With A_nc = X_nᵀ diag(s_c) (P x D):
//
//   m-space (P <= D, and the paper's solver): K = X_nᵀ diag(s_c²) X_n (P x P), solve
//     K beta = A eps_c = X_nᵀ (s_c ⊙ eps_c); then eps*_nc = s_c ⊙ (X_n beta).
//   D-space (D < P): M = diag(s_c) G_n diag(s_c) with G_n = X_n X_nᵀ (D x D), solve
//     M y = M eps_c from y0 = 0; CG stays in range(M) = row space of A, so y = eps*_nc.
//     Applying M costs D² instead of 2DP.
//
// K is applied as Xᵀ (s² ⊙ (X v)) (the CUDA kernel always; the CPU forms the O matrices
// of an image with one GEMM when D P² is small, see r2g2_conv.cpp), M through G_n.
// Residuals are re-orthogonalised (exact CG keeps them orthogonal; without it rounding
// breaks the finite termination the cap relies on). CG is capped at the rank bound min(P, D):
// in exact arithmetic it has converged by then, and in floating point running past
// the rank of a singular system amplifies rounding (estimators/README.md, trap 1). A system
// whose right-hand side is exactly 0 (all-zero patches, sigma = 0) returns 0 after
// 0 iterations, and a breakdown (pᵀKp <= 1e-15 trace(K) |p|²: only rounding left) stops the system
// where it is, so no system ever produces NaN from a degenerate K.
#include <cstdint>

namespace r2g2::kernels {

struct R2G2ConvGeom {
  int64_t images = 0;    // N
  int64_t channels = 0;  // O: systems per image
  int64_t d = 0;         // C*kh*kw
  int64_t p = 0;         // OH*OW
};

struct R2G2CGSettings {
  double tol = 1e-6;   // stop when ||r|| <= tol * ||rhs|| (ignored when paper)
  bool paper = false;  // the paper's truncated CG: x0 = rhs, stop when every |r_i| < abs_tol
  double abs_tol = 1e-3;
  int max_iters = 10;  // paper only; the rank bound applies in both modes
};

// Per-system read-outs (any pointer may be null), on the same device as the data.
struct R2G2SolveStats {
  int32_t* iterations = nullptr;   // [N*O]
  double* rel_residual = nullptr;  // [N*O] final ||r|| / ||rhs|| (0 when rhs = 0)
  double* eps_star_sq = nullptr;   // [N*O] ||eps*_nc||²
};

}  // namespace r2g2::kernels

namespace r2g2::kernels::cpu {

// cols [N, D, P], sigma [O, D], eps [O, D] -> beta [N, O, P]. Dot products and the
// vectors of CG are kept in double.
template <class T>
void r2g2_conv_solve_m(const T* cols, const T* sigma, const T* eps, T* beta, const R2G2SolveStats& stats,
                       const R2G2ConvGeom& g, const R2G2CGSettings& s);

// cols [N, D, P], sigma [O, D], eps [O, D] -> eps_star [N, O, D], through the Gram
// matrices G_n = X_n X_nᵀ that it writes to `gram` [N, D, D] in double. Here y is eps*
// itself, so rounding in G that gives null(M) small spurious eigenvalues would feed
// O(1) errors straight into eps* (a float32 Gram did, on zero patches); in the P x P form
// such directions are annihilated by X. `s.paper` must be false (the paper's solver is
// defined in m-space).
template <class T>
void r2g2_conv_solve_d(const T* cols, const T* sigma, const T* eps, T* eps_star, double* gram,
                       const R2G2SolveStats& stats, const R2G2ConvGeom& g, const R2G2CGSettings& s);

}  // namespace r2g2::kernels::cpu
