#pragma once
// Batched R2-G2 solves for a Gaussian latent followed by a shared linear map W [m, D]
// (CPU reference; kernels/cuda/r2g2_cg.h has the same signatures). System n has
//   A_n = W diag(sigma_n),  K_n = A_n A_n^T = W diag(sigma_n^2) W^T  (m x m),
//   eps*_n = A_n^T K_n^+ A_n eps_n   (the projection of eps_n onto the row space of A_n).
// m-space: CG on K_n beta = A_n eps_n from beta = 0, then eps* = sigma_n . (W^T beta).
// D-space: CG on (A_n^T A_n) y = (A_n^T A_n) eps_n from y = 0. The iterates stay in the
//   Krylov space of the right-hand side, inside range(A_n^T A_n), so CG converges to
//   the minimum-norm solution, which is the projection itself: y = eps*.
// Neither form builds K: products go through W (m-space: K v = W (sigma^2 . (W^T v))).
// The arithmetic (vectors, products, dot products) is float64 whatever T is: CG on a
// singular K in float32 drifts once it runs past the rank (estimators/README.md, trap 1).
#include <cstdint>

namespace r2g2::kernels {

struct LatentSolve {
  int64_t systems = 0;  // N: one per example
  int m = 0;            // rows of W (outputs of the linear map)
  int D = 0;            // latent size
  bool d_space = false;
  int max_iters = 0;  // iteration cap; the caller applies the rank bound min(m, D, rank W)
  double tol = 1e-6;  // cg: stop when ||r|| <= tol ||b||
  // The paper's truncated solver (m-space only): start at x0 = b, stop when every
  // |r_i| < abs_tol or after max_iters. Biased; see estimators/r2g2_options.h.
  bool paper = false;
  double abs_tol = 1e-3;
};

}  // namespace r2g2::kernels

namespace r2g2::kernels::cpu {

// W [m, D]; sigma, eps, eps_star [systems, D] row-major. iterations [systems] and
// residual [systems] (final true relative residual ||b - M x|| / ||b||, 0 when b = 0)
// may be null. A zero right-hand side gives eps* = 0 after 0 iterations.
template <class T>
void r2g2_latent_cg(const LatentSolve& s, const T* W, const T* sigma, const T* eps, T* eps_star,
                    int32_t* iterations, double* residual);

// The float64 oracle: eps* = A^+ A eps per system from a symmetric eigen-decomposition
// of the smaller Gram matrix (A A^T when m <= D, else A^T A), eigenvalues at or below
// rel_cut * (largest eigenvalue) treated as zero.
template <class T>
void r2g2_latent_exact(int64_t systems, int m, int D, const T* W, const T* sigma, const T* eps, T* eps_star,
                       double rel_cut = 1e-12);

// A direct float64 solve of the systems listed in `which` (count of them; null: all
// systems), for systems CG could not finish within the rank bound (ill-conditioned K
// needs more than rank(K) iterations in finite precision). Pivoted Cholesky of the
// system's Gram matrix with pivots at or below rel_cut * (largest diagonal entry)
// dropped, then (m-space, s.d_space false) a basic solution of K beta = A eps and
// eps* = A^T beta, or (D-space) the projection onto range(A^T A) = range(P L):
// eps* = P L (L^T L)^-1 L^T P^T eps. residual[n] (may be null) gets the relative residual
// of the result in the chosen space. Uses s.m, s.D, s.d_space.
template <class T>
void r2g2_latent_direct(const LatentSolve& s, const T* W, const T* sigma, const T* eps, T* eps_star,
                        const int64_t* which, int64_t count, double* residual, double rel_cut = 1e-12);

// Pivoted Cholesky of a symmetric positive semi-definite k x k matrix `a` (row-major,
// overwritten): on return perm[0..k) is the pivot order and, for the returned rank r,
// column c < r of the lower triangle holds L so that P^T a P ~= L L^T. Stops when the
// largest remaining pivot is <= rel_cut * (largest diagonal entry of the input).
int pivoted_cholesky(double* a, int k, int* perm, double rel_cut);

// Numerical rank of W [m, D]: pivoted Cholesky of the smaller Gram matrix in float64,
// stopping when the largest remaining pivot is <= rel_cut * (largest diagonal entry).
template <class T>
int gram_rank(const T* W, int m, int D, double rel_cut = 1e-12);

// Eigen-decomposition of a symmetric k x k matrix (cyclic Jacobi, float64): on return
// `a` is destroyed, values[k] holds the eigenvalues and vectors (k x k, row-major)
// holds the matching eigenvectors as columns.
void symmetric_eigen(double* a, double* vectors, double* values, int k);

}  // namespace r2g2::kernels::cpu
