// conv2d, the public im2col op, and max_pool2d, all NCHW. A backend that convolves whole
// batches itself (CUDA: cuDNN, or its own im2col fallback) gets the batch; otherwise (the
// CPU) conv2d is im2col + GEMM here, with column buffers built for a chunk of images at a
// time, so that the GEMMs of a chunk read its columns from cache while the buffer stays
// bounded in memory. Images with few output positions share one GEMM per chunk; the
// forward's columns are kept for the weight gradient when the batch's fit in a few buffers.
// The chunks and GEMM blocks depend on the shapes alone: the same bits for any thread count.
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <tuple>
#include <utility>

#include "r2g2/core/autograd.h"
#include "r2g2/core/dispatch.h"
#include "r2g2/core/ops.h"
#include "r2g2/kernels/cpu/conv.h"

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

int64_t column_buffer_bytes() {
  const int64_t bound = g_column_bytes_override.load();
  return bound < 0 ? kDefaultColumnBytes : bound;
}

int64_t images_per_chunk(int64_t n, const kernels::ConvGeom& g, DType dtype) {
  const int64_t per_image = std::max<int64_t>(1, col_rows(g) * col_cols(g) * int64_t(dtype_size(dtype)));
  return std::clamp<int64_t>(column_buffer_bytes() / per_image, 1, std::max<int64_t>(n, 1));
}

// Below this many output positions per image, the images of a chunk share their GEMMs:
// their columns side by side make one wide matrix. One GEMM per image would pack the
// whole weight matrix again for a few columns (VGG's 4x4 and 2x2 layers: 16 and 4).
constexpr int64_t kSharedGemmBelowPositions = 256;

// The forward's columns of the whole batch are kept for the weight gradient (read back
// instead of built again by a second im2col) up to this many column buffers' bytes.
constexpr int64_t kKeptColumnBuffers = 8;

template <class T>
void gemm_batched_on(Device d, int64_t batch, bool ta, bool tb, int64_t m, int64_t n, int64_t k, const T* a,
                     int64_t lda, int64_t sa, const T* b, int64_t ldb, int64_t sb, T beta, T* c, int64_t ldc,
                     int64_t sc) {
  R2G2_KERNEL(d, gemm_batched<T>)(batch, ta, tb, m, n, k, T(1), a, lda, sa, b, ldb, sb, beta, c, ldc, sc);
}

template <class T>
void gemm_on(bool ta, bool tb, int64_t m, int64_t n, int64_t k, const T* a, int64_t lda, const T* b, int64_t ldb,
             T beta, T* c, int64_t ldc) {
  R2G2_KERNEL(Device::cpu(), gemm<T>)(ta, tb, m, n, k, T(1), a, lda, b, ldb, beta, c, ldc);
}

// A kernel of kernels/cpu/conv.h's CPU-only part, timed by the profiler as R2G2_KERNEL's are.
template <class Fn>
detail::ProfiledKernel<Fn> cpu_kernel(Fn* kernel, const char* name) {
  return {kernel, Device::cpu(), name};
}

// Columns of images [n0, n0 + count) of contiguous x into cols [count, rows, L] (the im2col op).
template <class T>
void im2col_chunk(Device d, const T* x, int64_t n0, int64_t count, const kernels::ConvGeom& g, T* cols) {
  const auto im2col_kernel = R2G2_KERNEL(d, im2col<T>);
  for (int64_t i = 0; i < count; ++i)
    im2col_kernel(x + (n0 + i) * image_size(g), cols + i * col_rows(g) * col_cols(g), g);
}

// The CPU's chunks: each chunk's columns are one [R, count * L] matrix (image i in columns
// [i*L, (i+1)*L)); `shared`: one GEMM covers the chunk, through an [O, count * L] copy of its
// outputs (or output gradients) regrouped by channel; else one GEMM per image.
struct ChunkPlan {
  int64_t images;
  bool shared;
};

ChunkPlan plan_chunks(int64_t n, const kernels::ConvGeom& g, DType dtype) {
  const int64_t images = images_per_chunk(n, g, dtype);
  return {images, images > 1 && col_cols(g) < kSharedGemmBelowPositions};
}

// Whether conv2d keeps the forward's columns of this batch for its backward.
bool keeps_columns(Device d, int64_t n, const kernels::ConvGeom& g, DType dtype) {
  const int64_t bytes = n * col_rows(g) * col_cols(g) * int64_t(dtype_size(dtype));
  return d.is_cpu() && !is_pointwise(g) && bytes <= kKeptColumnBuffers * column_buffer_bytes();
}

// y [N, O, L] = w [O, R] x cols(x) on the CPU. With `kept`, the columns go there, the chunk
// of images [n0, n0 + count) at kept + n0 * R * L (as [R, count * L]), for the backward.
template <class T>
void conv_forward_cpu(const T* px, const T* pw, T* py, int64_t n, int64_t o, const kernels::ConvGeom& g,
                      DType dtype, const ChunkPlan& plan, T* kept) {
  const Device cpu = Device::cpu();
  const int64_t r = col_rows(g), l = col_cols(g);
  if (is_pointwise(g)) {
    gemm_batched_on<T>(cpu, n, false, false, o, l, r, pw, r, 0, px, l, r * l, T(0), py, l, o * l);
    return;
  }
  Tensor cols = kept ? Tensor() : Tensor::empty({r, plan.images * l}, dtype, cpu);
  Tensor grouped = plan.shared ? Tensor::empty({o, plan.images * l}, dtype, cpu) : Tensor();
  const auto im2col_images = cpu_kernel(&kernels::cpu::im2col_images<T>, "im2col_images<T>");
  const auto split_images = cpu_kernel(&kernels::cpu::split_images<T>, "split_images<T>");
  for (int64_t n0 = 0; n0 < n; n0 += plan.images) {
    const int64_t count = std::min(plan.images, n - n0), width = count * l;
    T* pc = kept ? kept + n0 * r * l : cols.data<T>();
    im2col_images(px + n0 * image_size(g), count, pc, g);
    if (plan.shared) {
      gemm_on<T>(false, false, o, width, r, pw, r, pc, width, T(0), grouped.data<T>(), width);
      split_images(grouped.data<T>(), count, o, l, py + n0 * o * l);
    } else {
      gemm_batched_on<T>(cpu, count, false, false, o, l, r, pw, r, 0, pc, width, l, T(0), py + n0 * o * l, l,
                         o * l);
    }
  }
}

// gx = col2im(w^T g) and gw = sum_n g_n cols_n^T on the CPU, each when its pointer is not
// null; both overwritten. One pass over the chunks serves both. The columns come from
// `kept` (conv_forward_cpu's) when given, else from x.
template <class T>
void conv_backward_cpu(const T* pg, const T* px, const T* pw, T* gx, T* gw, int64_t n, int64_t o,
                       const kernels::ConvGeom& g, DType dtype, const ChunkPlan& plan, const T* kept) {
  const Device cpu = Device::cpu();
  const int64_t r = col_rows(g), l = col_cols(g);
  if (is_pointwise(g)) {
    if (gx) gemm_batched_on<T>(cpu, n, true, false, r, l, o, pw, r, 0, pg, l, o * l, T(0), gx, l, r * l);
    for (int64_t i = 0; gw && i < n; ++i)
      gemm_on<T>(false, true, o, r, l, pg + i * o * l, l, px + i * r * l, l, T(i == 0 ? 0 : 1), gw, r);
    return;
  }
  Tensor cols = gw && !kept ? Tensor::empty({r, plan.images * l}, dtype, cpu) : Tensor();
  Tensor dcols = gx ? Tensor::empty({r, plan.images * l}, dtype, cpu) : Tensor();
  Tensor grouped = plan.shared ? Tensor::empty({o, plan.images * l}, dtype, cpu) : Tensor();
  const auto im2col_images = cpu_kernel(&kernels::cpu::im2col_images<T>, "im2col_images<T>");
  const auto col2im_images = cpu_kernel(&kernels::cpu::col2im_images<T>, "col2im_images<T>");
  const auto join_images = cpu_kernel(&kernels::cpu::join_images<T>, "join_images<T>");
  for (int64_t n0 = 0; n0 < n; n0 += plan.images) {
    const int64_t count = std::min(plan.images, n - n0), width = count * l;
    const T* pgc = pg + n0 * o * l;
    if (plan.shared) join_images(pgc, count, o, l, grouped.data<T>());
    if (gw) {
      // Accumulated chunk after chunk (and image after image): beta = 0 starts the sum.
      const T* pc = kept ? kept + n0 * r * l : cols.data<T>();
      if (!kept) im2col_images(px + n0 * image_size(g), count, cols.data<T>(), g);
      if (plan.shared)
        gemm_on<T>(false, true, o, r, width, grouped.data<T>(), width, pc, width, T(n0 == 0 ? 0 : 1), gw, r);
      else
        for (int64_t i = 0; i < count; ++i)
          gemm_on<T>(false, true, o, r, l, pgc + i * o * l, l, pc + i * l, width, T(n0 + i == 0 ? 0 : 1), gw, r);
    }
    if (gx) {
      if (plan.shared)
        gemm_on<T>(true, false, r, width, o, pw, r, grouped.data<T>(), width, T(0), dcols.data<T>(), width);
      else
        gemm_batched_on<T>(cpu, count, true, false, r, l, o, pw, r, 0, pgc, l, o * l, T(0), dcols.data<T>(), width,
                           l);
      col2im_images(dcols.data<T>(), count, gx + n0 * image_size(g), g);
    }
  }
}

// y = conv(x, w) (no bias), outside the tape: cuDNN's whole batch on CUDA, else the CPU's
// chunks (keeping the columns in `kept` when it is defined).
template <class T>
void conv_forward(const Tensor& x, const Tensor& w, const kernels::ConvGeom& g, const ChunkPlan& plan, Tensor& y,
                  Tensor& kept) {
  const Device d = x.device();
  const int64_t n = x.shape()[0], o = w.shape()[0];
  if (auto whole_batch = R2G2_CUDA_ONLY_KERNEL(d, conv2d_forward_cudnn<T>)) {
    whole_batch(x.data<T>(), w.data<T>(), y.data<T>(), n, static_cast<int>(o), g);
    return;
  }
  conv_forward_cpu<T>(x.data<T>(), w.data<T>(), y.data<T>(), n, o, g, x.dtype(), plan,
                      kept.defined() ? kept.data<T>() : nullptr);
}

// The gradients of conv(x, w) for an output gradient g_out, outside the tape: gx when
// `x_shape` is given, gw when `w_shape` is (else undefined); gw from the forward's columns
// when `kept` holds them (then x is not read).
template <class T>
std::pair<Tensor, Tensor> conv_backward(const Tensor& g_out, const Tensor& x, const Tensor& w, const Tensor& kept,
                                        const kernels::ConvGeom& g, const ChunkPlan& plan, const Shape* x_shape,
                                        const Shape* w_shape) {
  const Device d = g_out.device();
  const DType dt = g_out.dtype();
  Tensor gx = x_shape ? Tensor::empty(*x_shape, dt, d) : Tensor();
  Tensor gw = w_shape ? Tensor::empty(*w_shape, dt, d) : Tensor();
  const int64_t n = g_out.shape()[0], o = g_out.shape()[1];
  const T* pg = g_out.data<T>();
  const auto data_cudnn = R2G2_CUDA_ONLY_KERNEL(d, conv2d_backward_data_cudnn<T>);
  if (data_cudnn) {
    if (x_shape) data_cudnn(w.data<T>(), pg, gx.data<T>(), n, static_cast<int>(o), g);
    if (w_shape)
      R2G2_CUDA_ONLY_KERNEL(d, conv2d_backward_filter_cudnn<T>)(x.data<T>(), pg, gw.data<T>(), n,
                                                                 static_cast<int>(o), g);
    return {gx, gw};
  }
  conv_backward_cpu<T>(pg, x.defined() ? x.data<T>() : nullptr, x_shape ? w.data<T>() : nullptr,
                       x_shape ? gx.data<T>() : nullptr, w_shape ? gw.data<T>() : nullptr, n, o, g, dt, plan,
                       kept.defined() ? kept.data<T>() : nullptr);
  return {gx, gw};
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
  const bool computed = y.numel() > 0 && col_rows(g) > 0;
  // Fixed here for the backward too: the kept columns are laid out chunk by chunk.
  const ChunkPlan plan = plan_chunks(x.shape()[0], g, x.dtype());
  Tensor kept_cols;
  if (computed && needs_grad({&w}) && keeps_columns(x.device(), x.shape()[0], g, x.dtype()))
    kept_cols = Tensor::empty({x.shape()[0] * col_rows(g) * col_cols(g)}, x.dtype(), x.device());
  if (computed)
    dispatch_floating(x.dtype(), "conv2d", [&](auto tag) { conv_forward<decltype(tag)>(xc, wc, g, plan, y, kept_cols); });
  else
    y = Tensor::zeros(y.shape(), x.dtype(), x.device());
  if (bias.defined()) {
    NoGrad no_grad;
    y = add(y, reshape(bias.detach(), {1, o, 1, 1}));
  }
  const bool need_x = x.requires_grad(), need_w = w.requires_grad();
  const bool need_bias = bias.defined() && bias.requires_grad();
  Tensor x_saved = need_w && !kept_cols.defined() ? xc : Tensor(), w_saved = need_x ? wc : Tensor();
  Shape x_shape = x.shape(), w_shape = w.shape();
  return record("conv2d", y, {x, w, bias}, [=](const Tensor& g_in) {
    Tensor go = g_in.detach().contiguous();
    Tensor gx, gw, gb;
    if ((need_x || need_w) && go.numel() > 0)
      dispatch_floating(go.dtype(), "conv2d_backward", [&](auto tag) {
        std::tie(gx, gw) = conv_backward<decltype(tag)>(go, x_saved, w_saved, kept_cols, g, plan,
                                                        need_x ? &x_shape : nullptr, need_w ? &w_shape : nullptr);
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
