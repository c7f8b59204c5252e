#pragma once
// The batched R2-G2 conv solves, CPU reference (declarations: kernels/r2g2_conv.inc), and
// the CPU's direct m-space solve (no CUDA counterpart: the CUDA path runs CG).
#include "r2g2/kernels/common.h"
#include "r2g2/kernels/r2g2_solve.h"

namespace r2g2::kernels::cpu {
#include "r2g2/kernels/r2g2_conv.inc"

// ---- CPU only: explicit K and a float64 pivoted Cholesky per system. ----
//
// Cost model (flops per image; T = P(P+1)/2 pairs p <= q): forming all O matrices K_nc
// takes one GEMM sigma² [O, D] x Z [D, T] with Z[d, (p, q)] = X[d, p] X[d, q], 2 O D T,
// i.e. (P + 1) / 2 times the layer's forward conv, and each solve O(P³ / 3). CG applies K
// matrix-free at 4 D P per iteration for up to min(P, D) iterations: 4 O D P min(P, D)
// (conv_cg_flops_bound); where D P² is small the CPU's CG forms K too, by a GEMM over all
// P² pairs (twice the direct one), and then iterates at 2 P² per step.
// The direct solve is taken when it is cheaper by that count, Z of one image (D T doubles)
// stays within kExplicitKElements, so its memory stays bounded, and P <= kDirectMaxPositions:
// min(P, D) iterations is CG's worst case, and on larger systems CG usually stops well
// before it, so the count is trusted only where it was measured (P = 4 to 64).
constexpr int64_t kExplicitKElements = int64_t{1} << 23;
constexpr int64_t kDirectMaxPositions = 64;
double conv_explicit_k_flops(const ConvGeom& g);
double conv_cg_flops_bound(const ConvGeom& g);
bool conv_explicit_k_fits(const ConvGeom& g);

// cols [N, D, P], sigma [O, D], eps [O, D] -> beta [N, O, P] with K_nc beta = A_nc eps_c on
// range(K_nc), K_nc = X_nᵀ diag(s_c²) X_n formed in float64 (products of the inputs are
// exact in double; the sums round at 1e-16 of K, where a float32 K would round at 1e-7
// and, K being a Gram matrix, lose every direction below ~3e-4 of the largest singular
// value of A). Pivoted Cholesky drops pivots at or below rel_cut * (largest diagonal of
// K_nc): the directions that dead ReLU positions or zero sigma leave out of range(K),
// where the Schur complement is only rounding. beta is the basic solution (zero on the
// dropped pivots); every solution gives the same eps* = s_c ⊙ (X_n beta), the projection.
// Stats: iterations 0, rel_residual ||K beta - rhs|| / ||rhs|| in float64, eps_star_sq
// betaᵀ K beta. Systems run in parallel on the thread pool, each on its own, so the solves
// add no dependence on the thread count to that of the GEMM kernel. The calling thread keeps
// its float64 buffers (sigma² and sigma ⊙ eps, 2 O D doubles; Z, at most kExplicitKElements;
// K and rhs of a group of images) for the next call: allocated afresh, their page faults
// cost as much as the GEMM.
//
// The relative pivot cut of the latent direct solve (kernels/cpu/r2g2_cg.h), well above
// the rounding of K (~1e-16 of its largest entry) in the Schur complement of a singular K.
constexpr double kDirectRelCut = 1e-12;
template <class T>
void r2g2_conv_solve_m_direct(const T* cols, const T* sigma, const T* eps, T* beta,
                              const R2G2SolveStats& stats, const ConvGeom& g, double rel_cut = kDirectRelCut);

}  // namespace r2g2::kernels::cpu
