// Row-major GEMM on the CPU. `gemm` hands the work to CBLAS when r2g2 is built with
// OpenBLAS; `gemm_blocked` is the hand-written Goto-style kernel: B is packed into
// [KC x NR] column panels and A into [MR x KC] row panels so that the micro-kernel
// streams both from contiguous memory, and the MR x NR accumulator block stays in
// registers while k runs. The micro-kernel is plain loops over compile-time sizes:
// g++ -O3 turns the inner j loop into vector FMAs. It is compiled once per ISA
// (AVX-512, AVX2+FMA, baseline) and the widest one the CPU supports is picked at run
// time, because the library is built without -march flags.
#include "r2g2/kernels/cpu/gemm.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <exception>
#include <limits>
#include <memory>
#include <mutex>
#include <system_error>
#include <thread>
#include <vector>

#include "r2g2/kernels/runtime/error.h"
#include "r2g2/kernels/runtime/thread_pool.h"

#if R2G2_WITH_BLAS
#include <cblas.h>
// Declared here too: a cblas.h other than OpenBLAS's lacks it, and r2g2 links OpenBLAS.
extern "C" void openblas_set_num_threads(int num_threads);
#endif

namespace r2g2::kernels::cpu {

namespace {

// Cache blocking, in elements: a KC x NR panel of B stays in L1 while one A panel
// (MC x KC, about half of L2) is swept; the KC x NC block of B lives in L2/L3.
template <class T>
struct Blocking {
  static constexpr int64_t KC = 256;
  static constexpr int64_t MC = sizeof(T) == 4 ? 192 : 96;
  static constexpr int64_t NC = 4096;
};

// Element (r, c) of op(X) where X is stored row-major with row stride ld.
template <class T>
inline T at(const T* x, int64_t ld, bool trans, int64_t r, int64_t c) {
  return trans ? x[c * ld + r] : x[r * ld + c];
}

// Packs rows [i0, i0+mc) x cols [p0, p0+kc) of op(A) into MR-row panels, each stored
// k-major (MR values per k), zero-padding the last panel to MR rows.
template <class T, int MR>
void pack_a(const T* a, int64_t lda, bool trans, int64_t i0, int64_t mc, int64_t p0, int64_t kc, T* out) {
  for (int64_t ir = 0; ir < mc; ir += MR) {
    int64_t rows = std::min<int64_t>(MR, mc - ir);
    if (!trans && rows == MR) {
      // Row-major A: gather MR rows, one k at a time.
      const T* src = a + (i0 + ir) * lda + p0;
      for (int64_t p = 0; p < kc; ++p)
        for (int i = 0; i < MR; ++i) out[p * MR + i] = src[i * lda + p];
    } else if (trans && rows == MR) {
      // op(A) = A^T: for each k the MR values are contiguous in storage.
      const T* src = a + p0 * lda + (i0 + ir);
      for (int64_t p = 0; p < kc; ++p)
        for (int i = 0; i < MR; ++i) out[p * MR + i] = src[p * lda + i];
    } else {
      for (int64_t p = 0; p < kc; ++p)
        for (int i = 0; i < MR; ++i)
          out[p * MR + i] = i < rows ? at(a, lda, trans, i0 + ir + i, p0 + p) : T(0);
    }
    out += kc * MR;
  }
}

// Packs rows [p0, p0+kc) x cols [j0, j0+nc) of op(B) into NR-column panels, each
// stored k-major (NR values per k), zero-padding the last panel to NR columns.
template <class T, int NR>
void pack_b(const T* b, int64_t ldb, bool trans, int64_t p0, int64_t kc, int64_t j0, int64_t nc, T* out) {
  for (int64_t jr = 0; jr < nc; jr += NR) {
    int64_t cols = std::min<int64_t>(NR, nc - jr);
    if (!trans && cols == NR) {
      const T* src = b + p0 * ldb + (j0 + jr);
      for (int64_t p = 0; p < kc; ++p)
        for (int j = 0; j < NR; ++j) out[p * NR + j] = src[p * ldb + j];
    } else if (trans && cols == NR) {
      // Stored B rows are op(B) columns: transpose 8 x NR tiles so that both the
      // reads (along rows of B) and the writes (along the panel) stay in few lines.
      const T* src = b + (j0 + jr) * ldb + p0;
      int64_t p = 0;
      for (; p + 8 <= kc; p += 8)
        for (int j = 0; j < NR; ++j)
          for (int q = 0; q < 8; ++q) out[(p + q) * NR + j] = src[j * ldb + p + q];
      for (; p < kc; ++p)
        for (int j = 0; j < NR; ++j) out[p * NR + j] = src[j * ldb + p];
    } else {
      for (int64_t p = 0; p < kc; ++p)
        for (int j = 0; j < NR; ++j)
          out[p * NR + j] = j < cols ? at(b, ldb, trans, p0 + p, j0 + jr + j) : T(0);
    }
    out += kc * NR;
  }
}

// acc[MR][NR] = sum_p a[p][0..MR) (outer) b[p][0..NR). Fixed trip counts let the
// compiler unroll i, vectorise j and keep acc in registers. FMA selects std::fma,
// which g++ maps to vfmadd on FMA targets (ISO C++ mode does not contract a*b+c).
template <class T, int MR, int NR, bool FMA>
[[gnu::always_inline]] inline void micro_kernel_body(int64_t kc, const T* __restrict a, const T* __restrict b,
                                                     T* __restrict out) {
  T acc[MR][NR] = {};
  for (int64_t p = 0; p < kc; ++p) {
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i) {
      const T ai = a[i];
#pragma GCC unroll 32
      for (int j = 0; j < NR; ++j) {
        if constexpr (FMA)
          acc[i][j] = std::fma(ai, b[j], acc[i][j]);
        else
          acc[i][j] += ai * b[j];
      }
    }
    a += MR;
    b += NR;
  }
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < NR; ++j) out[i * NR + j] = acc[i][j];
}

template <class T>
using MicroKernel = void (*)(int64_t kc, const T* a, const T* b, T* out);

// One instantiation per ISA. The register file sets MR x NR: NR is two vectors wide,
// and MR rows of accumulators (2 * MR registers) plus the B vectors and the broadcast
// A value must fit in 16 registers (AVX2: MR 6) or 32 (AVX-512: MR 12).
#define R2G2_DEFINE_KERNEL(name, target_attr, T, MR, NR, FMA)         \
  target_attr void name(int64_t kc, const T* a, const T* b, T* out) { \
    micro_kernel_body<T, MR, NR, FMA>(kc, a, b, out);                 \
  }

#if defined(__x86_64__) && defined(__GNUC__)
#define R2G2_X86_DISPATCH 1
R2G2_DEFINE_KERNEL(kernel_f32_avx512, __attribute__((target("avx512f,avx2,fma"))), float, 12, 32, true)
R2G2_DEFINE_KERNEL(kernel_f64_avx512, __attribute__((target("avx512f,avx2,fma"))), double, 12, 16, true)
R2G2_DEFINE_KERNEL(kernel_f32_avx2, __attribute__((target("avx2,fma"))), float, 6, 16, true)
R2G2_DEFINE_KERNEL(kernel_f64_avx2, __attribute__((target("avx2,fma"))), double, 6, 8, true)
#endif
R2G2_DEFINE_KERNEL(kernel_f32_base, , float, 4, 8, false)
R2G2_DEFINE_KERNEL(kernel_f64_base, , double, 4, 4, false)
#undef R2G2_DEFINE_KERNEL

enum class Isa { base, avx2, avx512 };

Isa detect_isa() {
#if R2G2_X86_DISPATCH
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f")) return Isa::avx512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return Isa::avx2;
#endif
  return Isa::base;
}

std::atomic<int> g_isa_limit{2};

Isa isa() {
  static const Isa detected = detect_isa();
  return static_cast<Isa>(std::min(static_cast<int>(detected), g_isa_limit.load(std::memory_order_relaxed)));
}

// C[i, j] = alpha * acc + (first k block ? beta * C : C) over an mr x nr tile. When
// beta is 0, C is not read (it may hold NaNs), as in BLAS.
template <class T>
void store_tile(const T* acc, int nr_stride, int64_t mr, int64_t nr, T alpha, T beta, bool first, T* c,
                int64_t ldc) {
  for (int64_t i = 0; i < mr; ++i) {
    const T* src = acc + i * nr_stride;
    T* dst = c + i * ldc;
    if (!first)
      for (int64_t j = 0; j < nr; ++j) dst[j] += alpha * src[j];
    else if (beta == T(0))
      for (int64_t j = 0; j < nr; ++j) dst[j] = alpha * src[j];
    else
      for (int64_t j = 0; j < nr; ++j) dst[j] = alpha * src[j] + beta * dst[j];
  }
}

// C *= beta over an m x n block (k == 0 or alpha == 0: no product to add).
template <class T>
void scale_c(int64_t m, int64_t n, T beta, T* c, int64_t ldc) {
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) c[i * ldc + j] = beta == T(0) ? T(0) : beta * c[i * ldc + j];
}

// Columns [j_begin, j_end) of C. Work on disjoint column ranges is independent, which
// is how the large products are split across threads.
template <class T, int MR, int NR>
void gemm_columns(MicroKernel<T> kernel, bool trans_a, bool trans_b, int64_t m, int64_t j_begin,
                  int64_t j_end, int64_t k, T alpha, const T* a, int64_t lda, const T* b, int64_t ldb, T beta,
                  T* c, int64_t ldc) {
  using B = Blocking<T>;
  const int64_t nc_max = std::min<int64_t>(B::NC, (j_end - j_begin + NR - 1) / NR * NR);
  const int64_t kc_max = std::min<int64_t>(B::KC, k);
  const int64_t mc_max = std::min<int64_t>(B::MC, (m + MR - 1) / MR * MR);
  // 64-byte aligned scratch so that packed panels start on cache lines.
  auto alloc = [](int64_t count) {
    size_t bytes = (static_cast<size_t>(count) * sizeof(T) + 63) / 64 * 64;
    return std::unique_ptr<T, decltype(&std::free)>(static_cast<T*>(std::aligned_alloc(64, bytes)),
                                                    &std::free);
  };
  auto b_pack = alloc(kc_max * nc_max);
  auto a_pack = alloc(kc_max * mc_max);
  R2G2_CHECK(b_pack && a_pack, "gemm_blocked: out of memory for packing buffers");
  alignas(64) T acc[MR * NR];

  for (int64_t jc = j_begin; jc < j_end; jc += B::NC) {
    const int64_t nc = std::min(B::NC, j_end - jc);
    for (int64_t pc = 0; pc < k; pc += B::KC) {
      const int64_t kc = std::min(B::KC, k - pc);
      const bool first = pc == 0;
      pack_b<T, NR>(b, ldb, trans_b, pc, kc, jc, nc, b_pack.get());
      for (int64_t ic = 0; ic < m; ic += B::MC) {
        const int64_t mc = std::min(B::MC, m - ic);
        pack_a<T, MR>(a, lda, trans_a, ic, mc, pc, kc, a_pack.get());
        for (int64_t jr = 0; jr < nc; jr += NR) {
          const int64_t nr = std::min<int64_t>(NR, nc - jr);
          const T* bp = b_pack.get() + (jr / NR) * kc * NR;
          for (int64_t ir = 0; ir < mc; ir += MR) {
            const int64_t mr = std::min<int64_t>(MR, mc - ir);
            kernel(kc, a_pack.get() + (ir / MR) * kc * MR, bp, acc);
            store_tile(acc, NR, mr, nr, alpha, beta, first, c + (ic + ir) * ldc + jc + jr, ldc);
          }
        }
      }
    }
  }
}

// Below this many multiply-adds (about 0.1 ms on one AVX-512 core) starting a thread
// (tens of microseconds) costs more than it saves.
constexpr double kParallelMacs = 1.6e7;

template <class T, int MR, int NR>
void gemm_driver(MicroKernel<T> kernel, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, T alpha,
                 const T* a, int64_t lda, const T* b, int64_t ldb, T beta, T* c, int64_t ldc) {
  const double work = static_cast<double>(m) * static_cast<double>(n) * static_cast<double>(k);
  int threads = 1;
  if (work >= kParallelMacs) {
    unsigned hw = std::thread::hardware_concurrency();
    threads = static_cast<int>(std::clamp<unsigned>(hw, 1, 16));
    // Each thread needs at least a few NR-wide column panels.
    threads = static_cast<int>(std::min<int64_t>(threads, std::max<int64_t>(1, n / (4 * NR))));
  }
  if (threads <= 1) {
    gemm_columns<T, MR, NR>(kernel, trans_a, trans_b, m, 0, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    return;
  }
  // Column ranges rounded to whole NR panels.
  const int64_t panels = (n + NR - 1) / NR;
  std::vector<std::thread> pool;
  std::vector<std::exception_ptr> errors(threads);
  for (int t = 0; t < threads; ++t) {
    int64_t j0 = std::min(n, panels * t / threads * NR);
    int64_t j1 = std::min(n, panels * (t + 1) / threads * NR);
    if (j0 >= j1) continue;
    auto work_on_range = [&, t, j0, j1] {
      try {
        gemm_columns<T, MR, NR>(kernel, trans_a, trans_b, m, j0, j1, k, alpha, a, lda, b, ldb, beta, c, ldc);
      } catch (...) {
        errors[t] = std::current_exception();
      }
    };
    try {
      pool.emplace_back(work_on_range);
    } catch (const std::system_error&) {
      work_on_range();  // no thread to be had: do this range here
    }
  }
  for (auto& th : pool) th.join();
  for (auto& e : errors)
    if (e) std::rethrow_exception(e);
}

void check_args(const char* op, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, int64_t lda,
                int64_t ldb, int64_t ldc) {
  R2G2_CHECK(m >= 0 && n >= 0 && k >= 0, op, ": negative size m=", m, " n=", n, " k=", k);
  // Stored widths: A is m x k (k x m when transposed), B is k x n (n x k), C is m x n.
  const int64_t a_width = trans_a ? m : k, b_width = trans_b ? k : n;
  R2G2_CHECK(lda >= std::max<int64_t>(1, a_width), op, ": lda=", lda, " is smaller than the stored width ",
             a_width, " of A");
  R2G2_CHECK(ldb >= std::max<int64_t>(1, b_width), op, ": ldb=", ldb, " is smaller than the stored width ",
             b_width, " of B");
  R2G2_CHECK(ldc >= std::max<int64_t>(1, n), op, ": ldc=", ldc, " is smaller than the width ", n, " of C");
}

}  // namespace

namespace detail {
// Testing hook, declared by the tests that use it: caps the instruction set that
// gemm_blocked may use (0 baseline, 1 AVX2+FMA, 2 AVX-512) so that every micro-kernel
// variant is checked on a machine that would pick the widest. Returns the level now
// in effect (lower than asked when the CPU lacks it).
int gemm_blocked_limit_isa(int level) {
  g_isa_limit = std::clamp(level, 0, 2);
  return static_cast<int>(isa());
}
}  // namespace detail

template <class T>
void gemm_blocked(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, T alpha, const T* a,
                  int64_t lda, const T* b, int64_t ldb, T beta, T* c, int64_t ldc) {
  check_args("gemm_blocked", trans_a, trans_b, m, n, k, lda, ldb, ldc);
  if (m == 0 || n == 0) return;
  if (k == 0 || alpha == T(0)) {
    scale_c(m, n, beta, c, ldc);
    return;
  }
  constexpr bool f32 = sizeof(T) == 4;
  switch (isa()) {
#if R2G2_X86_DISPATCH
    case Isa::avx512:
      if constexpr (f32)
        gemm_driver<T, 12, 32>(kernel_f32_avx512, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c,
                               ldc);
      else
        gemm_driver<T, 12, 16>(kernel_f64_avx512, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c,
                               ldc);
      return;
    case Isa::avx2:
      if constexpr (f32)
        gemm_driver<T, 6, 16>(kernel_f32_avx2, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c,
                              ldc);
      else
        gemm_driver<T, 6, 8>(kernel_f64_avx2, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
      return;
#endif
    default:
      if constexpr (f32)
        gemm_driver<T, 4, 8>(kernel_f32_base, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
      else
        gemm_driver<T, 4, 4>(kernel_f64_base, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
      return;
  }
}

bool gemm_uses_blas() {
#if R2G2_WITH_BLAS
  return true;
#else
  return false;
#endif
}

#if R2G2_WITH_BLAS
namespace {

// OpenBLAS's own threads make the result depend on their number (0.3.21's sgemm with 1 and
// 2 threads differs in the last bits for ordinary shapes such as 32 x 256 x 784), so
// OpenBLAS runs single-threaded and r2g2's pool works on blocks of C whose bounds depend
// on the shape alone: the same bits for any R2G2_NUM_THREADS.
void make_blas_single_threaded() {
  static std::once_flag once;
  std::call_once(once, [] { openblas_set_num_threads(1); });
}

// Rows or columns of C per block: a few hundred keep each OpenBLAS call efficient.
constexpr int64_t kBlasBlock = 256;

template <class T>
void blas_call(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, T alpha, const T* a, int64_t lda,
               const T* b, int64_t ldb, T beta, T* c, int64_t ldc) {
  const auto ta = trans_a ? CblasTrans : CblasNoTrans, tb = trans_b ? CblasTrans : CblasNoTrans;
  const int im = static_cast<int>(m), in = static_cast<int>(n), ik = static_cast<int>(k);
  if constexpr (sizeof(T) == 4)
    cblas_sgemm(CblasRowMajor, ta, tb, im, in, ik, alpha, a, static_cast<int>(lda), b, static_cast<int>(ldb),
                beta, c, static_cast<int>(ldc));
  else
    cblas_dgemm(CblasRowMajor, ta, tb, im, in, ik, alpha, a, static_cast<int>(lda), b, static_cast<int>(ldb),
                beta, c, static_cast<int>(ldc));
}

template <class T>
void blas_gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, T alpha, const T* a, int64_t lda,
               const T* b, int64_t ldb, T beta, T* c, int64_t ldc) {
  make_blas_single_threaded();
  const double work = static_cast<double>(m) * static_cast<double>(n) * static_cast<double>(k);
  const bool split_columns = n >= m;
  const int64_t split = split_columns ? n : m;
  if (work < kParallelMacs || split <= kBlasBlock) {
    blas_call(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    return;
  }
  const int64_t blocks = (split + kBlasBlock - 1) / kBlasBlock;
  runtime::parallel_for(0, blocks, 1, [&](int64_t first, int64_t last) {
    for (int64_t block = first; block < last; ++block) {
      const int64_t lo = block * kBlasBlock, size = std::min(kBlasBlock, split - lo);
      if (split_columns)
        blas_call(trans_a, trans_b, m, size, k, alpha, a, lda, trans_b ? b + lo * ldb : b + lo, ldb, beta, c + lo,
                  ldc);
      else
        blas_call(trans_a, trans_b, size, n, k, alpha, trans_a ? a + lo : a + lo * lda, lda, b, ldb, beta,
                  c + lo * ldc, ldc);
    }
  });
}

}  // namespace
#endif

template <class T>
void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, T alpha, const T* a, int64_t lda,
          const T* b, int64_t ldb, T beta, T* c, int64_t ldc) {
#if R2G2_WITH_BLAS
  check_args("gemm", trans_a, trans_b, m, n, k, lda, ldb, ldc);
  if (m == 0 || n == 0) return;
  constexpr int64_t kMaxInt = std::numeric_limits<int>::max();
  // CBLAS takes int sizes; anything larger goes to the blocked kernel.
  if (std::max({m, n, k, lda, ldb, ldc}) <= kMaxInt) {
    blas_gemm<T>(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    return;
  }
#endif
  gemm_blocked<T>(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

template <class T>
void gemm_batched(int64_t batch, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, T alpha,
                  const T* a, int64_t lda, int64_t stride_a, const T* b, int64_t ldb, int64_t stride_b,
                  T beta, T* c, int64_t ldc, int64_t stride_c) {
  R2G2_CHECK(batch >= 0, "gemm_batched: negative batch ", batch);
  for (int64_t i = 0; i < batch; ++i)
    gemm<T>(trans_a, trans_b, m, n, k, alpha, a + i * stride_a, lda, b + i * stride_b, ldb, beta,
            c + i * stride_c, ldc);
}

#define R2G2_INSTANTIATE(T)                                                                                \
  template void gemm<T>(bool, bool, int64_t, int64_t, int64_t, T, const T*, int64_t, const T*, int64_t, T, \
                        T*, int64_t);                                                                      \
  template void gemm_blocked<T>(bool, bool, int64_t, int64_t, int64_t, T, const T*, int64_t, const T*,     \
                                int64_t, T, T*, int64_t);                                                  \
  template void gemm_batched<T>(int64_t, bool, bool, int64_t, int64_t, int64_t, T, const T*, int64_t,      \
                                int64_t, const T*, int64_t, int64_t, T, T*, int64_t, int64_t);
R2G2_INSTANTIATE(float)
R2G2_INSTANTIATE(double)
#undef R2G2_INSTANTIATE

}  // namespace r2g2::kernels::cpu
