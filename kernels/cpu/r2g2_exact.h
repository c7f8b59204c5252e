#pragma once
// The float64 oracle of every R2-G2 solve (host only, no CUDA counterpart): the exact
// projection eps* = A^T K^+ A eps = P_range(A^T) eps of a system's noise onto the row space
// of its A, computed from A itself, never from K.
//
// Why Gram-Schmidt on A and not an eigen-decomposition of K = A A^T (or A^T A): forming the
// Gram matrix squares the condition number, so a cut on its eigenvalues at 1e-12 of the
// largest drops every direction whose singular value is below 1e-6 of the largest, and
// rounding in the Gram matrix (about 1e-16 of its largest entry) blurs what remains near
// that cut. Orthogonalising the columns of A^T directly keeps directions down to the
// 1e-10 cut on singular-value scale, with rounding relative to A, not to A squared.
#include <cstdint>

#include "r2g2/kernels/common.h"

namespace r2g2::kernels::cpu {

// out = Q Q^T e, Q an orthonormal basis of span{v_0, ..., v_{count-1}} (v_j is row j of
// `vectors` [count, dim], overwritten), from Gram-Schmidt with column pivoting (largest
// remaining norm first) and a second orthogonalisation pass. A vector whose remaining
// norm is at or below rel_cut * (largest input norm) is dropped: the numerical rank,
// which it returns. out may alias e.
int project_onto_span(double* vectors, int64_t count, int64_t dim, const double* e, double* out,
                      double rel_cut = 1e-10);

// The latent systems of kernels/r2g2_cg.inc: eps*_n is the projection of eps_n onto the
// row space of A_n = W diag(sigma_n), spanned by sigma_n . W[i, :] for the m rows of W.
// W [m, D]; sigma, eps, eps_star [systems, D].
template <class T>
void r2g2_latent_exact(int64_t systems, int m, int D, const T* W, const T* sigma, const T* eps, T* eps_star);

// The conv systems of kernels/r2g2_conv.inc: eps*_nc is the projection of eps_c onto the
// row space of A_nc = X_n^T diag(s_c), spanned by s_c . (column q of X_n) for the P
// positions. cols [N, D, P], sigma and eps [O, D], eps_star [N, O, D]; rank [N*O] (may be
// null) gets each system's numerical rank.
void r2g2_conv_exact(const double* cols, const double* sigma, const double* eps, double* eps_star, int* rank,
                     const ConvGeom& g);

}  // namespace r2g2::kernels::cpu
