// The direct m-space conv solve on CUDA (contract: kernels/r2g2_conv.inc; the CPU reference
// kernels/cpu/r2g2_conv_direct.cpp is the specification): per group of images, the pair
// products Z and the patches X in float64, K and the right-hand sides of every system by
// two GEMMs, then one warp per system (r2g2_conv_direct_kernels.cuh).
//
// The GEMMs go through kernels/cuda/gemm.h: cuBLAS on a device (float64, so no TF32), and
// under the host emulator the CPU reference behind cuBLAS's argument checks, so that
// everything around them runs in the emulated tests. The images of a group sit side by
// side in Z, so K_all [O, count T] = sigma² [O, D] x Z [D, count T] is one GEMM: the same
// products as a strided-batched GEMM over the images with sigma² shared, but one wide
// product instead of count narrow ones (at P = 4 an image's Z has only 10 columns).
#include <algorithm>
#include <cstdint>

#include "r2g2/kernels/cpu/r2g2_conv.h"
#include "r2g2/kernels/cuda/check.h"
#include "r2g2/kernels/cuda/gemm.h"
#include "r2g2/kernels/cuda/r2g2_conv.h"
#include "r2g2/kernels/cuda/r2g2_conv_direct_kernels.cuh"
#include "r2g2/kernels/cuda/scratch.cuh"
#include "r2g2/kernels/runtime/error.h"

namespace r2g2::kernels::cuda {

using namespace r2g2_conv_direct_detail;

namespace r2g2_conv_direct_detail {

// Z, X, K and rhs of one group of images stay within this many bytes; a group takes at
// least one image (one image's Z is bounded by cpu::kExplicitKElements in the cost model).
constexpr int64_t kGroupBytes = int64_t{256} << 20;

int64_t images_per_group(const ConvGeom& g) {
  const int64_t T = pair_count(g.positions()), P = g.positions();
  const int64_t per_image = std::max<int64_t>((g.patch_size() + g.out_channels) * (T + P) * 8, 1);
  return std::clamp<int64_t>(kGroupBytes / per_image, 1, std::max<int64_t>(g.images, 1));
}

// The solve with an explicit group size (tests take small groups to cover the walk).
template <class T>
void solve_direct(const T* cols, const T* sigma, const T* eps, T* beta, const R2G2SolveStats& st,
                  const ConvGeom& g, double rel_cut, int64_t group) {
  const int64_t D = g.patch_size(), O = g.out_channels, PT = pair_count(g.positions());
  const int P = static_cast<int>(g.positions());
  DeviceScratch<double> s2(O * D), se(O * D);
  R2G2_LAUNCH(widen_kernel<T>, blocks_for(O * D), kThreads, sigma, eps, s2.get(), se.get(), O * D);
  DeviceScratch<double> Z(D * group * PT), Xcat(D * group * P), K_all(O * group * PT), rhs_all(O * group * P);
  const size_t shared_bytes = static_cast<size_t>(kDirectWarps * warp_doubles(P)) * sizeof(double);
  R2G2_CUDA_CHECK(cudaFuncSetAttribute(solve_kernel<T>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                       static_cast<int>(shared_bytes)));
  for (int64_t n0 = 0; n0 < g.images; n0 += group) {
    const int64_t count = std::min(group, g.images - n0), zw = count * PT, xw = count * P;
    R2G2_LAUNCH(pair_products_kernel<T>, blocks_for(D * count * P), kThreads, cols, Z.get(), Xcat.get(), n0,
                count, D, P);
    gemm<double>(false, false, O, zw, D, 1.0, s2.get(), D, Z.get(), zw, 0.0, K_all.get(), zw);
    gemm<double>(false, false, O, xw, D, 1.0, se.get(), D, Xcat.get(), xw, 0.0, rhs_all.get(), xw);
    const DirectGroup grp{K_all.get(), rhs_all.get(), n0, count};
    const unsigned blocks = blocks_for(count * O, kDirectWarps);
    R2G2_LAUNCH_SMEM(solve_kernel<T>, blocks, kDirectThreads, shared_bytes, grp, beta, st, O, P, rel_cut);
  }
}

}  // namespace r2g2_conv_direct_detail

// The CPU's flop count (kernels/cpu/r2g2_conv.h) decides here too, so that both backends
// choose the same method for the same layer. On a device the count leans towards CG: the
// GEMM runs near the float64 peak, while CG's block-per-system iterations are bound by
// latency (the kernel lab's r2g2_conv family times both on the paper's shapes). P is
// limited to the 32 lanes of a warp (the paper's layers have P = 16 and 4); larger P runs CG.
bool conv_explicit_k_fits(const ConvGeom& g) {
  return g.positions() <= kWarp && g.patch_size() * pair_count(g.positions()) <= cpu::kExplicitKElements &&
         cpu::conv_explicit_k_flops(g) < cpu::conv_cg_flops_bound(g);
}

template <class T>
void r2g2_conv_solve_m_direct(const T* cols, const T* sigma, const T* eps, T* beta, const R2G2SolveStats& st,
                              const ConvGeom& g, double rel_cut) {
  if (g.images <= 0 || g.out_channels <= 0 || g.positions() <= 0) return;
  R2G2_CHECK(g.positions() <= kWarp, "r2g2_conv_solve_m_direct: P = ", g.positions(),
             " positions exceed the ", kWarp, " lanes of the warp that solves a system (use cg)");
  R2G2_CHECK(g.patch_size() <= INT32_MAX && g.images * g.out_channels <= INT32_MAX,
             "r2g2_conv_solve_m_direct: sizes out of range (N ", g.images, ", O ", g.out_channels, ", D ",
             g.patch_size(), ", P ", g.positions(), ")");
  solve_direct(cols, sigma, eps, beta, st, g, rel_cut, images_per_group(g));
}

template void r2g2_conv_solve_m_direct<float>(const float*, const float*, const float*, float*,
                                              const R2G2SolveStats&, const ConvGeom&, double);
template void r2g2_conv_solve_m_direct<double>(const double*, const double*, const double*, double*,
                                               const R2G2SolveStats&, const ConvGeom&, double);

}  // namespace r2g2::kernels::cuda
