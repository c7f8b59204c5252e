#pragma once
// CUDA im2col / col2im and max-pooling (declared in kernels/conv.inc): device pointers,
// launched on r2g2's current stream (kernels/cuda/stream.h); errors throw r2g2::Error.
// col2im and max_pool2d_backward are deterministic (no atomics): the same inputs give
// bitwise the same gradients on every run.
#include <cstdint>

#include "r2g2/kernels/common.h"

namespace r2g2::kernels::cuda {
#include "r2g2/kernels/conv.inc"

// ---- CUDA only: launch tuning, and whole-batch convolution (the CPU builds it from the
// kernels above in core/ops_conv.cpp, in cache-sized chunks). ----

// Threads per block of the four kernels above (default 256, a multiple of 32 in
// [32, 1024]); the kernel lab sweeps it.
void set_conv_block_size(int threads);
int conv_block_size();

// Whole-batch 2-D convolution, NCHW, cross-correlation as in the CPU reference (no bias:
// the op adds it). x [batch, C, H, W], w [out_channels, C, kh, kw],
// y [batch, out_channels, out_h, out_w]; `g` describes one image (as for im2col). The
// outputs y, gx and gw are overwritten. They run cuDNN when r2g2 was built with it
// (conv2d_uses_cudnn()) and otherwise, or when cuDNN supports no algorithm for the
// case, im2col/col2im + gemm image by image. float32 follows kernels/cuda/tf32.h.
template <class T>
void conv2d_forward_cudnn(const T* x, const T* w, T* y, int64_t batch, int out_channels, const ConvGeom& g);
// gx = d(sum(gy * y))/dx.
template <class T>
void conv2d_backward_data_cudnn(const T* w, const T* gy, T* gx, int64_t batch, int out_channels,
                                const ConvGeom& g);
// gw = d(sum(gy * y))/dw.
template <class T>
void conv2d_backward_filter_cudnn(const T* x, const T* gy, T* gw, int64_t batch, int out_channels,
                                  const ConvGeom& g);
bool conv2d_uses_cudnn();
}  // namespace r2g2::kernels::cuda
