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

// The geometry of a 2-D convolution, NCHW: x [images, channels, height, width], weights
// [out_channels, channels, kernel_h, kernel_w], y [images, out_channels, out_h, out_w].
// The im2col matrix of one image is [patch_size(), positions()]. im2col/col2im read only
// the per-image fields; the R2-G2 conv solves (one system per image and output channel)
// read images, out_channels and the im2col matrix size.
struct ConvGeom {
  int channels = 0, height = 0, width = 0;
  int kernel_h = 0, kernel_w = 0, stride = 1, padding = 0;
  int out_h = 0, out_w = 0;
  int64_t images = 1, out_channels = 0;

  constexpr int64_t patch_size() const { return int64_t{channels} * kernel_h * kernel_w; }  // D
  constexpr int64_t positions() const { return int64_t{out_h} * out_w; }                    // P
  constexpr int64_t image_size() const { return int64_t{channels} * height * width; }
};

// The geometry of one c x h x w image under a kh x kw window (sizes assumed valid: core/
// checks them with conv_out_size before calling a kernel).
inline ConvGeom make_conv_geom(int c, int h, int w, int kh, int kw, int stride, int pad) {
  return ConvGeom{
      c, h, w, kh, kw, stride, pad, (h + 2 * pad - kh) / stride + 1, (w + 2 * pad - kw) / stride + 1};
}

// `images` im2col matrices of d rows and p columns, each seen by `out_channels` filters,
// described as the 1 x 1 convolution they are exactly: a d-channel p x 1 image is its own
// im2col matrix. For callers that hold the matrices but not the layer (the R2-G2 conv solve
// on cols [N, D, P]); d and p must fit in int.
constexpr ConvGeom im2col_matrices_geom(int64_t images, int64_t out_channels, int64_t d, int64_t p) {
  ConvGeom g;
  g.channels = static_cast<int>(d);
  g.height = g.out_h = static_cast<int>(p);
  g.width = g.out_w = g.kernel_h = g.kernel_w = 1;
  g.images = images;
  g.out_channels = out_channels;
  return g;
}

}  // namespace r2g2::kernels
