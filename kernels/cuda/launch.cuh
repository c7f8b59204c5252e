#pragma once
// Launch geometry shared by r2g2's hand-written kernels. Every kernel walks its index
// space with a grid-stride loop in 64-bit arithmetic, so a capped grid covers any size and
// no index wraps past 2^31.
#include <algorithm>
#include <cstdint>

#include "r2g2/kernels/cuda/check.h"
#include "r2g2/kernels/cuda/cuda_api.h"
#include "r2g2/kernels/cuda/stream.h"

namespace r2g2::kernels::cuda {

constexpr int kThreads = 256;
// Enough blocks to fill an H200 (132 SMs x 8 blocks of 256) many times over; beyond that
// the grid-stride loop does the rest.
constexpr int64_t kMaxBlocks = 1 << 16;

// Blocks for `n` work items at `threads` per block: at least 1, at most kMaxBlocks.
inline unsigned blocks_for(int64_t n, int threads = kThreads) {
  const int64_t blocks = (n + threads - 1) / threads;
  return static_cast<unsigned>(std::clamp<int64_t>(blocks, 1, kMaxBlocks));
}

__device__ __forceinline__ int64_t global_thread() {
  return static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
}
__device__ __forceinline__ int64_t grid_threads() { return static_cast<int64_t>(gridDim.x) * blockDim.x; }

}  // namespace r2g2::kernels::cuda

// kernel<<<grid, block, smem, current_stream()>>>(args...) followed by the launch check
// (check.h). Under the emulator the same line runs the kernel on the host.
#ifdef R2G2_CUDA_EMULATION
#define R2G2_KERNEL_CALL(kernel, grid, block, smem, ...) \
  R2G2_EMULATED_LAUNCH(kernel, grid, block, smem __VA_OPT__(, ) __VA_ARGS__)
#else
#define R2G2_KERNEL_CALL(kernel, grid, block, smem, ...) \
  kernel<<<(grid), (block), (smem), ::r2g2::kernels::cuda::current_stream()>>>(__VA_ARGS__)
#endif
#define R2G2_LAUNCH_SMEM(kernel, grid, block, smem, ...)                      \
  do {                                                                        \
    R2G2_KERNEL_CALL(kernel, grid, block, smem __VA_OPT__(, ) __VA_ARGS__);   \
    ::r2g2::kernels::cuda::check_launch(#kernel, __FILE__, __LINE__);         \
  } while (0)
#define R2G2_LAUNCH(kernel, grid, block, ...) R2G2_LAUNCH_SMEM(kernel, grid, block, 0 __VA_OPT__(, ) __VA_ARGS__)
