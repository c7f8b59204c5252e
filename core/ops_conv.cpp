// conv2d, the public im2col op, and max_pool2d, all NCHW. A backend that convolves whole
// batches itself (CUDA: cuDNN, or its own im2col fallback) gets the batch; otherwise (the
// CPU) conv2d is im2col + GEMM here, with column buffers built for a chunk of images at a
// time, so that one batched GEMM covers the chunk while the buffer stays bounded in memory.
#include <algorithm>
#include <atomic>
#include <cstdint>

#include "r2g2/core/autograd.h"
#include "r2g2/core/dispatch.h"
#include "r2g2/core/ops.h"

namespace r2g2 {

namespace {

// Upper bound on one chunk's column buffer. A chunk that stays in cache between im2col
// and the GEMM that reads it is fastest (2 MiB: about 40% less time than 64 MiB for a
// 128 x 32 x 28 x 28 batch on the CPU). Tests override it (>= 0) to force chunking.
constexpr int64_t kDefaultColumnBytes = int64_t{2} << 20;
std::atomic<int64_t> g_column_bytes_override{-1};

void check_pair(const Tensor& x, const Tensor& w, const char* op, const char* xn, const char* wn) {
  R2G2_CHECK(x.device() == w.device(), op, ": ", xn, " is on ", x.device().str(), " but ", wn, " is on ",
             w.device().str());
  R2G2_CHECK(x.dtype() == w.dtype(), op, ": ", xn, " is ", dtype_name(x.dtype()), " but ", wn, " is ",
             dtype_name(w.dtype()));
}

void check_image_batch(const Tensor& x, const char* op) {
  R2G2_CHECK(x.dim() == 4, op, ": expected x of shape [N, C, H, W], got ", shape_str(x.shape()));
  R2G2_CHECK(is_floating(x.dtype()), op, ": expected a float32 or float64 input, got ",
             dtype_name(x.dtype()));
  R2G2_CHECK(x.shape()[2] * x.shape()[3] <= INT32_MAX && x.shape()[1] <= INT32_MAX, op, ": image of shape ",
             shape_str(x.shape()), " is too large");
}

kernels::ConvGeom make_geom(const Tensor& x, int kh, int kw, Conv2dParams p, const char* op) {
  kernels::ConvGeom g;
  g.channels = static_cast<int>(x.shape()[1]);
  g.height = static_cast<int>(x.shape()[2]);
  g.width = static_cast<int>(x.shape()[3]);
  g.kernel_h = kh;
  g.kernel_w = kw;
  g.stride = p.stride;
  g.padding = p.padding;
  g.out_h = conv_out_size(g.height, kh, p.stride, p.padding, op);
  g.out_w = conv_out_size(g.width, kw, p.stride, p.padding, op);
  return g;
}

int64_t col_rows(const kernels::ConvGeom& g) { return int64_t{g.channels} * g.kernel_h * g.kernel_w; }
int64_t col_cols(const kernels::ConvGeom& g) { return int64_t{g.out_h} * g.out_w; }
int64_t image_size(const kernels::ConvGeom& g) { return int64_t{g.channels} * g.height * g.width; }

// A 1x1 kernel at stride 1 without padding: the image already is its column matrix.
bool is_pointwise(const kernels::ConvGeom& g) {
  return g.kernel_h == 1 && g.kernel_w == 1 && g.stride == 1 && g.padding == 0;
}

int64_t images_per_chunk(int64_t n, const kernels::ConvGeom& g, DType dtype) {
  const int64_t per_image = std::max<int64_t>(1, col_rows(g) * col_cols(g) * int64_t(dtype_size(dtype)));
  int64_t bound = g_column_bytes_override.load();
  if (bound < 0) bound = kDefaultColumnBytes;
  return std::clamp<int64_t>(bound / per_image, 1, std::max<int64_t>(n, 1));
}

template <class T>
void gemm_batched_on(Device d, int64_t batch, bool ta, bool tb, int64_t m, int64_t n, int64_t k, const T* a,
                     int64_t lda, int64_t sa, const T* b, int64_t ldb, int64_t sb, T beta, T* c, int64_t ldc,
                     int64_t sc) {
  R2G2_KERNEL(d, gemm_batched<T>)(batch, ta, tb, m, n, k, T(1), a, lda, sa, b, ldb, sb, beta, c, ldc, sc);
}

// Columns of images [n0, n0 + count) of contiguous x into cols [count, rows, L].
template <class T>
void im2col_chunk(Device d, const T* x, int64_t n0, int64_t count, const kernels::ConvGeom& g, T* cols) {
  const auto im2col_kernel = R2G2_KERNEL(d, im2col<T>);
  for (int64_t i = 0; i < count; ++i)
    im2col_kernel(x + (n0 + i) * image_size(g), cols + i * col_rows(g) * col_cols(g), g);
}

// y [N, O, L] = w [O, R] x cols(x), outside the tape.
template <class T>
void conv_forward(const Tensor& x, const Tensor& w, const kernels::ConvGeom& g, Tensor& y) {
  const Device d = x.device();
  const int64_t n = x.shape()[0], o = w.shape()[0], r = col_rows(g), l = col_cols(g);
  const T* px = x.data<T>();
  const T* pw = w.data<T>();
  T* py = y.data<T>();
  if (auto whole_batch = R2G2_CUDA_ONLY_KERNEL(d, conv2d_forward_cudnn<T>)) {
    whole_batch(px, pw, py, n, static_cast<int>(o), g);
    return;
  }
  if (is_pointwise(g)) {
    gemm_batched_on<T>(d, n, false, false, o, l, r, pw, r, 0, px, l, r * l, T(0), py, l, o * l);
    return;
  }
  const int64_t chunk = images_per_chunk(n, g, x.dtype());
  Tensor cols = Tensor::empty({chunk, r, l}, x.dtype(), d);
  for (int64_t n0 = 0; n0 < n; n0 += chunk) {
    const int64_t count = std::min(chunk, n - n0);
    im2col_chunk<T>(d, px, n0, count, g, cols.data<T>());
    gemm_batched_on<T>(d, count, false, false, o, l, r, pw, r, 0, cols.data<T>(), l, r * l, T(0),
                       py + n0 * o * l, l, o * l);
  }
}

// dx = col2im(w^T g), outside the tape.
template <class T>
Tensor conv_backward_x(const Tensor& g_out, const Tensor& w, const kernels::ConvGeom& g,
                       const Shape& x_shape) {
  const Device d = g_out.device();
  const int64_t n = x_shape[0], o = w.shape()[0], r = col_rows(g), l = col_cols(g);
  const T* pg = g_out.data<T>();
  const T* pw = w.data<T>();
  if (auto whole_batch = R2G2_CUDA_ONLY_KERNEL(d, conv2d_backward_data_cudnn<T>)) {
    Tensor gx = Tensor::empty(x_shape, g_out.dtype(), d);
    whole_batch(pw, pg, gx.data<T>(), n, static_cast<int>(o), g);
    return gx;
  }
  if (is_pointwise(g)) {
    Tensor gx = Tensor::empty(x_shape, g_out.dtype(), d);
    gemm_batched_on<T>(d, n, true, false, r, l, o, pw, r, 0, pg, l, o * l, T(0), gx.data<T>(), l, r * l);
    return gx;
  }
  Tensor gx = Tensor::zeros(x_shape, g_out.dtype(), d);
  const int64_t chunk = images_per_chunk(n, g, g_out.dtype());
  Tensor dcols = Tensor::empty({chunk, r, l}, g_out.dtype(), d);
  const auto col2im_kernel = R2G2_KERNEL(d, col2im<T>);
  for (int64_t n0 = 0; n0 < n; n0 += chunk) {
    const int64_t count = std::min(chunk, n - n0);
    gemm_batched_on<T>(d, count, true, false, r, l, o, pw, r, 0, pg + n0 * o * l, l, o * l, T(0),
                       dcols.data<T>(), l, r * l);
    for (int64_t i = 0; i < count; ++i)
      col2im_kernel(dcols.data<T>() + i * r * l, gx.data<T>() + (n0 + i) * image_size(g), g);
  }
  return gx;
}

// dw [O, R] = sum_n g_n cols_n^T, outside the tape. One GEMM per image accumulating
// with beta = 1: a batched GEMM with a shared output would race on the GPU.
template <class T>
Tensor conv_backward_w(const Tensor& g_out, const Tensor& x, const kernels::ConvGeom& g,
                       const Shape& w_shape) {
  const Device d = g_out.device();
  const int64_t n = x.shape()[0], o = w_shape[0], r = col_rows(g), l = col_cols(g);
  if (auto whole_batch = R2G2_CUDA_ONLY_KERNEL(d, conv2d_backward_filter_cudnn<T>)) {
    Tensor gw = Tensor::empty(w_shape, g_out.dtype(), d);
    whole_batch(x.data<T>(), g_out.data<T>(), gw.data<T>(), n, static_cast<int>(o), g);
    return gw;
  }
  Tensor gw = Tensor::zeros(w_shape, g_out.dtype(), d);
  const T* pg = g_out.data<T>();
  const bool pointwise = is_pointwise(g);
  const int64_t chunk = pointwise ? n : images_per_chunk(n, g, x.dtype());
  Tensor cols = pointwise ? x : Tensor::empty({chunk, r, l}, x.dtype(), d);
  for (int64_t n0 = 0; n0 < n; n0 += chunk) {
    const int64_t count = std::min(chunk, n - n0);
    if (!pointwise) im2col_chunk<T>(d, x.data<T>(), n0, count, g, cols.data<T>());
    for (int64_t i = 0; i < count; ++i)
      gemm_batched_on<T>(d, 1, false, true, o, r, l, pg + (n0 + i) * o * l, l, 0, cols.data<T>() + i * r * l,
                         l, 0, T(1), gw.data<T>(), r, 0);
  }
  return gw;
}

}  // namespace

namespace detail {
// Testing hook, declared by the tests that use it: overrides the column-buffer bound of
// the chunked im2col + GEMM path (negative: the default) and returns the previous override.
int64_t set_conv_column_buffer_bytes(int64_t bytes) { return g_column_bytes_override.exchange(bytes); }
}  // namespace detail

int conv_out_size(int in, int kernel, int stride, int padding, const char* op) {
  R2G2_CHECK(kernel >= 1, op, ": kernel size ", kernel, " must be at least 1");
  R2G2_CHECK(stride >= 1, op, ": stride ", stride, " must be at least 1");
  R2G2_CHECK(padding >= 0, op, ": padding ", padding, " must not be negative");
  const int64_t span = int64_t{in} + 2 * int64_t{padding} - kernel;
  R2G2_CHECK(span >= 0, op, ": output size < 1: input size ", in, " + 2 * padding ", padding,
             " is smaller than the kernel size ", kernel);
  return static_cast<int>(span / stride + 1);
}

Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor& bias, Conv2dParams p) {
  check_image_batch(x, "conv2d");
  R2G2_CHECK(w.dim() == 4, "conv2d: expected w of shape [O, C, kh, kw], got ", shape_str(w.shape()),
             " (x has shape ", shape_str(x.shape()), ")");
  check_pair(x, w, "conv2d", "x", "w");
  R2G2_CHECK(x.shape()[1] == w.shape()[1], "conv2d: x of shape ", shape_str(x.shape()), " has ", x.shape()[1],
             " channels but w of shape ", shape_str(w.shape()), " expects ", w.shape()[1]);
  const int64_t o = w.shape()[0];
  if (bias.defined()) {
    check_pair(x, bias, "conv2d", "x", "bias");
    R2G2_CHECK(bias.dim() == 1 && bias.shape()[0] == o, "conv2d: bias of shape ", shape_str(bias.shape()),
               " does not match the ", o, " output channels of w ", shape_str(w.shape()));
  }
  const auto g = make_geom(x, static_cast<int>(w.shape()[2]), static_cast<int>(w.shape()[3]), p, "conv2d");
  Tensor xc = x.detach().contiguous(), wc = w.detach().contiguous();
  Tensor y = Tensor::empty({x.shape()[0], o, g.out_h, g.out_w}, x.dtype(), x.device());
  if (y.numel() > 0 && col_rows(g) > 0)
    dispatch_floating(x.dtype(), "conv2d", [&](auto tag) { conv_forward<decltype(tag)>(xc, wc, g, y); });
  else
    y = Tensor::zeros(y.shape(), x.dtype(), x.device());
  if (bias.defined()) {
    NoGrad no_grad;
    y = add(y, reshape(bias.detach(), {1, o, 1, 1}));
  }
  const bool need_x = x.requires_grad(), need_w = w.requires_grad();
  const bool need_bias = bias.defined() && bias.requires_grad();
  Tensor x_saved = need_w ? xc : Tensor(), w_saved = need_x ? wc : Tensor();
  Shape x_shape = x.shape(), w_shape = w.shape();
  return record("conv2d", y, {x, w, bias}, [=](const Tensor& g_in) {
    Tensor go = g_in.detach().contiguous();
    Tensor gx, gw, gb;
    dispatch_floating(go.dtype(), "conv2d_backward", [&](auto tag) {
      using T = decltype(tag);
      if (need_x && go.numel() > 0) gx = conv_backward_x<T>(go, w_saved, g, x_shape);
      if (need_w && go.numel() > 0) gw = conv_backward_w<T>(go, x_saved, g, w_shape);
    });
    if (need_x && !gx.defined()) gx = Tensor::zeros(x_shape, go.dtype(), go.device());
    if (need_w && !gw.defined()) gw = Tensor::zeros(w_shape, go.dtype(), go.device());
    if (need_bias) gb = sum(go, {0, 2, 3});
    return std::vector<Tensor>{gx, gw, gb};
  });
}

Tensor im2col(const Tensor& x, int kh, int kw, Conv2dParams p) {
  check_image_batch(x, "im2col");
  const auto g = make_geom(x, kh, kw, p, "im2col");
  const int64_t n = x.shape()[0], r = col_rows(g), l = col_cols(g);
  Tensor xc = x.detach().contiguous();
  Tensor cols = Tensor::empty({n, r, l}, x.dtype(), x.device());
  dispatch_floating(x.dtype(), "im2col", [&](auto tag) {
    using T = decltype(tag);
    if (cols.numel() > 0) im2col_chunk<T>(x.device(), xc.data<T>(), 0, n, g, cols.data<T>());
  });
  Shape x_shape = x.shape();
  return record("im2col", cols, {x}, [g, x_shape](const Tensor& g_in) {
    Tensor go = g_in.detach().contiguous();
    Tensor gx = Tensor::zeros(x_shape, go.dtype(), go.device());
    dispatch_floating(go.dtype(), "im2col_backward", [&](auto tag) {
      using T = decltype(tag);
      const int64_t r = col_rows(g), l = col_cols(g);
      if (go.numel() == 0) return;
      const auto col2im_kernel = R2G2_KERNEL(go.device(), col2im<T>);
      for (int64_t i = 0; i < x_shape[0]; ++i)
        col2im_kernel(go.data<T>() + i * r * l, gx.data<T>() + i * image_size(g), g);
    });
    return std::vector<Tensor>{gx};
  });
}

Tensor max_pool2d(const Tensor& x, int kernel, int stride) {
  check_image_batch(x, "max_pool2d");
  if (stride == 0) stride = kernel;
  const int h = static_cast<int>(x.shape()[2]), w = static_cast<int>(x.shape()[3]);
  const int oh = conv_out_size(h, kernel, stride, 0, "max_pool2d");
  const int ow = conv_out_size(w, kernel, stride, 0, "max_pool2d");
  const int64_t planes = x.shape()[0] * x.shape()[1];
  Tensor xc = x.detach().contiguous();
  Tensor y = Tensor::empty({x.shape()[0], x.shape()[1], oh, ow}, x.dtype(), x.device());
  Tensor arg = Tensor::empty(y.shape(), DType::i32, x.device());
  dispatch_floating(x.dtype(), "max_pool2d", [&](auto tag) {
    using T = decltype(tag);
    if (y.numel() == 0) return;
    R2G2_KERNEL(x.device(), max_pool2d<T>)(xc.data<T>(), y.data<T>(), arg.data<int32_t>(), planes, h, w, kernel,
                                           stride, oh, ow);
  });
  Shape x_shape = x.shape();
  return record("max_pool2d", y, {x}, [arg, x_shape, planes, h, w, oh, ow](const Tensor& g_in) {
    Tensor go = g_in.detach().contiguous();
    Tensor gx = Tensor::zeros(x_shape, go.dtype(), go.device());
    dispatch_floating(go.dtype(), "max_pool2d_backward", [&](auto tag) {
      using T = decltype(tag);
      if (go.numel() == 0) return;
      R2G2_KERNEL(go.device(), max_pool2d_backward<T>)(go.data<T>(), arg.data<int32_t>(), gx.data<T>(), planes, h,
                                                       w, oh, ow);
    });
    return std::vector<Tensor>{gx};
  });
}

}  // namespace r2g2
