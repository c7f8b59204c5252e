// im2col / col2im / max-pooling launches, and whole-batch convolution: cuDNN when built
// with it, else im2col + gemm image by image (the kernels are in conv_kernels.cuh).
#include <algorithm>
#include <atomic>
#include <climits>
#include <cstdint>
#include <mutex>

#include "r2g2/kernels/cuda/check.h"
#include "r2g2/kernels/cuda/conv.h"
#include "r2g2/kernels/cuda/conv_kernels.cuh"
#include "r2g2/kernels/cuda/cudnn_conv.h"
#include "r2g2/kernels/cuda/gemm.h"
#include "r2g2/kernels/cuda/launch.cuh"
#include "r2g2/kernels/runtime/device_memory.h"

// The host emulator has no cuDNN: there the whole-batch convolutions always take the
// im2col + gemm path.
#if R2G2_WITH_CUDNN && !defined(R2G2_CUDA_EMULATION)
#define R2G2_CONV_CUDNN 1
#else
#define R2G2_CONV_CUDNN 0
#endif

namespace r2g2::kernels::cuda {

namespace {

std::atomic<int> g_block_size{256};

// Enough blocks for one element per thread, capped: past a few waves the grid-stride
// loop does the rest at no cost.
unsigned grid_for(int64_t total, int threads) {
  constexpr int64_t kMaxBlocks = int64_t(1) << 20;
  return static_cast<unsigned>(std::clamp<int64_t>((total + threads - 1) / threads, 1, kMaxBlocks));
}

void check_geom(const ConvGeom& g, const char* op) {
  R2G2_CHECK(g.channels > 0 && g.height > 0 && g.width > 0 && g.kernel_h > 0 && g.kernel_w > 0 &&
                 g.stride > 0 && g.padding >= 0 && g.out_h > 0 && g.out_w > 0,
             op, ": bad geometry C=", g.channels, " H=", g.height, " W=", g.width, " kernel ", g.kernel_h,
             "x", g.kernel_w, " stride ", g.stride, " padding ", g.padding, " out ", g.out_h, "x", g.out_w);
  R2G2_CHECK((g.out_h - 1) * g.stride + g.kernel_h <= g.height + 2 * g.padding &&
                 (g.out_w - 1) * g.stride + g.kernel_w <= g.width + 2 * g.padding,
             op, ": output ", g.out_h, "x", g.out_w, " does not fit a ", g.height, "x", g.width,
             " input with kernel ", g.kernel_h, "x", g.kernel_w, " stride ", g.stride, " padding ",
             g.padding);
}

}  // namespace

void set_conv_block_size(int threads) {
  R2G2_CHECK(threads >= 32 && threads <= 1024 && threads % 32 == 0,
             "set_conv_block_size: expected a multiple of 32 in [32, 1024], got ", threads);
  g_block_size.store(threads);
}
int conv_block_size() { return g_block_size.load(); }

template <class T>
void im2col(const T* image, T* cols, const ConvGeom& g) {
  check_geom(g, "im2col");
  const int threads = conv_block_size();
  const int64_t total = int64_t(g.channels) * g.out_h * g.out_w;
  R2G2_LAUNCH(conv_detail::im2col_kernel<T>, grid_for(total, threads), threads, image, cols, g);
}

template <class T>
void col2im(const T* cols, T* image, const ConvGeom& g) {
  check_geom(g, "col2im");
  const int threads = conv_block_size();
  const int64_t total = int64_t(g.channels) * g.height * g.width;
  R2G2_LAUNCH(conv_detail::col2im_kernel<T>, grid_for(total, threads), threads, cols, image, g);
}

template <class T>
void max_pool2d(const T* x, T* y, int32_t* arg, int64_t planes, int h, int w, int kernel, int stride, int oh,
                int ow) {
  R2G2_CHECK(planes >= 0 && h > 0 && w > 0 && kernel > 0 && stride > 0 && oh > 0 && ow > 0 &&
                 (oh - 1) * stride + kernel <= h && (ow - 1) * stride + kernel <= w,
             "max_pool2d: output ", oh, "x", ow, " does not fit a ", h, "x", w, " input with kernel ", kernel,
             " stride ", stride);
  R2G2_CHECK(int64_t(h) * w <= INT32_MAX, "max_pool2d: a ", h, "x", w, " plane overflows the int32 argmax");
  const int64_t total = planes * oh * ow;
  if (total == 0) return;
  const int threads = conv_block_size();
  R2G2_LAUNCH(conv_detail::max_pool2d_kernel<T>, grid_for(total, threads), threads, x, y, arg, planes, h, w,
              kernel, stride, oh, ow);
}

template <class T>
void max_pool2d_backward(const T* gy, const int32_t* arg, T* gx, int64_t planes, int h, int w, int oh,
                         int ow) {
  R2G2_CHECK(planes >= 0 && h > 0 && w > 0 && oh > 0 && ow > 0,
             "max_pool2d_backward: bad sizes planes=", planes, " ", h, "x", w, " -> ", oh, "x", ow);
  if (planes == 0) return;
  const int threads = conv_block_size();
  const int warps = threads / 32;  // one warp per plane
  const unsigned blocks =
      static_cast<unsigned>(std::min<int64_t>((planes + warps - 1) / warps, int64_t(1) << 20));
  R2G2_LAUNCH_SMEM(conv_detail::max_pool2d_backward_kernel<T>, blocks, threads, threads * sizeof(T), gy, arg,
                   gx, planes, int64_t(h) * w, int64_t(oh) * ow);
}

// ---- Scratch buffers ---------------------------------------------------------------
//
// Taken from r2g2's caching allocator, so that the scratch and the tensors share one
// pool: when the device runs out, growing a scratch buffer empties the allocator's cache
// before it fails, and a tensor allocation first makes conv_scratch hand back its
// buffers (release_conv_scratch, registered as a memory releaser). Freed blocks are
// reused only by work queued later on the same stream, as for every tensor. A buffer
// is dropped only between convolutions: nothing allocates device memory while one holds
// its scratch pointer (r2g2 launches from one host thread).

namespace {

struct ScratchBuffer {
  void* ptr = nullptr;
  size_t bytes = 0;
};

struct ScratchPool {
  // Recursive: growing a buffer may run release_conv_scratch on this thread.
  std::recursive_mutex mutex;
  ScratchBuffer buffers[static_cast<int>(ScratchSlot::count)];
};

ScratchPool& scratch_pool() {
  // Never destroyed: tensors and scratch may still be freed while statics are destroyed.
  static ScratchPool* pool = new ScratchPool;
  return *pool;
}

void drop(ScratchBuffer& b) {
  void* p = b.ptr;
  const size_t bytes = b.bytes;
  b = ScratchBuffer{};
  if (p != nullptr) runtime::device_release(p, bytes);
}

void release_conv_scratch() {
  ScratchPool& pool = scratch_pool();
  std::lock_guard lock(pool.mutex);
  for (ScratchBuffer& b : pool.buffers) drop(b);
}

}  // namespace

void* conv_scratch(ScratchSlot slot, size_t bytes) {
  static const bool registered = (runtime::add_memory_releaser(release_conv_scratch), true);
  (void)registered;
  ScratchPool& pool = scratch_pool();
  std::lock_guard lock(pool.mutex);
  ScratchBuffer& b = pool.buffers[static_cast<int>(slot)];
  if (bytes > b.bytes) {
    // Grow by 1.5x so that a slowly growing size does not reallocate every call, but not
    // at the price of failing where the exact size still fits.
    const size_t want = std::max(bytes, b.bytes + b.bytes / 2);
    drop(b);
    size_t got = want;
    void* p = nullptr;
    try {
      p = runtime::device_allocate(want);
    } catch (const Error&) {
      if (want == bytes) throw;
    }
    if (p == nullptr) {
      got = bytes;
      p = runtime::device_allocate(bytes);
    }
    b.ptr = p;
    b.bytes = got;
  }
  return b.ptr;
}

// ---- Whole-batch convolution ---------------------------------------------------------

namespace {

void check_conv(int64_t batch, int out_channels, const ConvGeom& g, const char* op) {
  check_geom(g, op);
  R2G2_CHECK(batch >= 0 && out_channels > 0, op, ": bad batch ", batch, " or out_channels ", out_channels);
}

// im2col + gemm, image by image, through one reused column buffer (stream order makes
// the reuse safe). Used without cuDNN and where cuDNN supports no algorithm.
struct Im2colConv {
  int64_t ckk, pixels;  // column matrix [ckk, pixels]
  int64_t in_image, out_image;
  explicit Im2colConv(int out_channels, const ConvGeom& g)
      : ckk(int64_t(g.channels) * g.kernel_h * g.kernel_w),
        pixels(int64_t(g.out_h) * g.out_w),
        in_image(int64_t(g.channels) * g.height * g.width),
        out_image(int64_t(out_channels) * g.out_h * g.out_w) {}
  template <class T>
  T* columns() const {
    return static_cast<T*>(conv_scratch(ScratchSlot::im2col_columns, size_t(ckk * pixels) * sizeof(T)));
  }
};

}  // namespace

template <class T>
void conv2d_forward_cudnn(const T* x, const T* w, T* y, int64_t batch, int out_channels, const ConvGeom& g) {
  check_conv(batch, out_channels, g, "conv2d_forward");
  if (batch == 0) return;
#if R2G2_CONV_CUDNN
  if (cudnn::conv_forward<T>(x, w, y, batch, out_channels, g)) return;
#endif
  const Im2colConv s(out_channels, g);
  T* cols = s.columns<T>();
  for (int64_t b = 0; b < batch; ++b) {
    im2col<T>(x + b * s.in_image, cols, g);
    // y_b [O, P] = W [O, CKK] * cols [CKK, P]
    gemm<T>(false, false, out_channels, s.pixels, s.ckk, T(1), w, s.ckk, cols, s.pixels, T(0),
            y + b * s.out_image, s.pixels);
  }
}

template <class T>
void conv2d_backward_data_cudnn(const T* w, const T* gy, T* gx, int64_t batch, int out_channels,
                                const ConvGeom& g) {
  check_conv(batch, out_channels, g, "conv2d_backward_data");
  if (batch == 0) return;
#if R2G2_CONV_CUDNN
  if (cudnn::conv_backward_data<T>(w, gy, gx, batch, out_channels, g)) return;
#endif
  const Im2colConv s(out_channels, g);
  T* cols = s.columns<T>();
  R2G2_CUDA_CHECK(cudaMemsetAsync(gx, 0, size_t(batch * s.in_image) * sizeof(T), current_stream()));
  for (int64_t b = 0; b < batch; ++b) {
    // cols [CKK, P] = W^T [CKK, O] * gy_b [O, P], then scattered back onto the image.
    gemm<T>(true, false, s.ckk, s.pixels, out_channels, T(1), w, s.ckk, gy + b * s.out_image, s.pixels, T(0),
            cols, s.pixels);
    col2im<T>(cols, gx + b * s.in_image, g);
  }
}

template <class T>
void conv2d_backward_filter_cudnn(const T* x, const T* gy, T* gw, int64_t batch, int out_channels,
                                  const ConvGeom& g) {
  check_conv(batch, out_channels, g, "conv2d_backward_filter");
  const Im2colConv s(out_channels, g);
  if (batch == 0) {
    R2G2_CUDA_CHECK(cudaMemsetAsync(gw, 0, size_t(out_channels * s.ckk) * sizeof(T), current_stream()));
    return;
  }
#if R2G2_CONV_CUDNN
  if (cudnn::conv_backward_filter<T>(x, gy, gw, batch, out_channels, g)) return;
#endif
  T* cols = s.columns<T>();
  for (int64_t b = 0; b < batch; ++b) {
    im2col<T>(x + b * s.in_image, cols, g);
    // gW [O, CKK] (+)= gy_b [O, P] * cols^T [P, CKK]
    gemm<T>(false, true, out_channels, s.ckk, s.pixels, T(1), gy + b * s.out_image, s.pixels, cols, s.pixels,
            b == 0 ? T(0) : T(1), gw, s.ckk);
  }
}

bool conv2d_uses_cudnn() {
#if R2G2_CONV_CUDNN
  return true;
#else
  return false;
#endif
}

#define R2G2_INSTANTIATE(T)                                                                           \
  template void im2col<T>(const T*, T*, const ConvGeom&);                                             \
  template void col2im<T>(const T*, T*, const ConvGeom&);                                             \
  template void max_pool2d<T>(const T*, T*, int32_t*, int64_t, int, int, int, int, int, int);         \
  template void max_pool2d_backward<T>(const T*, const int32_t*, T*, int64_t, int, int, int, int);    \
  template void conv2d_forward_cudnn<T>(const T*, const T*, T*, int64_t, int, const ConvGeom&);       \
  template void conv2d_backward_data_cudnn<T>(const T*, const T*, T*, int64_t, int, const ConvGeom&); \
  template void conv2d_backward_filter_cudnn<T>(const T*, const T*, T*, int64_t, int, const ConvGeom&);
R2G2_INSTANTIATE(float)
R2G2_INSTANTIATE(double)
#undef R2G2_INSTANTIATE

}  // namespace r2g2::kernels::cuda
