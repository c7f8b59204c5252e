#pragma once
// Device code of kernels/cuda/optim.cu (the contracts are in kernels/optim.inc). A
// header, so that the host emulator runs it too. Each update is one fused pass: the
// gradient and state are read once and the new parameter and state written, one thread
// per element, with the CPU's per-element update (kernels/optim_math.h).
#include <cstdint>

#include "r2g2/kernels/cuda/launch.cuh"
#include "r2g2/kernels/optim_math.h"

namespace r2g2::kernels::cuda::optim_detail {

// bias1 = 1 - beta1^t and bias2 = 1 - beta2^t come from the host (adam_bias).
template <class T>
__global__ void adam_kernel(T* __restrict__ p, const T* __restrict__ g, T* __restrict__ m, T* __restrict__ v,
                            int64_t n, T lr, T beta1, T beta2, T eps, T weight_decay, T bias1, T bias2) {
  for (int64_t i = global_thread(); i < n; i += grid_threads())
    adam_update(p[i], g[i], m[i], v[i], lr, beta1, beta2, eps, weight_decay, bias1, bias2);
}

// The tensors of one multi-tensor Adam launch, passed by value as a kernel argument (well
// under the 4 KiB parameter limit). Block b updates chunk b - first_block[k] of the tensor k
// with first_block[k] <= b < first_block[k + 1], kAdamChunk elements per block.
constexpr int kAdamTensorsPerLaunch = 32;
constexpr int64_t kAdamChunk = 4096;
template <class T>
struct AdamLaunchTable {
  AdamTensor<T> tensors[kAdamTensorsPerLaunch];
  int64_t first_block[kAdamTensorsPerLaunch + 1];
  int count;
};

// This block's chunk of its tensor in the table, updated.
template <class T>
__device__ __forceinline__ void adam_many_block(const AdamLaunchTable<T>& table, T lr, T beta1, T beta2, T eps,
                                                T weight_decay, T bias1, T bias2) {
  const int64_t block = blockIdx.x;
  int k = 0;  // at most 32 tensors: a scan is as fast as a search
  while (k + 1 < table.count && table.first_block[k + 1] <= block) ++k;
  const AdamTensor<T> t = table.tensors[k];
  const int64_t begin = (block - table.first_block[k]) * kAdamChunk;
  const int64_t end = begin + kAdamChunk < t.n ? begin + kAdamChunk : t.n;
  for (int64_t i = begin + threadIdx.x; i < end; i += blockDim.x)
    adam_update(t.p[i], t.g[i], t.m[i], t.v[i], lr, beta1, beta2, eps, weight_decay, bias1, bias2);
}

template <class T>
__global__ void adam_many_kernel(AdamLaunchTable<T> table, T lr, T beta1, T beta2, T eps, T weight_decay,
                                 T bias1, T bias2) {
  adam_many_block(table, lr, beta1, beta2, eps, weight_decay, bias1, bias2);
}

// adam_many_kernel in a captured graph (kernels/cuda/graph.h): lr and the bias corrections
// are read at replay from values = {lr, 1 - beta1^t, 1 - beta2^t}, and nothing is updated
// when the captured finite check cleared *loss_finite.
template <class T>
__global__ void adam_many_replay_kernel(AdamLaunchTable<T> table, const T* __restrict__ values, T beta1,
                                        T beta2, T eps, T weight_decay,
                                        const uint32_t* __restrict__ loss_finite) {
  if (*loss_finite == 0) return;
  adam_many_block(table, values[0], beta1, beta2, eps, weight_decay, values[1], values[2]);
}

// Clears *flag when any of the n values is not finite and leaves it alone otherwise, so
// that several checks of one replay combine (the replay starts it at 1); one block.
template <class T>
__global__ void finite_flag_kernel(const T* __restrict__ x, int64_t n, uint32_t* __restrict__ flag) {
  int finite = 1;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) finite &= isfinite(x[i]) ? 1 : 0;
  finite = __syncthreads_and(finite);
  if (threadIdx.x == 0 && !finite) *flag = 0;
}

// With momentum != 0, buf holds n elements (sgd_step refuses a null one); without
// momentum it is ignored and may be null, as in the CPU reference.
template <class T>
__global__ void sgd_kernel(T* __restrict__ p, const T* __restrict__ g, T* __restrict__ buf, int64_t n, T lr,
                           T momentum, T weight_decay, bool first) {
  for (int64_t i = global_thread(); i < n; i += grid_threads())
    sgd_update(p[i], g[i], momentum != T(0) ? buf + i : nullptr, lr, momentum, weight_decay, first);
}

}  // namespace r2g2::kernels::cuda::optim_detail
