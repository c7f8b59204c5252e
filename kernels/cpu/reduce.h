#pragma once
// Reductions over the middle axis of a contiguous [outer, r, inner] buffer. Sums
// accumulate in double for float32 inputs, so results do not depend on thread order.
#include <cstdint>

namespace r2g2::kernels::cpu {

template <class T>
void reduce_sum(const T* x, T* y, int64_t outer, int64_t r, int64_t inner);
// y[o, i] = max_j x[o, j, i]; arg[o, i] = the first j attaining it.
template <class T>
void reduce_max(const T* x, T* y, int32_t* arg, int64_t outer, int64_t r, int64_t inner);
// gx (zeroed by the caller) [o, arg[o,i], i] += gy[o, i].
template <class T>
void reduce_max_backward(const T* gy, const int32_t* arg, T* gx, int64_t outer, int64_t r, int64_t inner);

}  // namespace r2g2::kernels::cpu
