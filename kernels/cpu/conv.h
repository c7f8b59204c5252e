#pragma once
// im2col / col2im for one NCHW image and 2-D max-pooling. Column layout is
// [C*kh*kw, out_h*out_w] (Caffe's), row index (c*kh + i)*kw + j.
#include <cstdint>

#include "r2g2/kernels/common.h"

namespace r2g2::kernels::cpu {

template <class T>
void im2col(const T* image, T* cols, const ConvGeom& g);
// image (zeroed by the caller) += scatter of cols; the backward of im2col.
template <class T>
void col2im(const T* cols, T* image, const ConvGeom& g);
// x [planes, h, w] -> y [planes, oh, ow]; arg holds the flat h*w index of each max.
template <class T>
void max_pool2d(const T* x, T* y, int32_t* arg, int64_t planes, int h, int w, int kernel, int stride, int oh,
                int ow);
// gx (zeroed by the caller) [plane, arg] += gy.
template <class T>
void max_pool2d_backward(const T* gy, const int32_t* arg, T* gx, int64_t planes, int h, int w, int oh,
                         int ow);

}  // namespace r2g2::kernels::cpu
