// CUDA gemm (cuBLAS), gemm_blocked (every tile shape), im2col / col2im / max-pooling and
// the whole-batch convolutions (cuDNN or their im2col fallback) against the CPU kernels.
// Every case skips itself without a usable device.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <vector>

#include "gpu_test_util.h"
#include "r2g2/kernels/cases/conv.h"
#include "r2g2/kernels/cases/gemm.h"
#include "r2g2/kernels/cpu/conv.h"
#include "r2g2/kernels/cpu/gemm.h"
#include "test_util.h"

#if R2G2_WITH_CUDA
#include "r2g2/kernels/cuda/conv.h"
#include "r2g2/kernels/cuda/gemm.h"
#include "r2g2/kernels/cuda/tf32.h"
#endif

using namespace r2g2;

#if R2G2_WITH_CUDA
namespace {

namespace kc = kernels::cuda;
namespace kh = kernels::cpu;
using kernels::ConvGeom;

// Deterministic values in [-1, 1) as a host vector (this suite's stream: salt 11).
template <class T>
std::vector<T> values(int64_t n, uint64_t seed) {
  return test::uniform_values<T>(static_cast<size_t>(n), seed, -1.0, 1.0, 11);
}

// A device copy of a host vector, and back. Tensors own the device memory.
template <class T>
Tensor to_device(const std::vector<T>& v) {
  std::vector<double> d(v.begin(), v.end());
  return Tensor::from_vector(d, {static_cast<int64_t>(v.size())}, dtype_of<T>()).to(Device::cuda());
}
template <class T>
std::vector<T> to_host(const Tensor& t) {
  auto d = t.to_vector();
  return std::vector<T>(d.begin(), d.end());
}
Tensor to_device_i32(const std::vector<int32_t>& v) {
  return Tensor::from_vector(v, {static_cast<int64_t>(v.size())}, Device::cuda());
}

template <class T>
double tol() {
  return std::is_same_v<T, float> ? 2e-5 : 1e-13;
}

// max |a - b| / (1 + |b|) over the elements (inf on a size mismatch or a NaN).
template <class T>
double worst_error(const std::vector<T>& a, const std::vector<T>& b) {
  if (a.size() != b.size()) return INFINITY;
  double worst = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    const double e = std::abs(double(a[i]) - double(b[i])) / (1.0 + std::abs(double(b[i])));
    if (!(e <= worst)) worst = std::isnan(e) ? INFINITY : e;
  }
  return worst;
}

// Runs one CUDA gemm flavour on padded stored matrices and compares C with the CPU gemm
// (its error relative to sqrt(k)), including that the padding columns stay untouched.
template <class T, class Fn>
void check_gemm(Fn gpu, bool ta, bool tb, int64_t m, int64_t n, int64_t k, int64_t pad, T beta) {
  CAPTURE(ta);
  CAPTURE(tb);
  CAPTURE(m);
  CAPTURE(n);
  CAPTURE(k);
  CAPTURE(pad);
  CAPTURE(beta);
  const int64_t lda = (ta ? m : k) + pad, ldb = (tb ? k : n) + pad, ldc = n + pad;
  const auto a = values<T>((ta ? k : m) * lda, 1 + m);
  const auto b = values<T>((tb ? n : k) * ldb, 2 + n);
  auto c = values<T>(m * ldc, 3 + k);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = n; j < ldc; ++j) c[i * ldc + j] = T(4321);  // padding sentinel
  if (beta == T(0))                                              // beta == 0 must not read C
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) c[i * ldc + j] = std::numeric_limits<T>::quiet_NaN();
  const T alpha = T(0.75);
  std::vector<T> expect = c;
  kh::gemm<T>(ta, tb, m, n, k, alpha, a.data(), lda, b.data(), ldb, beta, expect.data(), ldc);
  Tensor da = to_device(a), db = to_device(b), dc = to_device(c);
  gpu(ta, tb, m, n, k, alpha, da.data<T>(), lda, db.data<T>(), ldb, beta, dc.data<T>(), ldc);
  const auto got = to_host<T>(dc);
  CHECK(worst_error(got, expect) <= tol<T>() * std::sqrt(double(k) + 1));
  bool padding_kept = true;
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = n; j < ldc; ++j) padding_kept = padding_kept && got[i * ldc + j] == T(4321);
  CHECK(padding_kept);
}

// The odd sizes of the case table the emulated tests and the kernel lab share.
const std::vector<kernels::cases::GemmSize>& kOddSizes = kernels::cases::test_gemm_sizes();

template <class T>
void gemm_all_variants() {
  auto cublas = [](auto... args) { kc::gemm<T>(args...); };
  for (bool ta : {false, true})
    for (bool tb : {false, true})
      for (const auto& s : kOddSizes) {
        check_gemm<T>(cublas, ta, tb, s.m, s.n, s.k, 3, T(0));
        check_gemm<T>(cublas, ta, tb, s.m, s.n, s.k, 0, T(0.5));
        check_gemm<T>([](auto... args) { kc::gemm_blocked<T>(args...); }, ta, tb, s.m, s.n, s.k, 1, T(0.5));
        for (int tile = 0; tile < kc::gemm_blocked_tile_count(); ++tile) {
          CAPTURE(tile);
          auto blocked = [tile](auto... args) { kc::gemm_blocked_tiled<T>(tile, args...); };
          check_gemm<T>(blocked, ta, tb, s.m, s.n, s.k, 1, T(0));
        }
      }
  // Tile multiples with aligned leading dimensions take the vectorised path.
  for (int tile = 0; tile < kc::gemm_blocked_tile_count(); ++tile) {
    CAPTURE(tile);
    const auto t = kc::gemm_blocked_tile(tile);
    auto blocked = [tile](auto... args) { kc::gemm_blocked_tiled<T>(tile, args...); };
    for (bool ta : {false, true})
      for (bool tb : {false, true}) {
        check_gemm<T>(blocked, ta, tb, 2 * t.block_m, t.block_n, 3 * t.block_k, 0, T(0));
        check_gemm<T>(blocked, ta, tb, t.block_m, 2 * t.block_n, 5 * t.block_k, 4, T(0.5));
      }
  }
}

}  // namespace
#endif

TEST_CASE("cuda gemm: cuBLAS and every gemm_blocked tile match the CPU gemm, all transposes, odd sizes") {
  R2G2_REQUIRE_CUDA();
#if R2G2_WITH_CUDA
  gemm_all_variants<float>();
  gemm_all_variants<double>();
#endif
}

TEST_CASE("cuda gemm: k == 0 scales C by beta, and beta == 0 clears NaN") {
  R2G2_REQUIRE_CUDA();
#if R2G2_WITH_CUDA
  std::vector<float> c = {1, 2, std::nanf(""), 4, 5, 6};
  Tensor dc = to_device(c), dummy = to_device(std::vector<float>{0});
  kc::gemm<float>(false, false, 2, 3, 0, 1.f, dummy.data<float>(), 0, dummy.data<float>(), 3, 0.5f,
                  dc.data<float>(), 3);
  auto got = to_host<float>(dc);
  CHECK(got[0] == 0.5f);
  CHECK(got[5] == 3.f);
  CHECK(std::isnan(got[2]));  // beta != 0 keeps a NaN, as BLAS
  kc::gemm_batched<float>(2, false, false, 1, 3, 0, 1.f, dummy.data<float>(), 0, 0, dummy.data<float>(), 3, 0,
                          0.f, dc.data<float>(), 3, 3);
  CHECK(to_host<float>(dc) == std::vector<float>(6, 0.f));
#endif
}

TEST_CASE("cuda gemm_batched matches per-batch CPU gemm, including a shared (stride 0) operand") {
  R2G2_REQUIRE_CUDA();
#if R2G2_WITH_CUDA
  const int64_t batch = 3, m = 9, n = 13, k = 6;
  for (bool ta : {false, true})
    for (bool tb : {false, true})
      for (bool share_a : {false, true}) {
        CAPTURE(ta);
        CAPTURE(tb);
        CAPTURE(share_a);
        const int64_t lda = ta ? m : k, ldb = tb ? k : n, ldc = n;
        const int64_t sa = share_a ? 0 : m * k + 2, sb = k * n + 1, sc = m * n + 5;
        const auto a = values<double>(share_a ? m * k : batch * sa, 5);
        const auto b = values<double>(batch * sb, 6);
        auto c = values<double>(batch * sc, 7);
        std::vector<double> expect = c;
        for (int64_t i = 0; i < batch; ++i)
          kh::gemm<double>(ta, tb, m, n, k, 2.0, a.data() + i * sa, lda, b.data() + i * sb, ldb, -1.0,
                           expect.data() + i * sc, ldc);
        Tensor da = to_device(a), db = to_device(b), dc = to_device(c);
        kc::gemm_batched<double>(batch, ta, tb, m, n, k, 2.0, da.data<double>(), lda, sa, db.data<double>(),
                                 ldb, sb, -1.0, dc.data<double>(), ldc, sc);
        CHECK(worst_error(to_host<double>(dc), expect) <= 1e-13);
      }
#endif
}

TEST_CASE("cuda gemm: float32 is not computed in TF32 unless allowed") {
  R2G2_REQUIRE_CUDA();
#if R2G2_WITH_CUDA
  // TF32 keeps 10 mantissa bits: at k = 512 its error is ~1e-3 relative, float32's ~1e-6.
  const char* env = std::getenv("R2G2_ALLOW_TF32");
  if (env != nullptr && std::string(env) == "1") {
    MESSAGE("R2G2_ALLOW_TF32=1 is set: the default-off check does not apply");
    return;
  }
  CHECK_FALSE(kc::allow_tf32());
  const int64_t n = 512;
  const auto a = values<float>(n * n, 21), b = values<float>(n * n, 22);
  std::vector<double> ad(a.begin(), a.end()), bd(b.begin(), b.end()), exact(static_cast<size_t>(n * n));
  kh::gemm<double>(false, false, n, n, n, 1.0, ad.data(), n, bd.data(), n, 0.0, exact.data(), n);
  Tensor da = to_device(a), db = to_device(b), dc = to_device(std::vector<float>(static_cast<size_t>(n * n)));
  kc::gemm<float>(false, false, n, n, n, 1.f, da.data<float>(), n, db.data<float>(), n, 0.f, dc.data<float>(),
                  n);
  const auto got = to_host<float>(dc);
  std::vector<double> gotd(got.begin(), got.end());
  CHECK(worst_error(gotd, exact) < 2e-5);
  kc::set_allow_tf32(true);
  CHECK(kc::allow_tf32());
  kc::gemm<float>(false, false, n, n, n, 1.f, da.data<float>(), n, db.data<float>(), n, 0.f, dc.data<float>(),
                  n);
  const auto tf32 = to_host<float>(dc);
  kc::set_allow_tf32(false);
  std::vector<double> tf32d(tf32.begin(), tf32.end());
  CHECK(worst_error(tf32d, exact) < 5e-2);  // still a product, only less precise
#endif
}

#if R2G2_WITH_CUDA
namespace {

// The geometries of the case table the emulated tests and the kernel lab share; the last
// one has more than one block per launch.
const std::vector<ConvGeom>& kGeoms = kernels::cases::test_conv_geoms();

template <class T>
void im2col_cases() {
  for (const auto& g : kGeoms) {
    CAPTURE(g.channels);
    CAPTURE(g.height);
    CAPTURE(g.width);
    CAPTURE(g.kernel_h);
    CAPTURE(g.stride);
    CAPTURE(g.padding);
    const int64_t image = int64_t(g.channels) * g.height * g.width;
    const int64_t ncols = int64_t(g.channels) * g.kernel_h * g.kernel_w * g.out_h * g.out_w;
    const auto x = values<T>(image, 31);
    std::vector<T> cols(static_cast<size_t>(ncols));
    kh::im2col<T>(x.data(), cols.data(), g);
    Tensor dx = to_device(x), dcols = to_device(std::vector<T>(static_cast<size_t>(ncols), T(7)));
    kc::im2col<T>(dx.data<T>(), dcols.data<T>(), g);
    CHECK(to_host<T>(dcols) == cols);  // a pure copy: bitwise

    // col2im sums in the CPU's order: bitwise equal, and the same on every run.
    const auto c2 = values<T>(ncols, 32);
    std::vector<T> back(static_cast<size_t>(image), T(0));
    kh::col2im<T>(c2.data(), back.data(), g);
    Tensor dc2 = to_device(c2);
    for (int run = 0; run < 2; ++run) {
      Tensor dback = to_device(std::vector<T>(static_cast<size_t>(image), T(0)));
      kc::col2im<T>(dc2.data<T>(), dback.data<T>(), g);
      CHECK(to_host<T>(dback) == back);
    }
  }
}

}  // namespace
#endif

TEST_CASE("cuda im2col / col2im match the CPU bitwise, padding, strides and odd kernels included") {
  R2G2_REQUIRE_CUDA();
#if R2G2_WITH_CUDA
  im2col_cases<float>();
  im2col_cases<double>();
  // The launch block size is a tuning knob only.
  const int saved = kc::conv_block_size();
  kc::set_conv_block_size(96);
  im2col_cases<float>();
  kc::set_conv_block_size(saved);
  CHECK(test::contains(test::error_of([] { kc::set_conv_block_size(100); }), "multiple of 32"));
#endif
}

#if R2G2_WITH_CUDA
namespace {

template <class T>
void pool_case(int64_t planes, int h, int w, int kernel, int stride, bool ties, bool with_nan) {
  CAPTURE(planes);
  CAPTURE(h);
  CAPTURE(w);
  CAPTURE(kernel);
  CAPTURE(stride);
  CAPTURE(ties);
  const int oh = (h - kernel) / stride + 1, ow = (w - kernel) / stride + 1;
  auto x = values<T>(planes * h * w, 41 + h);
  if (ties)  // few distinct values: many windows hold several maxima
    for (auto& v : x) v = std::floor(v * 2);
  if (with_nan) x[static_cast<size_t>(w + 1)] = std::numeric_limits<T>::quiet_NaN();
  const int64_t nout = planes * oh * ow;
  std::vector<T> y(static_cast<size_t>(nout));
  std::vector<int32_t> arg(static_cast<size_t>(nout));
  kh::max_pool2d<T>(x.data(), y.data(), arg.data(), planes, h, w, kernel, stride, oh, ow);
  Tensor dx = to_device(x), dy = to_device(std::vector<T>(static_cast<size_t>(nout))),
         darg = to_device_i32(std::vector<int32_t>(static_cast<size_t>(nout), -1));
  kc::max_pool2d<T>(dx.data<T>(), dy.data<T>(), darg.data<int32_t>(), planes, h, w, kernel, stride, oh, ow);
  const auto got_y = to_host<T>(dy);
  bool same_y = true;
  for (size_t i = 0; i < y.size(); ++i)
    same_y = same_y && (got_y[i] == y[i] || (std::isnan(got_y[i]) && std::isnan(y[i])));
  CHECK(same_y);
  CHECK(darg.to_int_vector() == arg);

  // Overlapping windows share maxima: the sums must still match the CPU's order bitwise.
  const auto gy = values<T>(nout, 43);
  std::vector<T> gx(static_cast<size_t>(planes * h * w), T(0));
  kh::max_pool2d_backward<T>(gy.data(), arg.data(), gx.data(), planes, h, w, oh, ow);
  Tensor dgy = to_device(gy), dgx = to_device(std::vector<T>(static_cast<size_t>(planes * h * w), T(0)));
  kc::max_pool2d_backward<T>(dgy.data<T>(), darg.data<int32_t>(), dgx.data<T>(), planes, h, w, oh, ow);
  CHECK(to_host<T>(dgx) == gx);
}

}  // namespace
#endif

TEST_CASE("cuda max_pool2d forward and backward match the CPU bitwise (ties, overlaps, NaN)") {
  R2G2_REQUIRE_CUDA();
#if R2G2_WITH_CUDA
  pool_case<float>(5, 6, 7, 2, 2, false, false);
  pool_case<float>(3, 9, 9, 3, 1, true, false);
  pool_case<double>(4, 7, 8, 3, 2, true, false);
  pool_case<float>(70, 40, 40, 2, 2, false, true);  // > 32 outputs per plane, planes % 8 != 0
  pool_case<float>(1, 1, 1, 1, 1, false, false);
  pool_case<double>(2, 64, 33, 4, 3, true, false);
#endif
}

#if R2G2_WITH_CUDA
namespace {

// The CPU reference convolution: per image, im2col then W [O, CKK] x cols.
template <class T>
struct CpuConv {
  const ConvGeom& g;
  int64_t batch;
  int out;
  int64_t ckk() const { return int64_t(g.channels) * g.kernel_h * g.kernel_w; }
  int64_t pixels() const { return int64_t(g.out_h) * g.out_w; }
  int64_t in_image() const { return int64_t(g.channels) * g.height * g.width; }
  int64_t out_image() const { return out * pixels(); }

  std::vector<T> forward(const std::vector<T>& x, const std::vector<T>& w) const {
    std::vector<T> y(static_cast<size_t>(batch * out_image())), cols(static_cast<size_t>(ckk() * pixels()));
    for (int64_t b = 0; b < batch; ++b) {
      kh::im2col<T>(x.data() + b * in_image(), cols.data(), g);
      kh::gemm<T>(false, false, out, pixels(), ckk(), T(1), w.data(), ckk(), cols.data(), pixels(), T(0),
                  y.data() + b * out_image(), pixels());
    }
    return y;
  }
  std::vector<T> backward_data(const std::vector<T>& w, const std::vector<T>& gy) const {
    std::vector<T> gx(static_cast<size_t>(batch * in_image()), T(0)),
        cols(static_cast<size_t>(ckk() * pixels()));
    for (int64_t b = 0; b < batch; ++b) {
      kh::gemm<T>(true, false, ckk(), pixels(), out, T(1), w.data(), ckk(), gy.data() + b * out_image(),
                  pixels(), T(0), cols.data(), pixels());
      kh::col2im<T>(cols.data(), gx.data() + b * in_image(), g);
    }
    return gx;
  }
  std::vector<T> backward_filter(const std::vector<T>& x, const std::vector<T>& gy) const {
    std::vector<T> gw(static_cast<size_t>(out * ckk()), T(0)), cols(static_cast<size_t>(ckk() * pixels()));
    for (int64_t b = 0; b < batch; ++b) {
      kh::im2col<T>(x.data() + b * in_image(), cols.data(), g);
      kh::gemm<T>(false, true, out, ckk(), pixels(), T(1), gy.data() + b * out_image(), pixels(), cols.data(),
                  pixels(), T(1), gw.data(), ckk());
    }
    return gw;
  }
};

template <class T>
void conv_cases() {
  const double tolerance = std::is_same_v<T, float> ? 1e-4 : 1e-12;
  int index = 0;
  for (const auto& g : kGeoms) {
    for (int64_t batch : {int64_t(1), int64_t(3)}) {
      const int out = 2 + index % 3;
      CAPTURE(index);
      CAPTURE(batch);
      CAPTURE(out);
      const CpuConv<T> ref{g, batch, out};
      const auto x = values<T>(batch * ref.in_image(), 51 + index);
      const auto w = values<T>(out * ref.ckk(), 52 + index);
      const auto gy = values<T>(batch * ref.out_image(), 53 + index);
      const T nan = std::numeric_limits<T>::quiet_NaN();  // outputs are overwritten, never read
      Tensor dx = to_device(x), dw = to_device(w), dgy = to_device(gy);
      Tensor dy = to_device(std::vector<T>(static_cast<size_t>(batch * ref.out_image()), nan));
      Tensor dgx = to_device(std::vector<T>(static_cast<size_t>(batch * ref.in_image()), nan));
      Tensor dgw = to_device(std::vector<T>(static_cast<size_t>(out * ref.ckk()), nan));
      kc::conv2d_forward_cudnn<T>(dx.data<T>(), dw.data<T>(), dy.data<T>(), batch, out, g);
      kc::conv2d_backward_data_cudnn<T>(dw.data<T>(), dgy.data<T>(), dgx.data<T>(), batch, out, g);
      kc::conv2d_backward_filter_cudnn<T>(dx.data<T>(), dgy.data<T>(), dgw.data<T>(), batch, out, g);
      CHECK(worst_error(to_host<T>(dy), ref.forward(x, w)) <= tolerance);
      CHECK(worst_error(to_host<T>(dgx), ref.backward_data(w, gy)) <= tolerance);
      CHECK(worst_error(to_host<T>(dgw), ref.backward_filter(x, gy)) <= tolerance);
      ++index;
    }
  }
}

}  // namespace
#endif

TEST_CASE("cuda conv2d forward / backward data / backward filter (cuDNN or fallback) match the CPU") {
  R2G2_REQUIRE_CUDA();
#if R2G2_WITH_CUDA
  MESSAGE("conv2d_*_cudnn run " << (kc::conv2d_uses_cudnn() ? "cuDNN" : "the im2col + gemm fallback"));
  conv_cases<float>();
  conv_cases<double>();
  // Deterministic: a second identical call gives the same bits.
  const ConvGeom& g = kGeoms.back();
  const CpuConv<float> ref{g, 2, 4};
  const auto x = values<float>(2 * ref.in_image(), 61), gy = values<float>(2 * ref.out_image(), 62);
  Tensor dx = to_device(x), dgy = to_device(gy),
         dgw = to_device(std::vector<float>(static_cast<size_t>(4 * ref.ckk())));
  kc::conv2d_backward_filter_cudnn<float>(dx.data<float>(), dgy.data<float>(), dgw.data<float>(), 2, 4, g);
  const auto first = to_host<float>(dgw);
  kc::conv2d_backward_filter_cudnn<float>(dx.data<float>(), dgy.data<float>(), dgw.data<float>(), 2, 4, g);
  CHECK(to_host<float>(dgw) == first);
#endif
}
