// Kernel lab: GEMM over kernels/cases/gemm.h. On CUDA: cuBLAS (the reference for the big
// products a CPU would take too long for) and every tile shape of the hand-written
// gemm_blocked, with its ratio to cuBLAS; on the CPU: the reference gemm.
#include <cstdio>
#include <string>
#include <vector>

#include "r2g2/kernels/cases/gemm.h"
#include "r2g2/kernels/cpu/gemm.h"
#include "tools/kernel_lab.h"
#if R2G2_WITH_CUDA
#include "r2g2/kernels/cuda/gemm.h"
#endif

namespace {

using namespace r2g2;
using namespace r2g2::lab;
namespace kcpu = r2g2::kernels::cpu;
namespace cases = r2g2::kernels::cases;

std::string gemm_size(const cases::GemmCase& c) {
  return dims({c.m, c.n, c.k}) + (c.ta ? " A^T" : "") + (c.tb ? " B^T" : "");
}

// Two implementations summing k products of values in [-1, 1) in different orders: their
// rounding errors are random walks whose spread grows like eps * k (the partial sums grow
// like sqrt(k) over k steps); 1e-7 * k is about 8 standard deviations.
template <class T>
double gemm_atol(int64_t k) {
  return (std::is_same_v<T, float> ? 1e-7 : 2e-16) * double(k);
}

template <class T>
void bench_cpu_gemm(Lab& lab) {
  for (const auto& c : cases::perf_gemm_cases(lab.options().gemm, std::is_same_v<T, double>)) {
    const int64_t lda = c.ta ? c.m : c.k, ldb = c.tb ? c.k : c.n, ldc = c.n;
    const auto a = host_uniform<T>(c.m * c.k, 25 + c.m), b = host_uniform<T>(c.k * c.n, 26 + c.n);
    std::vector<T> want(static_cast<size_t>(c.m * c.n)), got(want.size());
    kcpu::gemm<T>(c.ta, c.tb, c.m, c.n, c.k, T(1), a.data(), lda, b.data(), ldb, T(0), want.data(), ldc);
    auto run = [&] {
      kcpu::gemm<T>(c.ta, c.tb, c.m, c.n, c.k, T(1), a.data(), lda, b.data(), ldb, T(0), got.data(), ldc);
    };
    run();
    const double err = scaled_error(got, want, default_rtol<T>(), gemm_atol<T>(c.k));
    lab.row("gemm (cpu reference)", dtype_label<T>(), gemm_size(c), lab.time_ms(run), 0,
            2.0 * c.m * c.n * c.k, err);
  }
}

#if R2G2_WITH_CUDA
namespace kcuda = r2g2::kernels::cuda;

template <class T>
void bench_cuda_gemm(Lab& lab) {
  const int64_t big = lab.options().gemm;
  double cublas_big = 0, best_big = 1e30;
  int best_tile = -1;
  for (const auto& c : cases::perf_gemm_cases(big, std::is_same_v<T, double>)) {
    const int64_t lda = c.ta ? c.m : c.k, ldb = c.tb ? c.k : c.n, ldc = c.n;
    const auto a = host_uniform<T>(c.m * c.k, 25 + c.m), b = host_uniform<T>(c.k * c.n, 26 + c.n);
    Tensor da = lab.upload(a), db = lab.upload(b), dc = lab.empty<T>(c.m * c.n),
           dref = lab.empty<T>(c.m * c.n);
    std::vector<T> want;
    if (c.check_on_cpu) {
      want.resize(static_cast<size_t>(c.m * c.n));
      kcpu::gemm<T>(c.ta, c.tb, c.m, c.n, c.k, T(1), a.data(), lda, b.data(), ldb, T(0), want.data(), ldc);
    }
    const std::string size = gemm_size(c);
    const double flops = 2.0 * c.m * c.n * c.k, atol = gemm_atol<T>(c.k);
    auto cublas = [&] {
      kcuda::gemm<T>(c.ta, c.tb, c.m, c.n, c.k, T(1), da.data<T>(), lda, db.data<T>(), ldb, T(0),
                     dref.data<T>(), ldc);
    };
    cublas();
    if (!c.check_on_cpu) want = lab.download(dref.data<T>(), c.m * c.n);
    const double err_ref =
        c.check_on_cpu ? scaled_error(lab.download(dref.data<T>(), c.m * c.n), want, default_rtol<T>(), atol)
                       : -1;
    const double ms_ref = lab.time_ms(cublas);
    lab.row("gemm (cuBLAS)", dtype_label<T>(), size, ms_ref, 0, flops, err_ref,
            c.check_on_cpu ? "" : "(reference for the rows below)");
    const bool is_big = c.m == big && c.n == big && c.k == big && !c.ta && !c.tb;
    if (is_big) cublas_big = ms_ref;
    for (int tile = 0; tile < kcuda::gemm_blocked_tile_count(); ++tile) {
      const auto t = kcuda::gemm_blocked_tile(tile);
      auto run = [&] {
        kcuda::gemm_blocked_tiled<T>(tile, c.ta, c.tb, c.m, c.n, c.k, T(1), da.data<T>(), lda, db.data<T>(),
                                     ldb, T(0), dc.data<T>(), ldc);
      };
      run();
      const double err = scaled_error(lab.download(dc.data<T>(), c.m * c.n), want, default_rtol<T>(), atol);
      const double ms = lab.time_ms(run);
      char note[96];
      std::snprintf(note, sizeof note, "tile %dx%dx%d, %dx%d/thread%s; %.2fx cuBLAS", t.block_m, t.block_n,
                    t.block_k, t.thread_m, t.thread_n,
                    tile == kcuda::gemm_blocked_default_tile(c.m, c.n) ? " (default)" : "", ms_ref / ms);
      lab.row("gemm_blocked", dtype_label<T>(), size, ms, 0, flops, err, note);
      if (is_big && ms < best_big) {
        best_big = ms;
        best_tile = tile;
      }
    }
  }
  if (cublas_big > 0 && best_tile >= 0) {
    char text[200];
    std::snprintf(
        text, sizeof text,
        "gemm_blocked / cuBLAS at %lld^3 %s: %.2f (best tile %d: %.0f vs %.0f GFLOP/s; target >= 0.50)",
        static_cast<long long>(big), dtype_label<T>(), cublas_big / best_big, best_tile,
        2.0 * big * big * big / (best_big * 1e-3) * 1e-9, 2.0 * big * big * big / (cublas_big * 1e-3) * 1e-9);
    lab.line(text);
  }
}
#endif

template <class T>
void bench_gemm(Lab& lab) {
#if R2G2_WITH_CUDA
  if (lab.on_cuda()) return bench_cuda_gemm<T>(lab);
#endif
  bench_cpu_gemm<T>(lab);
}

void run(Lab& lab) {
  if (!lab.selected("gemm")) return;
  bench_gemm<float>(lab);
  bench_gemm<double>(lab);
}

R2G2_BENCH("gemm", "gemm (cpu reference; on CUDA cuBLAS and every gemm_blocked tile)",
           "GEMM (on CUDA: cuBLAS and gemm_blocked's tiles, float32 without TF32)", 80, false, run);

}  // namespace
