// im2col / col2im (Caffe's column layout) and 2-D max-pooling for NCHW images.
//
// Every kernel here splits its work over (image, channel) planes or rows: each task writes
// only its own outputs, in the same order whatever the number of threads, so the results
// do not depend on R2G2_NUM_THREADS.
#include "r2g2/kernels/cpu/conv.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "r2g2/kernels/runtime/thread_pool.h"

namespace r2g2::kernels::cpu {

namespace {

using runtime::kCheapElementGrain;
using runtime::parallel_for;

// Tasks per chunk so that a chunk moves at least kCheapElementGrain elements.
int64_t grain_for(int64_t elements_per_task) {
  return std::max<int64_t>(1, kCheapElementGrain / std::max<int64_t>(1, elements_per_task));
}

// One channel plane inside a border of `padding` zeros, so that every window reads in
// bounds: the column loops below then need no tests. Reused across a chunk's planes.
template <class T>
class PaddedPlane {
 public:
  explicit PaddedPlane(const ConvGeom& g)
      : g_(g), width_(int64_t{g.width} + 2 * g.padding), data_(size_t((g.height + 2 * g.padding) * width_), T(0)) {}
  int64_t width() const { return width_; }
  T* data() { return data_.data(); }
  // The interior from `plane` (the border stays zero).
  void load(const T* plane) {
    for (int y = 0; y < g_.height; ++y)
      std::copy(plane + int64_t{y} * g_.width, plane + int64_t{y + 1} * g_.width, interior_row(y));
  }
  void store(T* plane) const {
    for (int y = 0; y < g_.height; ++y) {
      const T* row = data_.data() + (y + g_.padding) * width_ + g_.padding;
      std::copy(row, row + g_.width, plane + int64_t{y} * g_.width);
    }
  }
  void clear() { std::fill(data_.begin(), data_.end(), T(0)); }

 private:
  T* interior_row(int y) { return data_.data() + (y + g_.padding) * width_ + g_.padding; }
  const ConvGeom& g_;
  int64_t width_;
  std::vector<T> data_;
};

// The kh*kw rows of one channel from its padded plane (row stride `width`), row (i, j) at
// rows + (i*kw + j)*ld.
template <class T>
void im2col_plane(const T* padded, int64_t width, T* rows, int64_t ld, const ConvGeom& g) {
  const int64_t ow = g.out_w, s = g.stride;
  for (int i = 0; i < g.kernel_h; ++i)
    for (int j = 0; j < g.kernel_w; ++j) {
      T* row = rows + (int64_t{i} * g.kernel_w + j) * ld;
      for (int64_t oy = 0; oy < g.out_h; ++oy) {
        const T* src = padded + (oy * s + i) * width + j;
        T* dst = row + oy * ow;
        if (s == 1)
          for (int64_t ox = 0; ox < ow; ++ox) dst[ox] = src[ox];
        else
          for (int64_t ox = 0; ox < ow; ++ox) dst[ox] = src[ox * s];
      }
    }
}

// padded += the scatter of one channel's kh*kw rows. A pixel gets at most one entry per
// row, so its entries arrive in row order (i, j), as in a loop over the column matrix.
template <class T>
void col2im_plane(const T* rows, int64_t ld, T* padded, int64_t width, const ConvGeom& g) {
  const int64_t ow = g.out_w, s = g.stride;
  for (int i = 0; i < g.kernel_h; ++i)
    for (int j = 0; j < g.kernel_w; ++j) {
      const T* row = rows + (int64_t{i} * g.kernel_w + j) * ld;
      for (int64_t oy = 0; oy < g.out_h; ++oy) {
        const T* src = row + oy * ow;
        T* dst = padded + (oy * s + i) * width + j;
        if (s == 1)
          for (int64_t ox = 0; ox < ow; ++ox) dst[ox] += src[ox];
        else
          for (int64_t ox = 0; ox < ow; ++ox) dst[ox * s] += src[ox];
      }
    }
}

int64_t plane_size(const ConvGeom& g) { return int64_t{g.height} * g.width; }
int64_t rows_per_channel(const ConvGeom& g) { return int64_t{g.kernel_h} * g.kernel_w; }

}  // namespace

template <class T>
void im2col_images(const T* images, int64_t count, T* cols, const ConvGeom& g) {
  const int64_t positions = g.positions(), ld = count * positions, planes = count * g.channels;
  parallel_for(0, planes, grain_for(rows_per_channel(g) * positions), [&](int64_t lo, int64_t hi) {
    PaddedPlane<T> padded(g);
    for (int64_t t = lo; t < hi; ++t) {
      const int64_t image = t / g.channels, c = t % g.channels;
      padded.load(images + t * plane_size(g));
      im2col_plane(padded.data(), padded.width(), cols + c * rows_per_channel(g) * ld + image * positions, ld, g);
    }
  });
}

template <class T>
void col2im_images(const T* cols, int64_t count, T* images, const ConvGeom& g) {
  const int64_t positions = g.positions(), ld = count * positions, planes = count * g.channels;
  parallel_for(0, planes, grain_for(rows_per_channel(g) * positions), [&](int64_t lo, int64_t hi) {
    PaddedPlane<T> padded(g);
    for (int64_t t = lo; t < hi; ++t) {
      const int64_t image = t / g.channels, c = t % g.channels;
      padded.clear();
      col2im_plane(cols + c * rows_per_channel(g) * ld + image * positions, ld, padded.data(), padded.width(), g);
      padded.store(images + t * plane_size(g));
    }
  });
}

template <class T>
void im2col(const T* image, T* cols, const ConvGeom& g) {
  im2col_images(image, 1, cols, g);
}

template <class T>
void col2im(const T* cols, T* image, const ConvGeom& g) {
  const int64_t positions = g.positions();
  parallel_for(0, g.channels, grain_for(rows_per_channel(g) * positions), [&](int64_t lo, int64_t hi) {
    PaddedPlane<T> padded(g);
    for (int64_t c = lo; c < hi; ++c) {
      // Starting from the image's own values keeps the order of additions of a scatter
      // straight into the image.
      padded.load(image + c * plane_size(g));
      col2im_plane(cols + c * rows_per_channel(g) * positions, positions, padded.data(), padded.width(), g);
      padded.store(image + c * plane_size(g));
    }
  });
}

template <class T>
void split_images(const T* src, int64_t count, int64_t rows, int64_t cols, T* dst) {
  parallel_for(0, count * rows, grain_for(cols), [&](int64_t lo, int64_t hi) {
    for (int64_t t = lo; t < hi; ++t) {
      const int64_t image = t / rows, r = t % rows;
      const T* from = src + (r * count + image) * cols;
      std::copy(from, from + cols, dst + t * cols);
    }
  });
}

template <class T>
void join_images(const T* src, int64_t count, int64_t rows, int64_t cols, T* dst) {
  parallel_for(0, count * rows, grain_for(cols), [&](int64_t lo, int64_t hi) {
    for (int64_t t = lo; t < hi; ++t) {
      const int64_t image = t / rows, r = t % rows;
      std::copy(src + t * cols, src + (t + 1) * cols, dst + (r * count + image) * cols);
    }
  });
}

namespace {

// One plane; Kernel > 0 fixes the window size at compile time (the common 2x2), so that
// its loops unroll.
template <int Kernel, class T>
void max_pool_plane(const T* xp, T* yp, int32_t* ap, int w, int kernel_arg, int stride, int oh, int ow) {
  const int kernel = Kernel > 0 ? Kernel : kernel_arg;
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
      yp[oy * ow + ox] = best_v;
      ap[oy * ow + ox] = best;
    }
  }
}

}  // namespace

template <class T>
void max_pool2d(const T* x, T* y, int32_t* arg, int64_t planes, int h, int w, int kernel, int stride, int oh,
                int ow) {
  const int64_t plane = static_cast<int64_t>(h) * w, out_plane = static_cast<int64_t>(oh) * ow;
  const auto pool = kernel == 2 ? &max_pool_plane<2, T> : &max_pool_plane<0, T>;
  parallel_for(0, planes, grain_for(plane), [&](int64_t lo, int64_t hi) {
    for (int64_t p = lo; p < hi; ++p)
      pool(x + p * plane, y + p * out_plane, arg + p * out_plane, w, kernel, stride, oh, ow);
  });
}

template <class T>
void max_pool2d_backward(const T* gy, const int32_t* arg, T* gx, int64_t planes, int h, int w, int oh,
                         int ow) {
  const int64_t plane = static_cast<int64_t>(h) * w, out_plane = static_cast<int64_t>(oh) * ow;
  parallel_for(0, planes, grain_for(plane), [&](int64_t lo, int64_t hi) {
    for (int64_t p = lo; p < hi; ++p)
      for (int64_t o = 0; o < out_plane; ++o) gx[p * plane + arg[p * out_plane + o]] += gy[p * out_plane + o];
  });
}

#define R2G2_INSTANTIATE(T)                                                                   \
  template void im2col<T>(const T*, T*, const ConvGeom&);                                     \
  template void col2im<T>(const T*, T*, const ConvGeom&);                                     \
  template void im2col_images<T>(const T*, int64_t, T*, const ConvGeom&);                     \
  template void col2im_images<T>(const T*, int64_t, T*, const ConvGeom&);                     \
  template void split_images<T>(const T*, int64_t, int64_t, int64_t, T*);                     \
  template void join_images<T>(const T*, int64_t, int64_t, int64_t, T*);                      \
  template void max_pool2d<T>(const T*, T*, int32_t*, int64_t, int, int, int, int, int, int); \
  template void max_pool2d_backward<T>(const T*, const int32_t*, T*, int64_t, int, int, int, int);
R2G2_INSTANTIATE(float)
R2G2_INSTANTIATE(double)
#undef R2G2_INSTANTIATE

}  // namespace r2g2::kernels::cpu
