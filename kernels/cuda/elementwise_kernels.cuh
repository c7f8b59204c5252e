#pragma once
// Device code of kernels/cuda/elementwise.cu (the contracts are in kernels/elementwise.inc,
// the per-element formulas, shared with the CPU, in kernels/elementwise_math.h). A header,
// so that the host emulator runs it too. One thread per output element in a
// grid-stride loop; the op is a template parameter, so each (op, dtype) pair is its own
// branch-free kernel.
#include <cstdint>

#include "r2g2/kernels/common.h"
#include "r2g2/kernels/cuda/launch.cuh"
#include "r2g2/kernels/elementwise_math.h"

namespace r2g2::kernels::cuda::elementwise_detail {

template <UnaryOp OP, class T>
__global__ void unary_kernel(const T* __restrict__ x, T* __restrict__ y, int64_t n) {
  for (int64_t i = global_thread(); i < n; i += grid_threads()) y[i] = unary_value<OP>(x[i]);
}

template <UnaryOp OP, class T>
__global__ void unary_backward_kernel(const T* __restrict__ x, const T* __restrict__ y,
                                      const T* __restrict__ gy, T* __restrict__ gx, int64_t n) {
  // x or y may be unused by an op; the CPU reference is handed both, and so are we.
  for (int64_t i = global_thread(); i < n; i += grid_threads()) {
    T xi = T(0), yi = T(0);
    if constexpr (unary_grad_reads_x<OP>) xi = x[i];
    if constexpr (unary_grad_reads_y<OP>) yi = y[i];
    gx[i] = unary_grad<OP>(xi, yi, gy[i]);
  }
}

// The collapsed geometry has one axis: plain strided loops (stride 1, or 0 for a broadcast).
template <BinaryOp OP, class T>
__global__ void binary_1d_kernel(const T* __restrict__ a, const T* __restrict__ b, T* __restrict__ out,
                                 int64_t n, int64_t sa, int64_t sb) {
  for (int64_t i = global_thread(); i < n; i += grid_threads())
    out[i] = binary_value<OP>(a[i * sa], b[i * sb]);
}

// General case: the output index is unravelled innermost axis first. Index is uint32_t
// when fits_32bit() said so, else int64_t.
template <BinaryOp OP, class T, class Index>
__global__ void binary_nd_kernel(const T* __restrict__ a, const T* __restrict__ b, T* __restrict__ out,
                                 Strided2 g, Index n) {
  for (int64_t t = global_thread(); t < static_cast<int64_t>(n); t += grid_threads()) {
    Index rest = static_cast<Index>(t), off_a = 0, off_b = 0;
    for (int d = g.ndim - 1; d >= 0; --d) {
      const Index extent = static_cast<Index>(g.shape[d]);
      const Index coord = rest % extent;
      rest /= extent;
      off_a += coord * static_cast<Index>(g.a_stride[d]);
      off_b += coord * static_cast<Index>(g.b_stride[d]);
    }
    out[t] = binary_value<OP>(a[off_a], b[off_b]);
  }
}

template <BinaryOp OP, class T>
__global__ void binary_scalar_kernel(const T* __restrict__ a, T s, T* __restrict__ out, int64_t n) {
  for (int64_t i = global_thread(); i < n; i += grid_threads()) out[i] = binary_value<OP>(a[i], s);
}

template <class T>
__global__ void fill_kernel(T* __restrict__ y, T value, int64_t n) {
  for (int64_t i = global_thread(); i < n; i += grid_threads()) y[i] = value;
}

template <class T>
__global__ void axpy_kernel(T alpha, const T* __restrict__ x, T* __restrict__ y, int64_t n) {
  for (int64_t i = global_thread(); i < n; i += grid_threads()) y[i] += alpha * x[i];
}

template <class From, class To>
__global__ void cast_kernel(const From* __restrict__ x, To* __restrict__ y, int64_t n) {
  for (int64_t i = global_thread(); i < n; i += grid_threads()) y[i] = static_cast<To>(x[i]);
}

template <class T, class Index>
__global__ void copy_strided_kernel(const T* __restrict__ src, T* __restrict__ dst, Strided2 g, Index n) {
  for (int64_t t = global_thread(); t < static_cast<int64_t>(n); t += grid_threads()) {
    Index rest = static_cast<Index>(t), off = 0;
    for (int d = g.ndim - 1; d >= 0; --d) {
      const Index extent = static_cast<Index>(g.shape[d]);
      off += (rest % extent) * static_cast<Index>(g.a_stride[d]);
      rest /= extent;
    }
    dst[t] = src[off];
  }
}

template <class T>
__global__ void copy_2d_kernel(const T* __restrict__ src, int64_t src_ld, T* __restrict__ dst, int64_t dst_ld,
                               int64_t rows, int64_t cols) {
  const int64_t n = rows * cols;
  for (int64_t t = global_thread(); t < n; t += grid_threads()) {
    const int64_t r = t / cols, c = t - r * cols;
    dst[r * dst_ld + c] = src[r * src_ld + c];
  }
}

}  // namespace r2g2::kernels::cuda::elementwise_detail
