#pragma once
// CPU reference of the im2col / col2im and max-pooling kernels (declared in kernels/conv.inc).
#include <cstdint>

#include "r2g2/kernels/common.h"

namespace r2g2::kernels::cpu {
#include "r2g2/kernels/conv.inc"

// ---- CPU only: the layouts core/ops_conv.cpp uses to give a chunk of images one GEMM
// (the CUDA backend convolves whole batches with cuDNN instead). ----

// The columns of `count` images side by side: cols [C*kh*kw, count * P], image i in
// columns [i*P, (i+1)*P) (P = out_h*out_w), each block laid out as im2col's.
template <class T>
void im2col_images(const T* images, int64_t count, T* cols, const ConvGeom& g);
// The inverse map: images [count, C, H, W] = col2im of each image's block of cols
// [C*kh*kw, count * P]. Overwrites (the caller need not zero the images); each pixel
// sums its entries in row order, so the values are those of col2im into zeros, bit for bit.
template <class T>
void col2im_images(const T* cols, int64_t count, T* images, const ConvGeom& g);
// dst [count, rows, cols] = src [rows, count * cols] regrouped by image, and back.
template <class T>
void split_images(const T* src, int64_t count, int64_t rows, int64_t cols, T* dst);
template <class T>
void join_images(const T* src, int64_t count, int64_t rows, int64_t cols, T* dst);

}  // namespace r2g2::kernels::cpu
