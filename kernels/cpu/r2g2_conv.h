#pragma once
// The batched R2-G2 conv solves, CPU reference (declarations: kernels/r2g2_conv.inc,
// including the direct m-space solve), and the direct solve's cost model.
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
// The direct solve is taken when it is cheaper by that count, Z of one image (D T doubles)
// stays within kExplicitKElements, so its memory stays bounded, and P <= kDirectMaxPositions:
// min(P, D) iterations is CG's worst case, and on larger systems CG usually stops well
// before it, so the count is trusted only where it was measured (P = 4 to 64). The CUDA
// backend uses the same count (kernels/cuda/r2g2_conv_direct.cu adds its own size limit).
constexpr int64_t kExplicitKElements = int64_t{1} << 23;
constexpr int64_t kDirectMaxPositions = 64;
double conv_explicit_k_flops(const ConvGeom& g);
double conv_cg_flops_bound(const ConvGeom& g);

// The CPU's direct solve (declared in kernels/r2g2_conv.inc): systems run in parallel on
// the thread pool, each on its own, so the solves add no dependence on the thread count to
// that of the GEMM kernel. The calling thread keeps its float64 buffers (sigma² and
// sigma ⊙ eps, 2 O D doubles; Z, at most kExplicitKElements; K and rhs of a group of
// images) for the next call: allocated afresh, their page faults cost as much as the GEMM.

}  // namespace r2g2::kernels::cpu
