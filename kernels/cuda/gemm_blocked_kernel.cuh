#pragma once
// The device code of gemm_blocked (kernels/cuda/gemm_blocked.cu launches it). Kept apart
// from the launch code so that it reads on its own and has no host dependencies.
#include <cstdint>

#include "r2g2/kernels/cuda/cuda_api.h"

// `#pragma unroll` where nvcc compiles this; nothing where a host compiler does (the
// emulated suite, tests/kernels/cuda), which would otherwise warn about an unknown pragma.
#if defined(__CUDACC__)
#define R2G2_UNROLL _Pragma("unroll")
#else
#define R2G2_UNROLL
#endif

namespace r2g2::kernels::cuda::blocked {

// Four consecutive elements, loaded or stored with one vector instruction.
template <class T>
struct alignas(4 * sizeof(T)) Vec4 {
  T v[4];
};

// Shared tiles are stored k-major ([BK][rows]) so that a thread reads its TM (TN)
// consecutive rows for one k as whole vectors. The +4 padding shifts consecutive k rows
// by 4 banks, which makes the transposing stores of row-major panels conflict-free while
// keeping every row 16-byte aligned.
constexpr int kPad = 4;

// Loads one BK-deep panel of an operand into registers and then into shared memory.
// The operand is seen as P[r][kk] (r along m for A, along n for B); it is stored either
// with k contiguous (P[r][kk] = p[r * ld + kk]) or with r contiguous (p[kk * ld + r]).
// Consecutive threads take consecutive items along the stored contiguous axis, so the
// global loads of a warp coalesce.
template <class T, int ROWS, int BK, int kThreads, bool kContig, bool kFast>
struct PanelLoader {
  static constexpr int kPerItem = kFast ? 4 : 1;  // elements per load
  static constexpr int kItemsTotal = ROWS * BK / kPerItem;
  static constexpr int kItems = (kItemsTotal + kThreads - 1) / kThreads;
  T reg[kItems][kPerItem] = {};  // zeroed: a tile edge may leave some slots unread

  __device__ static void coords(int item, int& r, int& kk) {
    if constexpr (kContig) {
      constexpr int per_r = BK / kPerItem;
      r = item / per_r;
      kk = (item % per_r) * kPerItem;
    } else {
      constexpr int per_k = ROWS / kPerItem;
      kk = item / per_k;
      r = (item % per_k) * kPerItem;
    }
  }

  // rows/depth: the operand's true extent, for the bounds checks of the scalar path.
  __device__ void load(const T* __restrict__ p, int64_t ld, int r0, int rows, int k0, int depth, int tid) {
    R2G2_UNROLL
    for (int i = 0; i < kItems; ++i) {
      const int item = tid + i * kThreads;
      if (kItemsTotal % kThreads != 0 && item >= kItemsTotal) break;
      int r, kk;
      coords(item, r, kk);
      const int64_t off = kContig ? int64_t(r0 + r) * ld + (k0 + kk) : int64_t(k0 + kk) * ld + (r0 + r);
      if constexpr (kFast) {
        const Vec4<T> v = *reinterpret_cast<const Vec4<T>*>(p + off);
        R2G2_UNROLL
        for (int j = 0; j < 4; ++j) reg[i][j] = v.v[j];
      } else {
        const bool inside = r0 + r < rows && k0 + kk < depth;
        reg[i][0] = inside ? p[off] : T(0);  // zeros past the edge add nothing to C
      }
    }
  }

  __device__ void store(T (*s)[ROWS + kPad], int tid) const {
    R2G2_UNROLL
    for (int i = 0; i < kItems; ++i) {
      const int item = tid + i * kThreads;
      if (kItemsTotal % kThreads != 0 && item >= kItemsTotal) break;
      int r, kk;
      coords(item, r, kk);
      if constexpr (kPerItem == 1) {
        s[kk][r] = reg[i][0];
      } else if constexpr (kContig) {
        R2G2_UNROLL
        for (int j = 0; j < 4; ++j) s[kk + j][r] = reg[i][j];  // transpose into k-major
      } else {
        Vec4<T> v;
        R2G2_UNROLL
        for (int j = 0; j < 4; ++j) v.v[j] = reg[i][j];
        *reinterpret_cast<Vec4<T>*>(&s[kk][r]) = v;
      }
    }
  }
};

// C[m, n] = alpha * op(A) op(B) + beta * C, all row-major. Grid: (ceil(n/BN), ceil(m/BM)).
// kFast: every tile is full and every pointer/leading dimension allows 16-byte vectors.
template <class T, int BM, int BN, int BK, int TM, int TN, bool TA, bool TB, bool kFast>
__global__ void __launch_bounds__((BM / TM) * (BN / TN))
    gemm_tiled_kernel(int m, int n, int k, T alpha, const T* __restrict__ a, int64_t lda,
                      const T* __restrict__ b, int64_t ldb, T beta, T* __restrict__ c, int64_t ldc) {
  constexpr int kThreadsN = BN / TN;
  constexpr int kThreads = (BM / TM) * kThreadsN;
  // A thread's TM rows are TM/4 groups of 4 consecutive rows, the groups BM/(TM/4) apart
  // (same for columns). Then the 16 threads of a half-warp read 16 consecutive vectors of
  // a B row: conflict-free, where 8 consecutive columns per thread would be 2-way.
  constexpr int kGroupsM = TM / 4, kGroupsN = TN / 4;
  constexpr int kGroupStrideM = BM / kGroupsM, kGroupStrideN = BN / kGroupsN;
  static_assert(TM % 4 == 0 && TN % 4 == 0 && BK % 4 == 0, "tiles are built from 4-element vectors");

  // Dynamic shared memory: the double-precision 128x128x16 tile needs 66 KiB, over the
  // 48 KiB a static array may take. As[buf][kk][i] = op(A)[m0 + i][k0 + kk] and
  // Bs[buf][kk][j] = op(B)[k0 + kk][n0 + j]; buf alternates between tiles.
  R2G2_DYNAMIC_SHARED(unsigned char, smem_raw);
  auto As = reinterpret_cast<T(*)[BK][BM + kPad]>(smem_raw);
  auto Bs = reinterpret_cast<T(*)[BK][BN + kPad]>(smem_raw + sizeof(T) * 2 * BK * (BM + kPad));

  const int tid = threadIdx.x;
  const int ty = tid / kThreadsN, tx = tid % kThreadsN;
  const int m0 = blockIdx.y * BM, n0 = blockIdx.x * BN;

  // op(A)[i][kk] has k contiguous when A is not transposed; op(B)^T[j][kk] = op(B)[kk][j]
  // has k contiguous when B is transposed.
  PanelLoader<T, BM, BK, kThreads, !TA, kFast> load_a;
  PanelLoader<T, BN, BK, kThreads, TB, kFast> load_b;

  T acc[TM][TN];
  R2G2_UNROLL
  for (int i = 0; i < TM; ++i) R2G2_UNROLL
  for (int j = 0; j < TN; ++j) acc[i][j] = T(0);

  const int tiles = (k + BK - 1) / BK;
  if (tiles > 0) {
    load_a.load(a, lda, m0, m, 0, k, tid);
    load_b.load(b, ldb, n0, n, 0, k, tid);
    load_a.store(As[0], tid);
    load_b.store(Bs[0], tid);
    __syncthreads();
  }

  for (int t = 0; t < tiles; ++t) {
    const int cur = t & 1;
    const bool has_next = t + 1 < tiles;
    // Issue the next tile's global loads now; they complete while we compute below.
    if (has_next) {
      load_a.load(a, lda, m0, m, (t + 1) * BK, k, tid);
      load_b.load(b, ldb, n0, n, (t + 1) * BK, k, tid);
    }

    R2G2_UNROLL
    for (int kk = 0; kk < BK; ++kk) {
      T frag_a[TM], frag_b[TN];
      R2G2_UNROLL
      for (int g = 0; g < kGroupsM; ++g) {
        const Vec4<T> v = *reinterpret_cast<const Vec4<T>*>(&As[cur][kk][g * kGroupStrideM + ty * 4]);
        R2G2_UNROLL
        for (int j = 0; j < 4; ++j) frag_a[g * 4 + j] = v.v[j];
      }
      R2G2_UNROLL
      for (int g = 0; g < kGroupsN; ++g) {
        const Vec4<T> v = *reinterpret_cast<const Vec4<T>*>(&Bs[cur][kk][g * kGroupStrideN + tx * 4]);
        R2G2_UNROLL
        for (int j = 0; j < 4; ++j) frag_b[g * 4 + j] = v.v[j];
      }
      // The outer product: TM * TN FMAs from TM + TN shared-memory values.
      R2G2_UNROLL
      for (int i = 0; i < TM; ++i) R2G2_UNROLL
      for (int j = 0; j < TN; ++j) acc[i][j] = fma(frag_a[i], frag_b[j], acc[i][j]);
    }

    // Nobody reads buffer cur^1 during tile t (its last readers finished tile t-1 before
    // the barrier that ended it), so it can be refilled now; one barrier per tile.
    if (has_next) {
      load_a.store(As[cur ^ 1], tid);
      load_b.store(Bs[cur ^ 1], tid);
    }
    __syncthreads();
  }

  // Epilogue. beta == 0 must not read C (BLAS semantics: C may be uninitialised).
  R2G2_UNROLL
  for (int gi = 0; gi < kGroupsM; ++gi) R2G2_UNROLL
  for (int i = 0; i < 4; ++i) {
    const int row = m0 + gi * kGroupStrideM + ty * 4 + i;
    R2G2_UNROLL
    for (int gj = 0; gj < kGroupsN; ++gj) {
      const int col = n0 + gj * kGroupStrideN + tx * 4;
      const T* out = acc[gi * 4 + i] + gj * 4;
      T* dst = c + int64_t(row) * ldc + col;
      if constexpr (kFast) {
        Vec4<T> v;
        if (beta == T(0)) {
          R2G2_UNROLL
          for (int j = 0; j < 4; ++j) v.v[j] = alpha * out[j];
        } else {
          const Vec4<T> old = *reinterpret_cast<const Vec4<T>*>(dst);
          R2G2_UNROLL
          for (int j = 0; j < 4; ++j) v.v[j] = alpha * out[j] + beta * old.v[j];
        }
        *reinterpret_cast<Vec4<T>*>(dst) = v;
      } else if (row < m) {
        R2G2_UNROLL
        for (int j = 0; j < 4; ++j)
          if (col + j < n) dst[j] = beta == T(0) ? alpha * out[j] : alpha * out[j] + beta * dst[j];
      }
    }
  }
}

}  // namespace r2g2::kernels::cuda::blocked
