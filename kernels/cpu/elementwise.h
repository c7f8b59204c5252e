#pragma once
// Elementwise kernels (CPU reference). Contiguous buffers of n elements unless noted.
#include <cstdint>

#include "r2g2/kernels/common.h"

namespace r2g2::kernels::cpu {

template <class T>
void unary(UnaryOp op, const T* x, T* y, int64_t n);
// gx = dy * f'(x); y = f(x) is passed so that exp/sigmoid/tanh/sqrt reuse it.
template <class T>
void unary_backward(UnaryOp op, const T* x, const T* y, const T* gy, T* gx, int64_t n);
// out[i] = a[.] op b[.] over `geom` with broadcasting strides.
template <class T>
void binary(BinaryOp op, const T* a, const T* b, T* out, const Strided2& geom);
template <class T>
void binary_scalar(BinaryOp op, const T* a, T s, T* out, int64_t n);  // a op s
template <class T>
void fill(T* y, T value, int64_t n);
// y += alpha * x (gradient accumulation, optimizers).
template <class T>
void axpy(T alpha, const T* x, T* y, int64_t n);
template <class From, class To>
void cast(const From* x, To* y, int64_t n);
// Copies a strided view (a_stride of geom, b_stride unused) into contiguous `dst`.
template <class T>
void copy_strided(const T* src, T* dst, const Strided2& geom);
// dst[r * dst_ld + c] = src[r * src_ld + c] for r < rows, c < cols (concat and its backward).
template <class T>
void copy_2d(const T* src, int64_t src_ld, T* dst, int64_t dst_ld, int64_t rows, int64_t cols);

}  // namespace r2g2::kernels::cpu
