#pragma once
// Device code of kernels/cuda/softmax.cu (the contracts are in kernels/softmax.inc, the
// per-element pieces, shared with the CPU, in kernels/loss_math.h); the loss totals go
// through sum_impl.cuh. A header, so that the host emulator runs it too.
#include <cmath>
#include <cstdint>

#include "r2g2/kernels/cuda/group_reduce.cuh"
#include "r2g2/kernels/cuda/launch.cuh"
#include "r2g2/kernels/loss_math.h"

namespace r2g2::kernels::cuda::softmax_detail {

// Rows are spread over groups as in row_sum_kernel; the row loop is uniform per group.
template <int GROUP, class T>
__global__ void log_softmax_kernel(const T* __restrict__ x, T* __restrict__ y, int64_t rows, int64_t cols) {
  __shared__ double smem[GROUP / kWarp];
  constexpr int kGroups = kThreads / GROUP;
  const int group = threadIdx.x / GROUP, lane = threadIdx.x % GROUP;
  for (int64_t row = static_cast<int64_t>(blockIdx.x) * kGroups + group; row < rows;
       row += static_cast<int64_t>(gridDim.x) * kGroups) {
    const T* xr = x + row * cols;
    T* yr = y + row * cols;
    double m = -INFINITY;
    for (int64_t j = lane; j < cols; j += GROUP) m = fmax(m, static_cast<double>(xr[j]));
    m = group_all_reduce<GROUP>(m, MaxOp{}, smem);
    double lse = m;  // all -inf (or a +inf): the shift would make NaN, as in the CPU reference
    if (!isinf(m)) {
      double s = 0;
      for (int64_t j = lane; j < cols; j += GROUP) s += exp(static_cast<double>(xr[j]) - m);
      lse = m + log(group_all_reduce<GROUP>(s, SumOp{}, smem));
    }
    for (int64_t j = lane; j < cols; j += GROUP) yr[j] = static_cast<T>(static_cast<double>(xr[j]) - lse);
  }
}

template <int GROUP, class T>
__global__ void log_softmax_backward_kernel(const T* __restrict__ y, const T* __restrict__ gy,
                                            T* __restrict__ gx, int64_t rows, int64_t cols) {
  __shared__ double smem[GROUP / kWarp];
  constexpr int kGroups = kThreads / GROUP;
  const int group = threadIdx.x / GROUP, lane = threadIdx.x % GROUP;
  for (int64_t row = static_cast<int64_t>(blockIdx.x) * kGroups + group; row < rows;
       row += static_cast<int64_t>(gridDim.x) * kGroups) {
    const T* yr = y + row * cols;
    const T* gr = gy + row * cols;
    double total = 0;
    for (int64_t j = lane; j < cols; j += GROUP) total += static_cast<double>(gr[j]);
    total = group_all_reduce<GROUP>(total, SumOp{}, smem);
    for (int64_t j = lane; j < cols; j += GROUP)
      gx[row * cols + j] =
          static_cast<T>(static_cast<double>(gr[j]) - exp(static_cast<double>(yr[j])) * total);
  }
}

// -log_probs[r, label[r]] as a term of the loss sum. A label outside [0, cols) adds
// nothing and records the first such row in `bad` (atomicMin: the smallest row wins
// whatever the thread order, so the error names the row the CPU reference would).
template <class T>
struct CrossEntropyTerm {
  const T* log_probs;
  const int32_t* labels;
  int64_t cols;
  unsigned long long* bad;
  __device__ double operator()(int64_t r) const {
    const int32_t label = labels[r];
    if (label < 0 || label >= cols) {
      atomicMin(bad, static_cast<unsigned long long>(r));
      return 0.0;
    }
    return -static_cast<double>(log_probs[r * cols + label]);
  }
};

template <class T>
__global__ void cross_entropy_backward_kernel(const T* __restrict__ log_probs,
                                              const int32_t* __restrict__ labels, T scale,
                                              T* __restrict__ glogits, int64_t rows, int64_t cols) {
  const int64_t n = rows * cols;
  for (int64_t t = global_thread(); t < n; t += grid_threads()) {
    const int64_t r = t / cols, j = t - r * cols;
    glogits[t] = cross_entropy_grad(scale, log_probs[t], j == labels[r]);
  }
}

// max(x, 0) - x t + log(1 + e^-|x|), in double as the CPU reference sums it.
template <class T>
struct BceTerm {
  const T* x;
  const T* t;
  __device__ double operator()(int64_t i) const {
    return bce_term(static_cast<double>(x[i]), static_cast<double>(t[i]));
  }
};

template <class T>
__global__ void bce_backward_kernel(const T* __restrict__ x, const T* __restrict__ t, T scale,
                                    T* __restrict__ gx, T* __restrict__ gt, int64_t n) {
  for (int64_t i = global_thread(); i < n; i += grid_threads()) {
    gx[i] = bce_grad(scale, x[i], t[i]);
    if (gt) gt[i] = -scale * x[i];
  }
}

}  // namespace r2g2::kernels::cuda::softmax_detail
