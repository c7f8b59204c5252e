// Launchers of the batched R2-G2 CG (device code in r2g2_cg_kernels.cuh; the CPU
// reference r2g2_cg.cpp does the same arithmetic step for step, in float64).
#include "r2g2/kernels/cuda/r2g2_cg.h"

#include <algorithm>
#include <vector>

#include "r2g2/kernels/cpu/r2g2_cg.h"  // the host fallback
#include "r2g2/kernels/cuda/r2g2_cg_kernels.cuh"

namespace r2g2::kernels::cuda {

namespace r2g2_cg_detail {

// CUDA's limit on gridDim.x.
constexpr int64_t kMaxGridX = 0x7FFFFFFF;

// Blocks of one launch for `systems` systems: one per system up to max_blocks, the
// kernel's stride over systems covering the rest. Never 0 and never past the grid
// limit, whatever the 64-bit count (a plain cast to unsigned wraps past 2^32).
unsigned system_blocks(int64_t systems, int64_t max_blocks) {
  R2G2_CHECK(max_blocks >= 1 && max_blocks <= kMaxGridX, "r2g2 latent cg: block cap ", max_blocks,
             " outside [1, ", kMaxGridX, "]");
  return static_cast<unsigned>(std::clamp<int64_t>(systems, 1, max_blocks));
}

// The CPU reference on host copies, for systems whose vectors do not fit in one block's
// shared memory: the same arithmetic, correct if slow.
template <class T>
void solve_on_host(const LatentSolve& s, const T* W, const T* sigma, const T* eps, T* eps_star, int32_t* iterations,
                   double* residual) {
  const size_t nW = static_cast<size_t>(s.m) * s.D, nS = static_cast<size_t>(s.systems) * s.D;
  std::vector<T> hW(nW), hs(nS), he(nS), hout(nS);
  std::vector<int32_t> hit(static_cast<size_t>(s.systems));
  std::vector<double> hres(static_cast<size_t>(s.systems));
  cudaStream_t st = current_stream();
  R2G2_CUDA_CHECK(cudaMemcpyAsync(hW.data(), W, nW * sizeof(T), cudaMemcpyDeviceToHost, st));
  R2G2_CUDA_CHECK(cudaMemcpyAsync(hs.data(), sigma, nS * sizeof(T), cudaMemcpyDeviceToHost, st));
  R2G2_CUDA_CHECK(cudaMemcpyAsync(he.data(), eps, nS * sizeof(T), cudaMemcpyDeviceToHost, st));
  R2G2_CUDA_CHECK(cudaStreamSynchronize(st));
  cpu::r2g2_latent_cg<T>(s, hW.data(), hs.data(), he.data(), hout.data(), hit.data(), hres.data());
  R2G2_CUDA_CHECK(cudaMemcpyAsync(eps_star, hout.data(), nS * sizeof(T), cudaMemcpyHostToDevice, st));
  if (iterations)
    R2G2_CUDA_CHECK(
        cudaMemcpyAsync(iterations, hit.data(), hit.size() * sizeof(int32_t), cudaMemcpyHostToDevice, st));
  if (residual)
    R2G2_CUDA_CHECK(
        cudaMemcpyAsync(residual, hres.data(), hres.size() * sizeof(double), cudaMemcpyHostToDevice, st));
  R2G2_CUDA_CHECK(cudaStreamSynchronize(st));  // the host buffers die here
}

// r2g2_latent_cg with at most max_blocks blocks in the grid.
template <class T>
void latent_cg(const LatentSolve& s, const T* W, const T* sigma, const T* eps, T* eps_star, int32_t* iterations,
               double* residual, int64_t max_blocks) {
  if (s.systems <= 0) return;
  const size_t bytes = sizeof(double) * static_cast<size_t>(shared_doubles(s));
  int device = 0, plain = 0, optin = 0;
  R2G2_CUDA_CHECK(cudaGetDevice(&device));
  R2G2_CUDA_CHECK(cudaDeviceGetAttribute(&plain, cudaDevAttrMaxSharedMemoryPerBlock, device));
  R2G2_CUDA_CHECK(cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, device));
  if (bytes > static_cast<size_t>(std::max(plain, optin))) {
    solve_on_host(s, W, sigma, eps, eps_star, iterations, residual);
    return;
  }
  if (bytes > static_cast<size_t>(plain))
    R2G2_CUDA_CHECK(cudaFuncSetAttribute(latent_cg_kernel<T>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                         static_cast<int>(bytes)));
  R2G2_LAUNCH_SMEM(latent_cg_kernel<T>, system_blocks(s.systems, max_blocks), kThreads, bytes, s, W, sigma, eps,
                   eps_star, iterations, residual);
}

}  // namespace r2g2_cg_detail

template <class T>
void r2g2_latent_cg(const LatentSolve& s, const T* W, const T* sigma, const T* eps, T* eps_star,
                    int32_t* iterations, double* residual) {
  r2g2_cg_detail::latent_cg(s, W, sigma, eps, eps_star, iterations, residual, kMaxBlocks);
}

template void r2g2_latent_cg<float>(const LatentSolve&, const float*, const float*, const float*, float*,
                                    int32_t*, double*);
template void r2g2_latent_cg<double>(const LatentSolve&, const double*, const double*, const double*, double*,
                                     int32_t*, double*);

}  // namespace r2g2::kernels::cuda
