// Launchers of the elementwise kernels (device code in elementwise_kernels.cuh): the
// runtime op picks a compile-time instantiation, and strided geometries are collapsed on
// the host first (strided.cuh).
#include "r2g2/kernels/cuda/elementwise.h"

#include "r2g2/kernels/cuda/elementwise_kernels.cuh"
#include "r2g2/kernels/cuda/strided.cuh"

namespace r2g2::kernels::cuda {

using namespace elementwise_detail;

namespace {

template <UnaryOp OP, class T>
void launch_unary(const T* x, T* y, int64_t n) {
  R2G2_LAUNCH((unary_kernel<OP, T>), blocks_for(n), kThreads, x, y, n);
}

template <UnaryOp OP, class T>
void launch_unary_backward(const T* x, const T* y, const T* gy, T* gx, int64_t n) {
  R2G2_LAUNCH((unary_backward_kernel<OP, T>), blocks_for(n), kThreads, x, y, gy, gx, n);
}

}  // namespace

template <class T>
void unary(UnaryOp op, const T* x, T* y, int64_t n) {
  if (n <= 0) return;
  with_unary(op, [&](auto tag) { launch_unary<decltype(tag)::value, T>(x, y, n); });
}

template <class T>
void unary_backward(UnaryOp op, const T* x, const T* y, const T* gy, T* gx, int64_t n) {
  if (n <= 0) return;
  with_unary(op, [&](auto tag) { launch_unary_backward<decltype(tag)::value, T>(x, y, gy, gx, n); });
}

template <class T>
void binary(BinaryOp op, const T* a, const T* b, T* out, const Strided2& geom) {
  R2G2_CHECK(geom.ndim >= 0 && geom.ndim <= kMaxDims, "binary: bad number of dimensions ", geom.ndim);
  const Strided2 g = collapse_strided(geom);
  const int64_t n = strided_numel(g);
  if (n <= 0) return;
  with_binary(op, [&](auto tag) {
    constexpr BinaryOp OP = decltype(tag)::value;
    if (g.ndim == 1)
      R2G2_LAUNCH((binary_1d_kernel<OP, T>), blocks_for(n), kThreads, a, b, out, n, g.a_stride[0],
                  g.b_stride[0]);
    else if (fits_32bit(g))
      R2G2_LAUNCH((binary_nd_kernel<OP, T, uint32_t>), blocks_for(n), kThreads, a, b, out, g,
                  static_cast<uint32_t>(n));
    else
      R2G2_LAUNCH((binary_nd_kernel<OP, T, int64_t>), blocks_for(n), kThreads, a, b, out, g, n);
  });
}

template <class T>
void binary_scalar(BinaryOp op, const T* a, T s, T* out, int64_t n) {
  if (n <= 0) return;
  with_binary(op, [&](auto tag) {
    R2G2_LAUNCH((binary_scalar_kernel<decltype(tag)::value, T>), blocks_for(n), kThreads, a, s, out, n);
  });
}

template <class T>
void fill(T* y, T value, int64_t n) {
  if (n <= 0) return;
  R2G2_LAUNCH(fill_kernel<T>, blocks_for(n), kThreads, y, value, n);
}

template <class T>
void axpy(T alpha, const T* x, T* y, int64_t n) {
  if (n <= 0) return;
  R2G2_LAUNCH(axpy_kernel<T>, blocks_for(n), kThreads, alpha, x, y, n);
}

template <class From, class To>
void cast(const From* x, To* y, int64_t n) {
  if (n <= 0) return;
  R2G2_LAUNCH((cast_kernel<From, To>), blocks_for(n), kThreads, x, y, n);
}

template <class T>
void copy_strided(const T* src, T* dst, const Strided2& geom) {
  R2G2_CHECK(geom.ndim >= 0 && geom.ndim <= kMaxDims, "copy_strided: bad number of dimensions ", geom.ndim);
  Strided2 only_a = geom;
  for (int d = 0; d < kMaxDims; ++d) only_a.b_stride[d] = 0;  // unused: must not block merging
  const Strided2 g = collapse_strided(only_a);
  const int64_t n = strided_numel(g);
  if (n <= 0) return;
  if (fits_32bit(g))
    R2G2_LAUNCH((copy_strided_kernel<T, uint32_t>), blocks_for(n), kThreads, src, dst, g,
                static_cast<uint32_t>(n));
  else
    R2G2_LAUNCH((copy_strided_kernel<T, int64_t>), blocks_for(n), kThreads, src, dst, g, n);
}

template <class T>
void copy_2d(const T* src, int64_t src_ld, T* dst, int64_t dst_ld, int64_t rows, int64_t cols) {
  if (rows <= 0 || cols <= 0) return;
  R2G2_LAUNCH(copy_2d_kernel<T>, blocks_for(rows * cols), kThreads, src, src_ld, dst, dst_ld, rows, cols);
}

#define R2G2_INSTANTIATE(T)                                                            \
  template void unary<T>(UnaryOp, const T*, T*, int64_t);                              \
  template void unary_backward<T>(UnaryOp, const T*, const T*, const T*, T*, int64_t); \
  template void binary<T>(BinaryOp, const T*, const T*, T*, const Strided2&);          \
  template void binary_scalar<T>(BinaryOp, const T*, T, T*, int64_t);                  \
  template void axpy<T>(T, const T*, T*, int64_t);                                     \
  template void copy_2d<T>(const T*, int64_t, T*, int64_t, int64_t, int64_t);
R2G2_INSTANTIATE(float)
R2G2_INSTANTIATE(double)
#undef R2G2_INSTANTIATE
template void fill<float>(float*, float, int64_t);
template void fill<double>(double*, double, int64_t);
template void fill<int32_t>(int32_t*, int32_t, int64_t);
template void copy_strided<float>(const float*, float*, const Strided2&);
template void copy_strided<double>(const double*, double*, const Strided2&);
template void copy_strided<int32_t>(const int32_t*, int32_t*, const Strided2&);
template void cast<float, double>(const float*, double*, int64_t);
template void cast<double, float>(const double*, float*, int64_t);
template void cast<int32_t, float>(const int32_t*, float*, int64_t);
template void cast<int32_t, double>(const int32_t*, double*, int64_t);
template void cast<float, int32_t>(const float*, int32_t*, int64_t);
template void cast<double, int32_t>(const double*, int32_t*, int64_t);

}  // namespace r2g2::kernels::cuda
