// kernels/cuda/conv.cu under the emulator: im2col, col2im and max-pooling against the CPU
// reference (kernels/cpu/conv), the whole-batch convolutions against their definition,
// and the scratch buffers' share of device memory with the caching allocator
// (core/cuda/allocator.cpp, which the emulated backend builds).
//
// The emulated build has no cuDNN, so conv2d_*_cudnn always take the im2col + gemm path;
// gemm there is kernels/cuda/gemm.cu with the CPU reference GEMM standing in for cuBLAS
// (see test_gemm.cpp).
#include "emulator/cuda_emulator.h"
// First, so that what follows sees the emulator in place of the CUDA runtime.
#include "r2g2/core/cuda/allocator_impl.h"
#include "r2g2/core/cuda_backend.h"
#include "r2g2/kernels/cases/conv.h"
#include "r2g2/kernels/cpu/conv.h"
#include "r2g2/kernels/cuda/conv.cu"
#include "kernels/cuda/gemm_conv_test_util.h"

namespace {

namespace cpu = r2g2::kernels::cpu;
namespace gpu = r2g2::kernels::cuda;
namespace backend = r2g2::cuda_backend;
using namespace r2g2::test::emulated;
using r2g2::kernels::ConvGeom;
using r2g2::test::contains;
using r2g2::test::conv_geom;
using r2g2::test::error_of;

// The geometries of the case table the kernel lab shares (kernels/cases/conv.h).
const std::vector<ConvGeom>& kGeoms = r2g2::kernels::cases::test_conv_geoms();

// Restores the conv launch block size when a case ends, passed or not.
struct BlockSize {
  const int saved = gpu::conv_block_size();
  explicit BlockSize(int threads) { gpu::set_conv_block_size(threads); }
  ~BlockSize() { gpu::set_conv_block_size(saved); }
};

#define CAPTURE_GEOM(g)  \
  CAPTURE((g).channels); \
  CAPTURE((g).height);   \
  CAPTURE((g).width);    \
  CAPTURE((g).kernel_h); \
  CAPTURE((g).kernel_w); \
  CAPTURE((g).stride);   \
  CAPTURE((g).padding)

// ---- im2col / col2im ---------------------------------------------------------------------

template <class T>
void im2col_cases() {
  for (const ConvGeom& g : kGeoms) {
    CAPTURE_GEOM(g);
    const size_t image = size_t(g.channels) * g.height * g.width;
    const size_t ncols = size_t(g.channels) * g.kernel_h * g.kernel_w * g.out_h * g.out_w;
    const auto x = values<T>(image, 31);
    std::vector<T> want(ncols);
    cpu::im2col<T>(x.data(), want.data(), g);
    DeviceVector<T> dx(x), dcols{std::vector<T>(ncols, T(7))};
    gpu::im2col<T>(dx.get(), dcols.get(), g);
    CHECK(same_values(dcols.host(), want));  // a pure copy: bitwise

    // col2im sums each pixel's entries in the CPU's order: bitwise equal, also onto an
    // image that is not zero.
    const auto cols = values<T>(ncols, 32);
    DeviceVector<T> dcols2(cols);
    for (T start : {T(0), T(0.25)}) {
      std::vector<T> back(image, start);
      cpu::col2im<T>(cols.data(), back.data(), g);
      DeviceVector<T> dback{std::vector<T>(image, start)};
      gpu::col2im<T>(dcols2.get(), dback.get(), g);
      if (start == T(0)) {
        CHECK(same_values(dback.host(), back));
      } else {
        // At most kh*kw = 25 values in [-1, 1) and `start`, summed in another association
        // than the CPU's: each sum is within 26 u of exact per unit of the magnitudes'
        // sum (< 26), so the two are within 26 * 26 eps of each other.
        check_close(dback.host(), back, 0.0, 26 * 26 * double(std::numeric_limits<T>::epsilon()));
      }
    }
  }
}

TEST_CASE_TEMPLATE("conv im2col / col2im equal the CPU bitwise: padding, strides, odd kernels", T, float,
                   double) {
  im2col_cases<T>();
}

TEST_CASE("conv im2col / col2im: the launch block size is a tuning knob only") {
  for (int threads : {32, 96}) {
    CAPTURE(threads);
    BlockSize block(threads);
    im2col_cases<float>();
  }
}

TEST_CASE("conv block size: only multiples of 32 in [32, 1024]") {
  const int saved = gpu::conv_block_size();
  CHECK(contains(error_of([] { gpu::set_conv_block_size(100); }), "multiple of 32"));
  CHECK(contains(error_of([] { gpu::set_conv_block_size(2048); }), "multiple of 32"));
  CHECK(contains(error_of([] { gpu::set_conv_block_size(0); }), "multiple of 32"));
  CHECK(gpu::conv_block_size() == saved);
}

TEST_CASE("conv geometry errors are refused before anything is launched") {
  const int64_t launches = r2g2_emu::launch_count();
  float x = 0;
  ConvGeom bad = conv_geom(2, 5, 5, 3, 3, 1, 0);
  bad.out_h = 4;  // (4 - 1) * 1 + 3 > 5
  CHECK(contains(error_of([&] { gpu::im2col<float>(&x, &x, bad); }), "im2col: output 4x3 does not fit"));
  CHECK(contains(error_of([&] { gpu::col2im<float>(&x, &x, bad); }), "col2im: output 4x3 does not fit"));
  ConvGeom zero = conv_geom(2, 5, 5, 3, 3, 1, 0);
  zero.stride = 0;
  CHECK(contains(error_of([&] { gpu::im2col<float>(&x, &x, zero); }), "bad geometry"));
  CHECK(contains(
      error_of([&] { gpu::conv2d_forward_cudnn<float>(&x, &x, &x, 1, 0, conv_geom(1, 3, 3, 1, 1, 1, 0)); }),
      "bad batch 1 or out_channels 0"));
  CHECK(contains(error_of([&] { gpu::max_pool2d<float>(&x, &x, nullptr, 1, 4, 4, 3, 2, 2, 2); }),
                 "max_pool2d: output 2x2 does not fit a 4x4 input"));
  CHECK(contains(error_of([&] { gpu::max_pool2d_backward<float>(&x, nullptr, &x, -1, 4, 4, 2, 2); }),
                 "bad sizes"));
  CHECK(r2g2_emu::launch_count() == launches);
}

// ---- max-pooling -------------------------------------------------------------------------

using r2g2::kernels::cases::PoolCase;

template <class T>
void pool_case(const PoolCase& c) {
  CAPTURE(c.planes);
  CAPTURE(c.h);
  CAPTURE(c.w);
  CAPTURE(c.kernel);
  CAPTURE(c.stride);
  CAPTURE(c.ties);
  CAPTURE(c.nan);
  CAPTURE(c.threads);
  BlockSize block(c.threads);
  const int oh = (c.h - c.kernel) / c.stride + 1, ow = (c.w - c.kernel) / c.stride + 1;
  auto x = values<T>(size_t(c.planes * c.h * c.w), uint64_t(41 + c.h));
  if (c.ties)  // few distinct values: many windows hold several maxima
    for (auto& v : x) v = std::floor(v * 2);
  if (c.nan) {
    x[size_t(c.w + 1)] = std::numeric_limits<T>::quiet_NaN();
    x[size_t(c.w + 2)] = std::numeric_limits<T>::quiet_NaN();  // the first NaN of a window wins
  }
  const size_t nout = size_t(c.planes) * oh * ow;
  std::vector<T> y(nout);
  std::vector<int32_t> arg(nout);
  cpu::max_pool2d<T>(x.data(), y.data(), arg.data(), c.planes, c.h, c.w, c.kernel, c.stride, oh, ow);
  DeviceVector<T> dx(x), dy{std::vector<T>(nout)};
  DeviceVector<int32_t> darg{std::vector<int32_t>(nout, -1)};
  gpu::max_pool2d<T>(dx.get(), dy.get(), darg.get(), c.planes, c.h, c.w, c.kernel, c.stride, oh, ow);
  CHECK(same_values(dy.host(), y));
  CHECK(darg.host() == arg);  // ties: the first maximum in row-major window order

  // Overlapping windows share maxima: the sums still happen in the CPU's output order,
  // so bitwise equal, onto a zero and onto a non-zero gradient alike.
  const auto gy = values<T>(nout, 43);
  DeviceVector<T> dgy(gy);
  for (T start : {T(0), T(0.25)}) {
    std::vector<T> gx(x.size(), start);
    cpu::max_pool2d_backward<T>(gy.data(), arg.data(), gx.data(), c.planes, c.h, c.w, oh, ow);
    DeviceVector<T> dgx{std::vector<T>(x.size(), start)};
    gpu::max_pool2d_backward<T>(dgy.get(), darg.get(), dgx.get(), c.planes, c.h, c.w, oh, ow);
    CHECK(same_values(dgx.host(), gx));
  }
}

TEST_CASE("conv max_pool2d forward and backward equal the CPU bitwise: ties, overlaps, NaN, warp grouping") {
  for (const PoolCase& c : r2g2::kernels::cases::test_pool_cases()) {
    if (c.f64)
      pool_case<double>(c);
    else
      pool_case<float>(c);
  }
}

// ---- kernels on small grids --------------------------------------------------------------

// The launchers size the grid to the work; the kernels must be right for any grid, since
// past 2^20 blocks the grid-stride loops take over. Launched directly, with few threads.
TEST_CASE("conv kernels are correct on grids much smaller than the work (grid-stride loops)") {
  for (const ConvGeom& g : kGeoms) {
    CAPTURE_GEOM(g);
    const size_t image = size_t(g.channels) * g.height * g.width;
    const size_t ncols = size_t(g.channels) * g.kernel_h * g.kernel_w * g.out_h * g.out_w;
    const auto x = values<float>(image, 7), cols = values<float>(ncols, 8);
    std::vector<float> want(ncols), back_want(image, 0.f);
    cpu::im2col<float>(x.data(), want.data(), g);
    cpu::col2im<float>(cols.data(), back_want.data(), g);
    DeviceVector<float> dx(x), dcols{std::vector<float>(ncols, 7.f)}, dcols2(cols),
        dback{std::vector<float>(image)};
    R2G2_EMULATED_LAUNCH(gpu::conv_detail::im2col_kernel<float>, dim3(3), dim3(64), 0, dx.get(), dcols.get(),
                         g);
    R2G2_EMULATED_LAUNCH(gpu::conv_detail::col2im_kernel<float>, dim3(2), dim3(32), 0, dcols2.get(),
                         dback.get(), g);
    CHECK(same_values(dcols.host(), want));
    CHECK(same_values(dback.host(), back_want));
  }
  const int64_t planes = 6;
  const int h = 9, w = 9, kernel = 3, stride = 1, oh = 7, ow = 7;
  auto x = values<double>(size_t(planes * h * w), 9);
  for (auto& v : x) v = std::floor(v * 2);
  const size_t nout = size_t(planes) * oh * ow;
  std::vector<double> y(nout), gx(x.size(), 0.0);
  std::vector<int32_t> arg(nout);
  const auto gy = values<double>(nout, 10);
  cpu::max_pool2d<double>(x.data(), y.data(), arg.data(), planes, h, w, kernel, stride, oh, ow);
  cpu::max_pool2d_backward<double>(gy.data(), arg.data(), gx.data(), planes, h, w, oh, ow);
  DeviceVector<double> dx(x), dy{std::vector<double>(nout)}, dgy(gy), dgx{std::vector<double>(x.size())};
  DeviceVector<int32_t> darg{std::vector<int32_t>(nout)};
  R2G2_EMULATED_LAUNCH(gpu::conv_detail::max_pool2d_kernel<double>, dim3(2), dim3(64), 0, dx.get(), dy.get(),
                       darg.get(), planes, h, w, kernel, stride, oh, ow);
  // 2 blocks of 2 warps (one warp per plane) for 6 planes: two warps take a second one.
  R2G2_EMULATED_LAUNCH(gpu::conv_detail::max_pool2d_backward_kernel<double>, dim3(2), dim3(64),
                       64 * sizeof(double), dgy.get(), darg.get(), dgx.get(), planes, int64_t(h) * w,
                       int64_t(oh) * ow);
  CHECK(same_values(dy.host(), y));
  CHECK(darg.host() == arg);
  CHECK(same_values(dgx.host(), gx));
}

// ---- whole-batch convolution -------------------------------------------------------------

// The three convolutions from their definition, in long double, with each output's
// sum of |terms| and number of terms: a float computation of such a sum, in any order
// and grouping, is within (terms + 2) eps * sum|terms| of it.
struct Reference {
  std::vector<long double> value, magnitude;
  std::vector<int64_t> terms;
  explicit Reference(size_t n) : value(n, 0), magnitude(n, 0), terms(n, 0) {}
  void add(size_t at, long double a, long double b) {
    value[at] += a * b;
    magnitude[at] += std::fabs(a * b);
    ++terms[at];
  }
  template <class T>
  void check(const std::vector<T>& got) const {
    REQUIRE(got.size() == value.size());
    const double eps = std::numeric_limits<T>::epsilon();
    for (size_t i = 0; i < got.size(); ++i) {
      const double tol =
          double(terms[i] + 2) * eps * double(magnitude[i]) + std::numeric_limits<T>::denorm_min();
      if (!(std::fabs(double(got[i]) - double(value[i])) <= tol)) {
        CAPTURE(i);
        CAPTURE(got[i]);
        CAPTURE(double(value[i]));
        CAPTURE(tol);
        FAIL_CHECK("convolution differs from its definition");
        return;
      }
    }
  }
};

template <class T>
struct DirectConv {
  Reference y, gx, gw;
  DirectConv(const std::vector<T>& x, const std::vector<T>& w, const std::vector<T>& gy, int64_t batch,
             int out, const ConvGeom& g)
      : y(size_t(batch) * out * g.out_h * g.out_w),
        gx(size_t(batch) * g.channels * g.height * g.width),
        gw(size_t(out) * g.channels * g.kernel_h * g.kernel_w) {
    for (int64_t b = 0; b < batch; ++b)
      for (int o = 0; o < out; ++o)
        for (int c = 0; c < g.channels; ++c)
          for (int oy = 0; oy < g.out_h; ++oy)
            for (int ox = 0; ox < g.out_w; ++ox)
              for (int i = 0; i < g.kernel_h; ++i)
                for (int j = 0; j < g.kernel_w; ++j) {
                  const int iy = oy * g.stride - g.padding + i, ix = ox * g.stride - g.padding + j;
                  if (iy < 0 || iy >= g.height || ix < 0 || ix >= g.width) continue;
                  const size_t xi = ((size_t(b) * g.channels + c) * g.height + iy) * g.width + ix;
                  const size_t wi = ((size_t(o) * g.channels + c) * g.kernel_h + i) * g.kernel_w + j;
                  const size_t yi = ((size_t(b) * out + o) * g.out_h + oy) * g.out_w + ox;
                  y.add(yi, w[wi], x[xi]);
                  gx.add(xi, w[wi], gy[yi]);
                  gw.add(wi, gy[yi], x[xi]);
                }
  }
};

template <class T>
void conv_cases() {
  int index = 0;
  for (const ConvGeom& g : kGeoms)
    for (int64_t batch : {1, 3}) {
      const int out = 2 + index % 3;
      CAPTURE_GEOM(g);
      CAPTURE(batch);
      CAPTURE(out);
      const size_t nx = size_t(batch) * g.channels * g.height * g.width;
      const size_t nw = size_t(out) * g.channels * g.kernel_h * g.kernel_w;
      const size_t ny = size_t(batch) * out * g.out_h * g.out_w;
      const auto x = values<T>(nx, uint64_t(51 + index)), w = values<T>(nw, uint64_t(52 + index));
      const auto gy = values<T>(ny, uint64_t(53 + index));
      const DirectConv<T> ref(x, w, gy, batch, out, g);
      const T nan = std::numeric_limits<T>::quiet_NaN();  // outputs are overwritten, never read
      DeviceVector<T> dx(x), dw(w), dgy(gy), dy{std::vector<T>(ny, nan)}, dgx{std::vector<T>(nx, nan)},
          dgw{std::vector<T>(nw, nan)};
      gpu::conv2d_forward_cudnn<T>(dx.get(), dw.get(), dy.get(), batch, out, g);
      gpu::conv2d_backward_data_cudnn<T>(dw.get(), dgy.get(), dgx.get(), batch, out, g);
      gpu::conv2d_backward_filter_cudnn<T>(dx.get(), dgy.get(), dgw.get(), batch, out, g);
      const auto y = dy.host(), gx = dgx.host(), gw = dgw.host();
      ref.y.check(y);
      ref.gx.check(gx);
      ref.gw.check(gw);
      if (batch > 1 && g.channels > 8) {
        // Deterministic: the same calls again give the same bits.
        gpu::conv2d_forward_cudnn<T>(dx.get(), dw.get(), dy.get(), batch, out, g);
        gpu::conv2d_backward_data_cudnn<T>(dw.get(), dgy.get(), dgx.get(), batch, out, g);
        gpu::conv2d_backward_filter_cudnn<T>(dx.get(), dgy.get(), dgw.get(), batch, out, g);
        CHECK(dy.host() == y);
        CHECK(dgx.host() == gx);
        CHECK(dgw.host() == gw);
      }
      ++index;
    }
}

TEST_CASE_TEMPLATE(
    "conv2d forward / backward data / backward filter through im2col + gemm match the definition", T, float,
    double) {
  CHECK_FALSE(gpu::conv2d_uses_cudnn());
  const int64_t im2col = r2g2_emu::launches_of("im2col_kernel"),
                col2im = r2g2_emu::launches_of("col2im_kernel");
  conv_cases<T>();
  CHECK(r2g2_emu::launches_of("im2col_kernel") > im2col);
  CHECK(r2g2_emu::launches_of("col2im_kernel") > col2im);
}

TEST_CASE("conv2d with an empty batch writes only the filter gradient, as zeros") {
  const ConvGeom g = conv_geom(2, 5, 5, 3, 3, 1, 1);
  const size_t nw = size_t(3) * 2 * 3 * 3;
  DeviceVector<float> x{std::vector<float>(1, 5.f)}, y{std::vector<float>(1, 5.f)},
      gw{std::vector<float>(nw, std::numeric_limits<float>::quiet_NaN())};
  DeviceVector<float> w(values<float>(nw, 60));
  gpu::conv2d_forward_cudnn<float>(x.get(), w.get(), y.get(), 0, 3, g);
  gpu::conv2d_backward_data_cudnn<float>(w.get(), y.get(), x.get(), 0, 3, g);
  gpu::conv2d_backward_filter_cudnn<float>(x.get(), y.get(), gw.get(), 0, 3, g);
  CHECK(x.host() == std::vector<float>(1, 5.f));
  CHECK(y.host() == std::vector<float>(1, 5.f));
  CHECK(gw.host() == std::vector<float>(nw, 0.f));
}

// ---- scratch memory and the caching allocator --------------------------------------------

backend::detail::CachingAllocator& allocator() { return backend::detail::allocator(); }

// A capacity `headroom` bytes above what the emulated device holds now, and the caching
// mode, both restored when the case ends, passed or not.
struct MemoryLimit {
  MemoryLimit(size_t headroom, bool caching) {
    allocator().set_caching(caching);
    r2g2_emu::set_memory_capacity(r2g2_emu::memory_stats().bytes_in_use + headroom);
  }
  ~MemoryLimit() {
    r2g2_emu::set_memory_capacity(0);
    allocator().set_caching(false);
  }
  MemoryLimit(const MemoryLimit&) = delete;
  MemoryLimit& operator=(const MemoryLimit&) = delete;
};

size_t in_use() { return r2g2_emu::memory_stats().bytes_in_use; }

size_t column_bytes(const ConvGeom& g) {
  return size_t(g.channels) * g.kernel_h * g.kernel_w * g.out_h * g.out_w * sizeof(float);
}

// The forward convolution of one image (one output channel), checked against the
// definition. Its column matrix is the only scratch buffer these cases use.
void checked_conv(const ConvGeom& g, uint64_t seed) {
  const auto x = values<float>(size_t(g.channels) * g.height * g.width, seed);
  const auto w = values<float>(size_t(g.channels) * g.kernel_h * g.kernel_w, seed + 1);
  const std::vector<float> gy(size_t(g.out_h) * g.out_w, 0.f);
  DeviceVector<float> dx(x), dw(w), dy(gy);
  gpu::conv2d_forward_cudnn<float>(dx.get(), dw.get(), dy.get(), 1, 1, g);
  DirectConv<float>(x, w, gy, 1, 1, g).y.check(dy.host());
}

const ConvGeom kBigGeom = conv_geom(4, 32, 32, 4, 4, 1, 0);  // 64 x 841 floats
const size_t kColumnBytes = column_bytes(kBigGeom);
void big_conv(int salt) { checked_conv(kBigGeom, uint64_t(70 + salt)); }

// Hands every conv scratch buffer back (an out-of-memory runs the releasers), so that a
// case starts from no scratch at all.
void drop_scratch() {
  const MemoryLimit none(0, false);
  CHECK_THROWS(backend::malloc(size_t(1) << 40));
}

TEST_CASE("conv scratch: an out-of-memory retries once the allocator's cache is emptied") {
  drop_scratch();
  // The cache holds 256 KiB of freed tensors; the scratch fits only without them.
  const size_t cached = 256 << 10;
  const MemoryLimit limit(kColumnBytes + cached / 2, true);
  void* blocks[4];
  for (void*& b : blocks) b = backend::malloc(cached / 4);
  for (void* b : blocks) backend::free(b, cached / 4);
  REQUIRE(backend::allocator_stats().bytes_cached >= cached);
  big_conv(0);
  CHECK(backend::allocator_stats().bytes_cached == 0);
}

TEST_CASE("conv scratch: a tensor that fits only once the scratch is handed back is allocated") {
  for (bool caching : {false, true}) {
    CAPTURE(caching);
    drop_scratch();
    big_conv(0);  // holds a kColumnBytes scratch buffer
    {
      const MemoryLimit limit(kColumnBytes / 2, caching);
      const size_t held = in_use();
      void* p = nullptr;
      REQUIRE_NOTHROW(p = backend::malloc(kColumnBytes));
      CHECK(in_use() <= held + kColumnBytes / 2);  // the scratch buffer went back to the device
      backend::free(p, kColumnBytes);
    }
    big_conv(1);  // the scratch is regrown, and right
  }
}

TEST_CASE("conv scratch: growth takes the exact size when 1.5x the old one does not fit") {
  drop_scratch();
  big_conv(0);  // scratch: kColumnBytes
  // 1.14x the old buffer, so the first try asks for 1.5x: room for the exact size with
  // 32 KiB to spare, but not for 1.5x. (The 32 KiB also hold the image and output.)
  const ConvGeom g = conv_geom(4, 32, 36, 4, 4, 1, 0);
  const size_t bytes = column_bytes(g);
  REQUIRE(bytes > kColumnBytes);
  REQUIRE(bytes + (32 << 10) < kColumnBytes + kColumnBytes / 2);
  const MemoryLimit limit(bytes - kColumnBytes + (32 << 10), false);
  checked_conv(g, 80);
}

TEST_CASE("conv scratch: a request that cannot fit fails once, naming its size and the memory in use") {
  drop_scratch();
  const MemoryLimit limit(1 << 20, true);
  const auto before = backend::allocator_stats();
  const size_t bytes = size_t(64) << 20;
  const std::string e = error_of([&] { backend::malloc(bytes); });
  CAPTURE(e);
  CHECK(contains(e, "out of memory allocating 67108864 bytes"));
  CHECK(contains(e, "bytes in use"));
  CHECK(e.find("out of memory") == e.rfind("out of memory"));
  const auto after = backend::allocator_stats();
  CHECK(after.bytes_in_use == before.bytes_in_use);
  CHECK(after.cuda_malloc_calls == before.cuda_malloc_calls + 2);  // the first try and the retry
  // A convolution whose scratch cannot fit names the column buffer's size; nothing is
  // launched, and the device still works afterwards.
  const int64_t launches = r2g2_emu::launch_count();
  const std::string conv_error = error_of([] {
    const ConvGeom g = conv_geom(8, 256, 256, 3, 3, 1, 1);  // 72 x 65536 floats: 18 MiB
    gpu::conv2d_forward_cudnn<float>(nullptr, nullptr, nullptr, 1, 1, g);
  });
  CAPTURE(conv_error);
  CHECK(contains(conv_error, "out of memory allocating 18874368 bytes"));
  CHECK(r2g2_emu::launch_count() == launches);
  void* p = backend::malloc(1000);
  backend::free(p, 1000);
}

// A releaser of the test's own, holding one block until the allocator asks for it.
void* g_held = nullptr;
size_t g_held_bytes = 0;
int g_release_calls = 0;
void release_held() {
  ++g_release_calls;
  backend::free(g_held, g_held_bytes);
  g_held = nullptr;
}

TEST_CASE("conv scratch: the caching allocator reuses blocks, runs releasers and empties its cache on OOM") {
  const MemoryLimit limit(size_t(3) << 20, true);
  backend::add_memory_releaser(release_held);
  backend::add_memory_releaser(release_held);  // registering twice is harmless
  const int calls = g_release_calls;
  // Reuse: the same size class comes back from the free list, without cudaMalloc (and
  // without asking any releaser).
  void* a = backend::malloc(100000);
  const auto s0 = backend::allocator_stats();
  backend::free(a, 100000);
  void* b = backend::malloc(99999);
  const auto s1 = backend::allocator_stats();
  CHECK(b == a);
  CHECK(s1.cache_hits == s0.cache_hits + 1);
  CHECK(s1.cuda_malloc_calls == s0.cuda_malloc_calls);
  CHECK(g_release_calls == calls);
  backend::free(b, 99999);

  // Of 3 MiB, 2.1 MiB sit in the cache and 0.75 MiB with the releaser: a request of the
  // 3 MiB size class fits only when both are given back.
  void* blocks[4];
  for (void*& p : blocks) p = backend::malloc(512 << 10);
  for (void* p : blocks) backend::free(p, 512 << 10);
  g_held_bytes = 768 << 10;
  g_held = backend::malloc(g_held_bytes);
  const size_t big_bytes = size_t(2816) << 10;
  REQUIRE(backend::allocator_round_size(big_bytes) == size_t(3) << 20);
  void* big = backend::malloc(big_bytes);
  CHECK(g_release_calls == calls + 1);
  CHECK(g_held == nullptr);
  CHECK(backend::allocator_stats().bytes_cached == 0);
  backend::free(big, big_bytes);
}

}  // namespace
