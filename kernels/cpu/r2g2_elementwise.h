#pragma once
// Small elementwise kernels of the Gaussian-linear estimators (CPU reference).
// Contiguous buffers of n elements. Degenerate variances (v <= 0: an all-zero input
// row, sigma underflowed to 0) give 0, never NaN or inf.
#include <cstdint>

namespace r2g2::kernels::cpu {

// LRT sampling of a mean-field linear layer's pre-activations:
//   h = mean + sqrt(v) * xi,  q = xi / sqrt(v)  (q = 0 where v <= 0).
// q is the per-unit factor of the LRT backward: dLoss/dv = g q / 2.
template <class T>
void lrt_sample(const T* mean, const T* v, const T* xi, T* h, T* q, int64_t n);

// R2-G2 closed form for one-output systems (v beta = r): beta = r / v, 0 where v <= 0.
// paper_abs_tol >= 0 applies the paper's truncated solver to the scalar system: start
// at beta = r and keep it when |r - v r| < paper_abs_tol (or when paper_max_iters is 0),
// else one CG step, which is exact in one dimension. Negative: exact division.
template <class T>
void r2g2_ratio(const T* r, const T* v, T* beta, int64_t n, double paper_abs_tol, int paper_max_iters);

// s = +1 where x >= 0, else -1 (Rademacher signs from normals, for Flipout).
template <class T>
void sign_of(const T* x, T* s, int64_t n);

// out = where(sigma > 0, eps, 0): eps* when A has full column rank (a zero sigma makes
// its column of A vanish, so that coordinate of eps is independent of h).
template <class T>
void mask_by_positive(const T* eps, const T* sigma, T* out, int64_t n);

}  // namespace r2g2::kernels::cpu
