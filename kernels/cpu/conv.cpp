// im2col / col2im (Caffe's column layout) and 2-D max-pooling for NCHW images.
#include "r2g2/kernels/cpu/conv.h"

#include <cmath>

namespace r2g2::kernels::cpu {

template <class T>
void im2col(const T* image, T* cols, const ConvGeom& g) {
  const int64_t plane = static_cast<int64_t>(g.height) * g.width;
  const int64_t out_plane = static_cast<int64_t>(g.out_h) * g.out_w;
  for (int c = 0; c < g.channels; ++c) {
    const T* img = image + c * plane;
    for (int i = 0; i < g.kernel_h; ++i) {
      for (int j = 0; j < g.kernel_w; ++j) {
        T* row = cols + ((static_cast<int64_t>(c) * g.kernel_h + i) * g.kernel_w + j) * out_plane;
        for (int oy = 0; oy < g.out_h; ++oy) {
          const int iy = oy * g.stride - g.padding + i;
          T* dst = row + static_cast<int64_t>(oy) * g.out_w;
          if (iy < 0 || iy >= g.height) {
            for (int ox = 0; ox < g.out_w; ++ox) dst[ox] = T(0);
            continue;
          }
          const T* src = img + static_cast<int64_t>(iy) * g.width;
          for (int ox = 0; ox < g.out_w; ++ox) {
            const int ix = ox * g.stride - g.padding + j;
            dst[ox] = (ix >= 0 && ix < g.width) ? src[ix] : T(0);
          }
        }
      }
    }
  }
}

template <class T>
void col2im(const T* cols, T* image, const ConvGeom& g) {
  const int64_t plane = static_cast<int64_t>(g.height) * g.width;
  const int64_t out_plane = static_cast<int64_t>(g.out_h) * g.out_w;
  for (int c = 0; c < g.channels; ++c) {
    T* img = image + c * plane;
    for (int i = 0; i < g.kernel_h; ++i) {
      for (int j = 0; j < g.kernel_w; ++j) {
        const T* row = cols + ((static_cast<int64_t>(c) * g.kernel_h + i) * g.kernel_w + j) * out_plane;
        for (int oy = 0; oy < g.out_h; ++oy) {
          const int iy = oy * g.stride - g.padding + i;
          if (iy < 0 || iy >= g.height) continue;
          const T* src = row + static_cast<int64_t>(oy) * g.out_w;
          T* dst = img + static_cast<int64_t>(iy) * g.width;
          for (int ox = 0; ox < g.out_w; ++ox) {
            const int ix = ox * g.stride - g.padding + j;
            if (ix >= 0 && ix < g.width) dst[ix] += src[ox];
          }
        }
      }
    }
  }
}

template <class T>
void max_pool2d(const T* x, T* y, int32_t* arg, int64_t planes, int h, int w, int kernel, int stride, int oh,
                int ow) {
  const int64_t plane = static_cast<int64_t>(h) * w;
  for (int64_t p = 0; p < planes; ++p) {
    const T* xp = x + p * plane;
    for (int oy = 0; oy < oh; ++oy) {
      for (int ox = 0; ox < ow; ++ox) {
        // The first maximum wins ties; a NaN in the window wins outright so that it
        // propagates, as in PyTorch.
        int32_t best = (oy * stride) * w + ox * stride;
        T best_v = xp[best];
        for (int i = 0; i < kernel && !std::isnan(best_v); ++i) {
          for (int j = 0; j < kernel; ++j) {
            const int32_t idx = (oy * stride + i) * w + ox * stride + j;
            const T v = xp[idx];
            if (v > best_v || std::isnan(v)) {
              best_v = v;
              best = idx;
              if (std::isnan(v)) break;
            }
          }
        }
        const int64_t o = (p * oh + oy) * ow + ox;
        y[o] = best_v;
        arg[o] = best;
      }
    }
  }
}

template <class T>
void max_pool2d_backward(const T* gy, const int32_t* arg, T* gx, int64_t planes, int h, int w, int oh,
                         int ow) {
  const int64_t plane = static_cast<int64_t>(h) * w, out_plane = static_cast<int64_t>(oh) * ow;
  for (int64_t p = 0; p < planes; ++p)
    for (int64_t o = 0; o < out_plane; ++o) gx[p * plane + arg[p * out_plane + o]] += gy[p * out_plane + o];
}

#define R2G2_INSTANTIATE(T)                                                                   \
  template void im2col<T>(const T*, T*, const ConvGeom&);                                     \
  template void col2im<T>(const T*, T*, const ConvGeom&);                                     \
  template void max_pool2d<T>(const T*, T*, int32_t*, int64_t, int, int, int, int, int, int); \
  template void max_pool2d_backward<T>(const T*, const int32_t*, T*, int64_t, int, int, int, int);
R2G2_INSTANTIATE(float)
R2G2_INSTANTIATE(double)
#undef R2G2_INSTANTIATE

}  // namespace r2g2::kernels::cpu
