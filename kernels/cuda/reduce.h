#pragma once
// CUDA implementation of kernels/cpu/reduce.h: the same signatures, device pointers,
// launched on r2g2's current stream (kernels/cuda/stream.h). Errors throw r2g2::Error.
// Sums are deterministic fixed-order trees in double (two passes for long axes), so a
// result never changes between runs; max keeps the CPU's first-maximum and NaN rules.
// ---- The CPU reference's notes follow. ----
// Reductions over the middle axis of a contiguous [outer, r, inner] buffer. Sums
// accumulate in double for float32 inputs, so results do not depend on thread order.
#include <cstdint>

namespace r2g2::kernels::cuda {

template <class T>
void reduce_sum(const T* x, T* y, int64_t outer, int64_t r, int64_t inner);
// y[o, i] = max_j x[o, j, i]; arg[o, i] = the first j attaining it.
template <class T>
void reduce_max(const T* x, T* y, int32_t* arg, int64_t outer, int64_t r, int64_t inner);
// gx (zeroed by the caller) [o, arg[o,i], i] += gy[o, i].
template <class T>
void reduce_max_backward(const T* gy, const int32_t* arg, T* gx, int64_t outer, int64_t r, int64_t inner);

}  // namespace r2g2::kernels::cuda
