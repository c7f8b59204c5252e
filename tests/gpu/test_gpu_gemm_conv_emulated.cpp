// The device code of gemm_blocked (kernels/cuda/gemm_blocked_kernel.cuh) and of the
// im2col / col2im / max-pool kernels (kernels/cuda/conv_kernels.cuh), run on the CPU under
// a small emulation of the CUDA features they use: one std::thread per CUDA thread and a
// std::barrier per block for __syncthreads. It checks the index arithmetic, edge
// handling, double buffering and the warp-level grouping on every machine, GPU or not
// (tests/gpu/test_gpu_gemm_conv.cpp runs the real thing on a device). Blocks run one after
// another, so shared memory is one static buffer.
#include <doctest/doctest.h>

#include <barrier>
#include <cmath>
#include <cstdint>
#include <limits>
#include <thread>
#include <type_traits>
#include <vector>

#include "kernels/common.h"
#include "test_util.h"

// ---- the emulation: names the kernels use, found by unqualified lookup from inside
// r2g2::kernels::cuda (so nothing here leaks into the global namespace).
namespace r2g2::kernels::cuda {
struct dim3 {
  unsigned x = 1, y = 1, z = 1;
};
inline thread_local dim3 threadIdx;
inline thread_local dim3 blockIdx;
inline dim3 blockDim, gridDim;
inline std::barrier<>* emu_barrier = nullptr;
using std::fma;
using std::min;
inline int emu_match_values[1024];
// __match_any_sync: the lanes of the caller's warp holding the same value.
inline unsigned __match_any_sync(unsigned, int v) {
  const unsigned t = threadIdx.x;
  emu_match_values[t] = v;
  emu_barrier->arrive_and_wait();
  unsigned mask = 0;
  for (unsigned l = 0; l < 32; ++l)
    if (emu_match_values[(t & ~31u) + l] == v) mask |= 1u << l;
  emu_barrier->arrive_and_wait();
  return mask;
}
inline int __ffs(unsigned x) { return x == 0 ? 0 : __builtin_ctz(x) + 1; }
namespace blocked {
alignas(64) unsigned char smem_raw[1 << 18];
}
namespace conv_detail {
alignas(64) unsigned char pool_smem[1 << 16];
}

// Runs `kernel` for every thread of every block. One std::thread per CUDA thread of a
// block walks the blocks in order; a barrier between blocks lets them share the one
// shared-memory buffer.
template <class F>
void emu_launch(unsigned grid, unsigned block, F kernel, unsigned grid_y = 1) {
  gridDim = {grid, grid_y, 1};
  blockDim = {block, 1, 1};
  std::barrier<> barrier(block);
  emu_barrier = &barrier;
  std::vector<std::thread> threads;
  for (unsigned t = 0; t < block; ++t)
    threads.emplace_back([&, t] {
      threadIdx = {t, 0, 0};
      for (unsigned by = 0; by < grid_y; ++by)
        for (unsigned bx = 0; bx < grid; ++bx) {
          blockIdx = {bx, by, 0};
          kernel();
          barrier.arrive_and_wait();
        }
    });
  for (auto& th : threads) th.join();
}
}  // namespace r2g2::kernels::cuda

#define __global__
#define __device__
#define __launch_bounds__(n)
#define __align__(n) __attribute__((aligned(n)))
#define __shared__
#define __syncthreads() ::r2g2::kernels::cuda::emu_barrier->arrive_and_wait()
#define __syncwarp() ::r2g2::kernels::cuda::emu_barrier->arrive_and_wait()
#include "kernels/cuda/conv_kernels.cuh"
#include "kernels/cuda/gemm_blocked_kernel.cuh"
#undef __global__
#undef __device__
#undef __launch_bounds__
#undef __align__
#undef __shared__
#undef __syncthreads
#undef __syncwarp

#include "kernels/cpu/conv.h"
#include "kernels/cpu/gemm.h"

namespace {

using namespace r2g2::kernels;
namespace kc = r2g2::kernels::cuda;
using r2g2::test::conv_geom;

// Deterministic values in [-1, 1) (this suite's stream: salt 5).
template <class T>
std::vector<T> values(size_t n, uint64_t seed) {
  return r2g2::test::uniform_values<T>(n, seed, -1.0, 1.0, 5);
}

// One tile configuration, all transposes; kFast cases use tile multiples and aligned,
// multiple-of-4 leading dimensions, as the launcher requires for that path.
template <class T, int BM, int BN, int BK, int TM, int TN, bool TA, bool TB, bool kFast>
void gemm_case(int m, int n, int k, int pad, T beta) {
  CAPTURE(BM);
  CAPTURE(BK);
  CAPTURE(TA);
  CAPTURE(TB);
  CAPTURE(kFast);
  CAPTURE(m);
  CAPTURE(n);
  CAPTURE(k);
  CAPTURE(beta);
  const int64_t lda = (TA ? m : k) + pad, ldb = (TB ? k : n) + pad, ldc = n + pad;
  const auto a = values<T>(static_cast<size_t>((TA ? k : m) * lda), 1 + m);
  const auto b = values<T>(static_cast<size_t>((TB ? n : k) * ldb), 2 + n);
  auto c = values<T>(static_cast<size_t>(m * ldc), 3 + k);
  if (beta == T(0))
    for (auto& x : c) x = std::numeric_limits<T>::quiet_NaN();  // must not be read (padding stays NaN)
  auto want = c;
  const T alpha = T(0.75);
  cpu::gemm<T>(TA, TB, m, n, k, alpha, a.data(), lda, b.data(), ldb, beta, want.data(), ldc);
  kc::emu_launch(
      static_cast<unsigned>((n + BN - 1) / BN), (BM / TM) * (BN / TN),
      [&] {
        kc::blocked::gemm_tiled_kernel<T, BM, BN, BK, TM, TN, TA, TB, kFast>(
            m, n, k, alpha, a.data(), lda, b.data(), ldb, beta, c.data(), ldc);
      },
      static_cast<unsigned>((m + BM - 1) / BM));
  int bad = 0;
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < ldc; ++j) {
      const T g = c[i * ldc + j], w = want[i * ldc + j];
      if (j >= n)
        bad += !(g == w || (std::isnan(g) && std::isnan(w)));  // padding untouched
      else
        bad += !(std::abs(g - w) <= 1e-4 * (1 + std::abs(w)));
    }
  CHECK(bad == 0);
}

template <class T, int BM, int BN, int BK, int TM, int TN, bool TA, bool TB>
void gemm_tile_cases() {
  gemm_case<T, BM, BN, BK, TM, TN, TA, TB, false>(BM + 3, 2 * BN - 5, 2 * BK + 3, 1, T(0));
  gemm_case<T, BM, BN, BK, TM, TN, TA, TB, false>(1, 1, 1, 0, T(0.5));
  gemm_case<T, BM, BN, BK, TM, TN, TA, TB, false>(5, 7, 0, 1, T(0.5));  // k == 0: C = beta C
  gemm_case<T, BM, BN, BK, TM, TN, TA, TB, true>(BM, 2 * BN, 3 * BK, 4, T(0.5));
  gemm_case<T, BM, BN, BK, TM, TN, TA, TB, true>(2 * BM, BN, BK, 0, T(0));
}

template <class T, int BM, int BN, int BK, int TM, int TN>
void gemm_all_transposes() {
  gemm_tile_cases<T, BM, BN, BK, TM, TN, false, false>();
  gemm_tile_cases<T, BM, BN, BK, TM, TN, false, true>();
  gemm_tile_cases<T, BM, BN, BK, TM, TN, true, false>();
  gemm_tile_cases<T, BM, BN, BK, TM, TN, true, true>();
}

}  // namespace

TEST_CASE("emulated gemm_blocked kernel: every tile shape and transpose, edges, k == 0, both load paths") {
  // The tiles of kernels/cuda/gemm_blocked.cu.
  gemm_all_transposes<float, 128, 128, 8, 8, 8>();
  gemm_all_transposes<float, 128, 128, 16, 8, 8>();
  gemm_all_transposes<float, 64, 64, 8, 4, 4>();
  gemm_all_transposes<double, 64, 64, 8, 4, 4>();
}

TEST_CASE("emulated im2col / col2im kernels equal the CPU reference bitwise") {
  for (const ConvGeom& g :
       {conv_geom(3, 7, 9, 3, 3, 1, 1), conv_geom(2, 8, 8, 3, 2, 2, 0), conv_geom(1, 1, 1, 1, 1, 1, 0),
        conv_geom(4, 11, 6, 5, 3, 3, 2), conv_geom(2, 5, 5, 5, 5, 1, 4)}) {
    CAPTURE(g.channels);
    CAPTURE(g.height);
    CAPTURE(g.kernel_h);
    CAPTURE(g.stride);
    CAPTURE(g.padding);
    const size_t image = size_t(g.channels) * g.height * g.width;
    const size_t ncols = size_t(g.channels) * g.kernel_h * g.kernel_w * g.out_h * g.out_w;
    const auto x = values<float>(image, 7);
    std::vector<float> cols(ncols, 7.f), want(ncols);
    cpu::im2col<float>(x.data(), want.data(), g);
    kc::emu_launch(3, 64, [&] { kc::conv_detail::im2col_kernel<float>(x.data(), cols.data(), g); });
    CHECK(cols == want);
    const auto c2 = values<float>(ncols, 8);
    std::vector<float> back(image, 0.f), back_want(image, 0.f);
    cpu::col2im<float>(c2.data(), back_want.data(), g);
    kc::emu_launch(2, 32, [&] { kc::conv_detail::col2im_kernel<float>(c2.data(), back.data(), g); });
    CHECK(back == back_want);
  }
}

TEST_CASE(
    "emulated max_pool2d kernels: ties, overlapping windows and the warp grouping match the CPU bitwise") {
  struct Case {
    int planes, h, w, kernel, stride, threads;
  };
  for (const Case& c : {Case{5, 6, 7, 2, 2, 32}, Case{3, 9, 9, 3, 1, 32}, Case{4, 7, 8, 3, 2, 64},
                        Case{2, 40, 40, 2, 2, 64}}) {
    CAPTURE(c.planes);
    CAPTURE(c.h);
    CAPTURE(c.kernel);
    CAPTURE(c.stride);
    const int oh = (c.h - c.kernel) / c.stride + 1, ow = (c.w - c.kernel) / c.stride + 1;
    auto x = values<double>(size_t(c.planes) * c.h * c.w, 9);
    for (auto& v : x) v = std::floor(v * 2);  // many ties
    const size_t nout = size_t(c.planes) * oh * ow;
    std::vector<double> y(nout), y_want(nout);
    std::vector<int32_t> arg(nout), arg_want(nout);
    cpu::max_pool2d<double>(x.data(), y_want.data(), arg_want.data(), c.planes, c.h, c.w, c.kernel, c.stride,
                            oh, ow);
    kc::emu_launch(2, 64, [&] {
      kc::conv_detail::max_pool2d_kernel<double>(x.data(), y.data(), arg.data(), c.planes, c.h, c.w, c.kernel,
                                                 c.stride, oh, ow);
    });
    CHECK(y == y_want);
    CHECK(arg == arg_want);
    const auto gy = values<double>(nout, 10);
    std::vector<double> gx(x.size(), 0.25), gx_want(x.size(), 0.25);
    cpu::max_pool2d_backward<double>(gy.data(), arg_want.data(), gx_want.data(), c.planes, c.h, c.w, oh, ow);
    // Whole warps per block, and every warp gets a plane (the emulated __syncwarp is a
    // block barrier, so all warps of a block must run the same number of chunks).
    const unsigned warps = unsigned(c.threads) / 32;
    REQUIRE(c.planes % int(warps) == 0);
    kc::emu_launch(unsigned(c.planes) / warps, unsigned(c.threads), [&] {
      kc::conv_detail::max_pool2d_backward_kernel<double>(gy.data(), arg.data(), gx.data(), c.planes,
                                                          int64_t(c.h) * c.w, int64_t(oh) * ow);
    });
    CHECK(gx == gx_want);
  }
}
