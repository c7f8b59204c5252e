// gemm_blocked: a hand-written tiled shared-memory SGEMM/DGEMM, written to be read.
//
// Why it is fast (each point is a comment below where it happens):
//  1. Block tiling: a block computes a BM x BN tile of C, so each element of A and B it
//     loads from global memory is reused BN (resp. BM) times from shared memory.
//  2. Register tiling: each thread computes TM x TN outputs as outer products of a TM
//     column slice of A and a TN row slice of B, so each shared-memory read feeds TM (or
//     TN) FMAs instead of one. With 8 x 8 that is 64 FMAs per 16 shared loads.
//  3. Double buffering: while the block computes on tile t in one shared buffer, the
//     loads of tile t+1 are already in flight into registers, and are written to the
//     other buffer afterwards: global latency hides behind the math, one barrier a tile.
//  4. Vector (16-byte) loads and stores when the sizes are tile multiples and the
//     pointers aligned; otherwise the same kernel runs with bounds-checked scalar loads.
#include <climits>
#include <cstdint>
#include <type_traits>

#include "r2g2/kernels/cuda/check.h"
#include "r2g2/kernels/cuda/gemm.h"
#include "r2g2/kernels/cuda/gemm_blocked_kernel.cuh"
#include "r2g2/kernels/cuda/launch.cuh"

namespace r2g2::kernels::cuda {

namespace {

using blocked::gemm_tiled_kernel;
using blocked::kPad;

// The tile shapes the lab sweeps. 0 is the classic 128x128 tile (enough work per thread
// to approach the FMA roofline on big problems); 2 has 4x more blocks for small ones.
constexpr GemmTile kTiles[] = {
    {128, 128, 8, 8, 8},
    {128, 128, 16, 8, 8},
    {64, 64, 8, 4, 4},
};
constexpr int kTileCount = sizeof(kTiles) / sizeof(kTiles[0]);

template <class F>
void with_bool(bool v, F&& f) {
  if (v)
    f(std::true_type{});
  else
    f(std::false_type{});
}

bool aligned_to(const void* p, size_t bytes) { return reinterpret_cast<uintptr_t>(p) % bytes == 0; }

template <class T, int BM, int BN, int BK, int TM, int TN>
void launch_tiled(bool trans_a, bool trans_b, int m, int n, int k, T alpha, const T* a, int64_t lda,
                  const T* b, int64_t ldb, T beta, T* c, int64_t ldc) {
  constexpr size_t kVec = 4 * sizeof(T);
  constexpr size_t kSmem = sizeof(T) * 2 * BK * (BM + BN + 2 * kPad);
  const bool fast = m % BM == 0 && n % BN == 0 && k % BK == 0 && lda % 4 == 0 && ldb % 4 == 0 &&
                    ldc % 4 == 0 && aligned_to(a, kVec) && aligned_to(b, kVec) && aligned_to(c, kVec);
  const dim3 grid(static_cast<unsigned>((n + BN - 1) / BN), static_cast<unsigned>((m + BM - 1) / BM));
  R2G2_CHECK(grid.y <= 65535, "gemm_blocked: m = ", m, " needs ", grid.y,
             " row blocks, over the 65535 limit");
  const dim3 block((BM / TM) * (BN / TN));
  // Above 48 KiB a kernel must opt in to its dynamic shared memory (up to 227 KiB).
  auto opt_in = [](auto kernel) {
    if constexpr (kSmem > 48 * 1024)
      R2G2_CUDA_CHECK(
          cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(kSmem)));
  };
  with_bool(trans_a, [&](auto ta) {
    with_bool(trans_b, [&](auto tb) {
      constexpr bool kTA = decltype(ta)::value, kTB = decltype(tb)::value;
      // Two names, so that a launch says which load path it took.
      if (fast) {
        auto gemm_tiled_vector = gemm_tiled_kernel<T, BM, BN, BK, TM, TN, kTA, kTB, true>;
        opt_in(gemm_tiled_vector);
        R2G2_LAUNCH_SMEM(gemm_tiled_vector, grid, block, kSmem, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
      } else {
        auto gemm_tiled_scalar = gemm_tiled_kernel<T, BM, BN, BK, TM, TN, kTA, kTB, false>;
        opt_in(gemm_tiled_scalar);
        R2G2_LAUNCH_SMEM(gemm_tiled_scalar, grid, block, kSmem, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
      }
    });
  });
}

template <class T, int I>
void launch_tile(bool trans_a, bool trans_b, int m, int n, int k, T alpha, const T* a, int64_t lda,
                 const T* b, int64_t ldb, T beta, T* c, int64_t ldc) {
  constexpr GemmTile t = kTiles[I];
  launch_tiled<T, t.block_m, t.block_n, t.block_k, t.thread_m, t.thread_n>(trans_a, trans_b, m, n, k, alpha,
                                                                           a, lda, b, ldb, beta, c, ldc);
}

// Throws when a leading dimension is shorter than the stored row it must step over.
void check_ld(const char* name, int64_t rows, int64_t cols, int64_t ld) {
  R2G2_CHECK(rows <= 1 || ld >= cols, "gemm: ", name, " = ", ld, " is smaller than the row length ", cols,
             " of a stored [", rows, ", ", cols, "] matrix");
}

}  // namespace

int gemm_blocked_tile_count() { return kTileCount; }

GemmTile gemm_blocked_tile(int index) {
  R2G2_CHECK(index >= 0 && index < kTileCount, "gemm_blocked_tile: index ", index, " not in [0, ", kTileCount,
             ")");
  return kTiles[index];
}

int gemm_blocked_default_tile(int64_t m, int64_t n) {
  // The 128x128 tile only pays when it still gives every one of ~132 SMs a block.
  const int64_t big_blocks = ((m + 127) / 128) * ((n + 127) / 128);
  return big_blocks >= 132 ? 0 : 2;
}

template <class T>
void gemm_blocked_tiled(int tile, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, T alpha,
                        const T* a, int64_t lda, const T* b, int64_t ldb, T beta, T* c, int64_t ldc) {
  R2G2_CHECK(m >= 0 && n >= 0 && k >= 0, "gemm_blocked: negative size m=", m, " n=", n, " k=", k);
  R2G2_CHECK(m <= INT_MAX && n <= INT_MAX && k <= INT_MAX, "gemm_blocked: sizes m=", m, " n=", n, " k=", k,
             " exceed the 32-bit range");
  if (m == 0 || n == 0) return;
  check_ld("lda", trans_a ? k : m, trans_a ? m : k, lda);
  check_ld("ldb", trans_b ? n : k, trans_b ? k : n, ldb);
  check_ld("ldc", m, n, ldc);
  // alpha == 0: C = beta C without reading A or B (BLAS semantics, as the CPU reference),
  // so a NaN or Inf there does not leak into C through 0 * x.
  const int mi = static_cast<int>(m), ni = static_cast<int>(n), ki = alpha == T(0) ? 0 : static_cast<int>(k);
  static_assert(kTileCount == 3, "one case per tile below");
  switch (tile) {
    case 0:
      return launch_tile<T, 0>(trans_a, trans_b, mi, ni, ki, alpha, a, lda, b, ldb, beta, c, ldc);
    case 1:
      return launch_tile<T, 1>(trans_a, trans_b, mi, ni, ki, alpha, a, lda, b, ldb, beta, c, ldc);
    case 2:
      return launch_tile<T, 2>(trans_a, trans_b, mi, ni, ki, alpha, a, lda, b, ldb, beta, c, ldc);
  }
  throw Error(detail::concat("gemm_blocked: tile ", tile, " not in [0, ", kTileCount, ")"));
}

template <class T>
void gemm_blocked(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, T alpha, const T* a,
                  int64_t lda, const T* b, int64_t ldb, T beta, T* c, int64_t ldc) {
  gemm_blocked_tiled<T>(gemm_blocked_default_tile(m, n), trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb,
                        beta, c, ldc);
}

#define R2G2_INSTANTIATE(T)                                                                             \
  template void gemm_blocked<T>(bool, bool, int64_t, int64_t, int64_t, T, const T*, int64_t, const T*,  \
                                int64_t, T, T*, int64_t);                                               \
  template void gemm_blocked_tiled<T>(int, bool, bool, int64_t, int64_t, int64_t, T, const T*, int64_t, \
                                      const T*, int64_t, T, T*, int64_t);
R2G2_INSTANTIATE(float)
R2G2_INSTANTIATE(double)
#undef R2G2_INSTANTIATE

}  // namespace r2g2::kernels::cuda
