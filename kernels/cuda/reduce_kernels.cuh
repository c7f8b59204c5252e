#pragma once
// Device code of kernels/cuda/reduce.cu (the contracts are in kernels/reduce.inc); the
// sums live in sum_impl.cuh, shared with softmax.cu. A header, so that the host emulator
// runs it too.
#include <cmath>
#include <cstdint>

#include "r2g2/kernels/cuda/group_reduce.cuh"
#include "r2g2/kernels/cuda/launch.cuh"

namespace r2g2::kernels::cuda::reduce_detail {

// One thread per (o, i), scanning j in order exactly as the CPU reference does: the first
// maximum wins, a NaN at j = 0 sticks and a later NaN is never taken.
template <class T>
__global__ void max_scan_kernel(const T* __restrict__ x, T* __restrict__ y, int32_t* __restrict__ arg,
                                int64_t outer, int64_t r, int64_t inner) {
  const int64_t n = outer * inner;
  for (int64_t t = global_thread(); t < n; t += grid_threads()) {
    const int64_t o = t / inner, i = t - o * inner;
    const T* base = x + o * r * inner + i;
    T best = base[0];
    int64_t best_j = 0;
    for (int64_t j = 1; j < r; ++j) {
      const T v = base[j * inner];
      if (v > best) {
        best = v;
        best_j = j;
      }
    }
    y[t] = best;
    arg[t] = static_cast<int32_t>(best_j);
  }
}

// A candidate maximum: index -1 means none yet.
template <class T>
struct ArgMax {
  T value;
  int64_t index;
};

// Larger value wins; equal values go to the smaller index, which is the first occurrence
// the sequential scan would keep.
template <class T>
__device__ __forceinline__ ArgMax<T> better(ArgMax<T> a, ArgMax<T> b) {
  if (a.index < 0) return b;
  if (b.index < 0) return a;
  if (b.value > a.value) return b;
  if (a.value > b.value) return a;
  return a.index < b.index ? a : b;
}

// One GROUP of threads per row (inner == 1, long rows). Each lane scans j = lane,
// lane + GROUP, ... skipping NaNs, then the lanes combine with `better` in a fixed
// butterfly. Reproduces the scan: a NaN at j = 0 is the answer, other NaNs are ignored.
template <int GROUP, class T>
__global__ void max_rows_kernel(const T* __restrict__ x, T* __restrict__ y, int32_t* __restrict__ arg,
                                int64_t outer, int64_t r) {
  static_assert(GROUP == kWarp || GROUP == kThreads, "one warp or one block per row");
  constexpr int kGroups = kThreads / GROUP;
  const int group = threadIdx.x / GROUP, lane = threadIdx.x % GROUP;
  for (int64_t o = static_cast<int64_t>(blockIdx.x) * kGroups + group; o < outer;
       o += static_cast<int64_t>(gridDim.x) * kGroups) {
    const T* row = x + o * r;
    ArgMax<T> best{T(0), -1};
    for (int64_t j = lane; j < r; j += GROUP) {
      const T v = row[j];
      if (!isnan(v) && (best.index < 0 || v > best.value)) best = {v, j};
    }
#pragma unroll
    for (int offset = kWarp / 2; offset > 0; offset /= 2) {
      ArgMax<T> other{__shfl_xor_sync(0xffffffffu, best.value, offset),
                      __shfl_xor_sync(0xffffffffu, best.index, offset)};
      best = better(best, other);
    }
    if constexpr (GROUP > kWarp) {
      __shared__ T smem_value[GROUP / kWarp];
      __shared__ int64_t smem_index[GROUP / kWarp];
      const int warp = threadIdx.x / kWarp;
      if (threadIdx.x % kWarp == 0) {
        smem_value[warp] = best.value;
        smem_index[warp] = best.index;
      }
      __syncthreads();
      best = {smem_value[0], smem_index[0]};
      for (int w = 1; w < GROUP / kWarp; ++w) best = better(best, {smem_value[w], smem_index[w]});
      __syncthreads();
    }
    if (lane == 0) {
      const T first = row[0];
      if (isnan(first) || best.index < 0) best = {first, 0};
      y[o] = best.value;
      arg[o] = static_cast<int32_t>(best.index);
    }
  }
}

template <class T>
__global__ void max_backward_kernel(const T* __restrict__ gy, const int32_t* __restrict__ arg,
                                    T* __restrict__ gx, int64_t outer, int64_t r, int64_t inner) {
  // Each (o, i) owns column i of slab o, so no two threads write the same element.
  const int64_t n = outer * inner;
  for (int64_t t = global_thread(); t < n; t += grid_threads()) {
    const int64_t o = t / inner, i = t - o * inner;
    const int64_t j = arg[t];
    if (j >= 0 && j < r) gx[(o * r + j) * inner + i] += gy[t];  // arg comes from reduce_max: always in range
  }
}

}  // namespace r2g2::kernels::cuda::reduce_detail
