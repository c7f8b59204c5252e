#pragma once
// Launch geometry shared by r2g2's hand-written kernels. Every kernel walks its index
// space with a grid-stride loop in 64-bit arithmetic, so a capped grid covers any size and
// no index wraps past 2^31.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>

#include "kernels/cuda/check.h"
#include "kernels/cuda/stream.h"

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

// kernel<<<grid, block, 0, current_stream()>>>(args...) followed by the launch check.
#define R2G2_LAUNCH(kernel, grid, block, ...)                                             \
  do {                                                                                    \
    kernel<<<(grid), (block), 0, ::r2g2::kernels::cuda::current_stream()>>>(__VA_ARGS__); \
    R2G2_CUDA_LAUNCH_CHECK();                                                             \
  } while (0)
