#pragma once
// The batched R2-G2 conv solves, CPU reference (declarations: kernels/r2g2_conv.inc,
// including the direct m-space solve), the direct solve's cost model, and the m-space
// backward r2g2_conv_backward_m, which only this backend has.
#include "r2g2/kernels/common.h"
#include "r2g2/kernels/r2g2_solve.h"

namespace r2g2::kernels::cpu {
#include "r2g2/kernels/r2g2_conv.inc"

// ---- The cost model of the direct solve (r2g2_conv_solve_m_direct), both backends. ----
//
// Flops per image (T = P(P+1)/2 pairs p <= q): forming all O matrices K_nc takes one GEMM
// sigma² [O, D] x Z [D, T] with Z[d, (p, q)] = X[d, p] X[d, q], 2 O D T, i.e. (P + 1) / 2
// times the layer's forward conv, and each solve O(P³ / 3). CG applies K matrix-free at
// 4 D P per iteration for up to min(P, D) iterations: 4 O D P min(P, D)
// (conv_cg_flops_bound); where D P² is small the CPU's CG forms K too, by a GEMM over all
// P² pairs (twice the direct one), and then iterates at 2 P² per step.
// The CPU's direct solve skips the pair products that padding leaves zero
// (kernels/cpu/r2g2_conv_direct.cpp), so on the CPU the count is an upper bound.
// The direct solve is taken when it is cheaper by that count, Z of one image (D T doubles)
// stays within kExplicitKElements, so its memory stays bounded, and P <= kDirectMaxPositions:
// min(P, D) iterations is CG's worst case, and on larger systems CG usually stops well
// before it, so the count is trusted only where it was measured (P = 4 to 64). The CUDA
// backend uses the same count (kernels/cuda/r2g2_conv_direct.cu adds its own size limit).
constexpr int64_t kExplicitKElements = int64_t{1} << 23;
constexpr int64_t kDirectMaxPositions = 64;
double conv_explicit_k_flops(const ConvGeom& g);
double conv_cg_flops_bound(const ConvGeom& g);

// The CPU's direct solve (declared in kernels/r2g2_conv.inc): blocks of a fixed number of
// output channels run in parallel on the thread pool, each forming its own K and
// right-hand sides by GEMMs and solving its systems, so the result does not depend on the
// thread count. The calling thread keeps its float64 buffers (sigma² and sigma ⊙ eps in
// row-group order, 2 O D doubles, when the batch takes several image groups; the pair
// products, K and right-hand sides of a group of images, 8 and 32 MB at most) for the next
// call: allocated afresh, their page faults cost as much as the GEMMs.

// The backward of R2-G2 for conv2d in the m-space form (eps*_nc = s_c ⊙ (X_n beta_nc)).
//
// cols [N, D, P], grad [N, O, P] (the output gradient of image n, channel c at each
// position), beta [N, O, P], mu and sigma [O, D]. With e_nc = X_n beta_nc, xg_nc = X_n g_nc
// and w*_nc = mu_c + s_c² ⊙ e_nc (= mu_c + s_c ⊙ eps*_nc), writes whichever outputs are
// non-null:
//   dmu [O, D]        = Σ_n xg_nc                         (rt's, from the same products)
//   dsigma [O, D]     = s_c ⊙ Σ_n xg_nc ⊙ e_nc            (= Σ_n xg_nc ⊙ eps*_nc)
//   dcols [N, D, P]   = Σ_c w*_nc g_ncᵀ                   (the column gradient; col2im gives dx)
// in one pass over (d tile, image, channel), 3P + 3 multiply-adds per (n, c, d) and no
// [N, O, D] temporary. Each output element is summed by one thread in a fixed order, so
// the result does not depend on the thread count (the CPU's vector width may change its
// rounding). A CPU kernel only: on CUDA, conv_est::r2g2 takes its op path.
template <class T>
void r2g2_conv_backward_m(const T* cols, const T* grad, const T* beta, const T* mu, const T* sigma, T* dmu,
                          T* dsigma, T* dcols, const ConvGeom& g);

}  // namespace r2g2::kernels::cpu
