#pragma once
// Plain descriptions shared by the CPU and CUDA kernels. Nothing here knows about
// Tensor: kernels are functions over raw buffers and sizes.
#include <cstdint>

namespace r2g2::kernels {

enum class UnaryOp { neg, exp, log, log1p, sqrt, square, softplus, sigmoid, tanh, relu, log_softplus };
enum class BinaryOp { add, sub, mul, div };

constexpr int kMaxDims = 8;

// Strided iteration over an output of `shape` (row-major, contiguous output). An
// input's stride is 0 along an axis it is broadcast over.
struct Strided2 {
  int ndim = 0;
  int64_t shape[kMaxDims] = {};
  int64_t a_stride[kMaxDims] = {};
  int64_t b_stride[kMaxDims] = {};
};

// Convolution geometry for one image (im2col/col2im), NCHW.
struct ConvGeom {
  int channels = 0, height = 0, width = 0;
  int kernel_h = 0, kernel_w = 0, stride = 1, padding = 0;
  int out_h = 0, out_w = 0;
};

// The geometry of one c x h x w image under a kh x kw window (sizes assumed valid: core/
// checks them with conv_out_size before calling a kernel).
inline ConvGeom make_conv_geom(int c, int h, int w, int kh, int kw, int stride, int pad) {
  return ConvGeom{
      c, h, w, kh, kw, stride, pad, (h + 2 * pad - kh) / stride + 1, (w + 2 * pad - kw) / stride + 1};
}

}  // namespace r2g2::kernels
