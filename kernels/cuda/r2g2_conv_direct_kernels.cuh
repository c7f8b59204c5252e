#pragma once
// Device code of kernels/cuda/r2g2_conv_direct.cu, the direct m-space conv solve (contract:
// kernels/r2g2_conv.inc; the CPU reference kernels/cpu/r2g2_conv_direct.cpp is followed
// step for step). A header, so that the host emulator runs it too.
//
// Per group of images: widen_kernel (once per call) and pair_products_kernel build the
// float64 GEMM operands, the launcher forms K and rhs of every system by two GEMMs, and
// solve_kernel solves one system per warp. A warp's system sits in dynamic shared memory,
//   A[P, ld] (factorised in place) | Kc[P, ld] (K kept for the residual) | xs[P]
// with ld = P | 1, odd, so that lanes walking down a column hit distinct banks. Lane i
// owns row i (P <= 32); the factorisation's phases are separated by __syncwarp, and each
// phase touches disjoint entries per lane (see cholesky).
#include <cmath>
#include <cstdint>

#include "r2g2/kernels/common.h"
#include "r2g2/kernels/cuda/cuda_api.h"
#include "r2g2/kernels/cuda/group_reduce.cuh"
#include "r2g2/kernels/cuda/launch.cuh"
#include "r2g2/kernels/r2g2_solve.h"

namespace r2g2::kernels::cuda::r2g2_conv_direct_detail {

constexpr int kDirectWarps = 4;  // systems in flight per block
constexpr int kDirectThreads = kDirectWarps * kWarp;
constexpr unsigned kFullMask = 0xffffffffu;

__host__ __device__ inline int direct_ld(int P) { return P | 1; }
__host__ __device__ inline int64_t pair_count(int64_t P) { return P * (P + 1) / 2; }
// Doubles of one warp's shared state.
__host__ __device__ inline int64_t warp_doubles(int P) { return 2 * int64_t{P} * direct_ld(P) + P; }

// s2 = sigma², se = sigma ⊙ eps, [O, D] in double.
template <class T>
__global__ void widen_kernel(const T* sigma, const T* eps, double* s2, double* se, int64_t n) {
  for (int64_t i = global_thread(); i < n; i += grid_threads()) {
    const double sd = static_cast<double>(sigma[i]);
    s2[i] = sd * sd;
    se[i] = sd * static_cast<double>(eps[i]);
  }
}

// For images first .. first + count - 1 of cols [N, D, P], side by side:
//   Z [D, count T]: Z[d, i T + t(p, q)] = X_i[d, p] X_i[d, q] for p <= q, t(p, q) running
//   over the upper triangle row by row (the order of the CPU's pair tables);
//   Xcat [D, count P]: Xcat[d, i P + p] = X_i[d, p].
// One thread per (d, i, p), writing Xcat's entry and row p of the triangle.
template <class T>
__global__ void pair_products_kernel(const T* cols, double* Z, double* Xcat, int64_t first, int64_t count,
                                     int64_t D, int P) {
  const int64_t total = D * count * P, PT = pair_count(P);
  for (int64_t e = global_thread(); e < total; e += grid_threads()) {
    const int p = static_cast<int>(e % P);
    const int64_t i = (e / P) % count, d = e / (P * count);
    const T* row = cols + ((first + i) * D + d) * P;
    const double xp = static_cast<double>(row[p]);
    Xcat[d * count * P + i * P + p] = xp;
    double* z = Z + d * count * PT + i * PT + (int64_t{p} * P - int64_t{p} * (p - 1) / 2);
    for (int q = p; q < P; ++q) z[q - p] = xp * static_cast<double>(row[q]);
  }
}

// The lane holding the largest pivot candidate, and its value; of equal values the lowest
// lane, as the CPU's ascending scan with a strict comparison picks.
struct Pivot {
  double value;
  int index;
};
__device__ inline Pivot warp_argmax(double v) {
  const double best = warp_all_reduce(v, MaxOp());
  return {best, __ffs(static_cast<int>(__ballot_sync(kFullMask, v == best))) - 1};
}

// The warp's pivoted Cholesky of the symmetric A [P, ld] (kernels/cpu/r2g2_cg.h's
// pivoted_cholesky, lane i owning row i): returns the rank r. A's strict lower triangle then
// holds L in pivot order, lane j < r holds L[j, j] in `diag` (A keeps the pivot there,
// so that the factorisation never writes an entry another lane reads in the same phase),
// and `perm` on lane j the original index of pivot j.
__device__ inline int cholesky(double* A, int ld, int P, int& perm, double& diag, double rel_cut) {
  const int lane = threadIdx.x % kWarp;
  const bool row = lane < P;
  perm = lane;
  const double dmax = warp_all_reduce(row ? A[lane * ld + lane] : 0.0, MaxOp());
  if (!(dmax > 0)) return 0;
  for (int j = 0; j < P; ++j) {
    const double own = row && lane >= j ? A[lane * ld + lane] : -INFINITY, at_j = A[j * ld + j];
    const Pivot piv = warp_argmax(isnan(own) ? -INFINITY : own);
    // A NaN at j stops the CPU's scan there too: nothing is greater than it.
    if (isnan(at_j) || !(piv.value > rel_cut * dmax)) return j;
    if (piv.index != j) {  // symmetric swap; rows carry their finished L entries along
      __syncwarp();        // every lane has read the diagonal before the swap writes it
      if (row) {
        const double t = A[j * ld + lane];
        A[j * ld + lane] = A[piv.index * ld + lane];
        A[piv.index * ld + lane] = t;
      }
      __syncwarp();
      if (row) {
        const double t = A[lane * ld + j];
        A[lane * ld + j] = A[lane * ld + piv.index];
        A[lane * ld + piv.index] = t;
      }
      const int perm_j = __shfl_sync(kFullMask, perm, j), perm_piv = __shfl_sync(kFullMask, perm, piv.index);
      if (lane == j) perm = perm_piv;
      if (lane == piv.index) perm = perm_j;
      __syncwarp();
    }
    const double l = sqrt(piv.value);  // the pivot, now at A[j, j]
    if (lane == j) diag = l;
    if (row && lane > j) A[lane * ld + j] /= l;
    __syncwarp();
    // Lane i updates its row's lower part (columns j+1..i) and mirrors it into column i of
    // the rows above: the entries one lane writes are read by no other lane in this phase.
    if (row && lane > j) {
      const double lij = A[lane * ld + j];
      for (int c = j + 1; c <= lane; ++c) {
        const double v = A[lane * ld + c] - lij * A[c * ld + j];
        A[lane * ld + c] = v;
        A[c * ld + lane] = v;
      }
    }
    __syncwarp();
  }
  return P;
}

// The systems of one group of images: K [O, count T] and rhs [O, count P] from the GEMMs.
struct DirectGroup {
  const double* K;
  const double* rhs;
  int64_t first, count;
};

// One warp per system (image first + i, channel c), several systems per warp in turn.
template <class T>
__global__ void __launch_bounds__(kDirectThreads)
    solve_kernel(DirectGroup grp, T* beta, R2G2SolveStats st, int64_t O, int P, double rel_cut) {
  R2G2_DYNAMIC_SHARED(double, smem);
  const int warp = threadIdx.x / kWarp, lane = threadIdx.x % kWarp, ld = direct_ld(P);
  const bool row = lane < P;
  double* A = smem + warp * warp_doubles(P);
  double* Kc = A + P * ld;
  double* xs = Kc + P * ld;
  const int64_t PT = pair_count(P), systems = grp.count * O;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * kDirectWarps;
  for (int64_t k = static_cast<int64_t>(blockIdx.x) * kDirectWarps + warp; k < systems; k += stride) {
    const int64_t i = k / O, c = k % O, sys = (grp.first + i) * O + c;
    const double* kp = grp.K + c * grp.count * PT + i * PT;
    for (int p = 0, off = 0; p < P; off += P - p, ++p)
      if (lane >= p && row) {
        const double v = kp[off + lane - p];
        A[p * ld + lane] = A[lane * ld + p] = v;
        Kc[p * ld + lane] = Kc[lane * ld + p] = v;
      }
    const double b = row ? grp.rhs[c * grp.count * P + i * P + lane] : 0.0;
    __syncwarp();
    const double b_sq = warp_all_reduce(b * b, SumOp());
    double x = 0, rel = 0, star_sq = 0;
    if (!(b_sq > 0)) {  // rhs = 0: eps* = 0
      rel = b_sq == 0 ? 0.0 : sqrt(b_sq);
    } else {
      int perm = lane;
      double diag = 1;
      const int r = cholesky(A, ld, P, perm, diag, rel_cut);
      // L c = rhs[perm], then Lᵀ z = c, column by column: lane j finishes entry j and the
      // lanes below (above) it take its contribution. The forward pass sums in the CPU's
      // order, the backward one in the reverse order.
      const double b_perm = __shfl_sync(kFullMask, b, perm);
      double acc = lane < r ? b_perm : 0.0;
      for (int j = 0; j < r; ++j) {
        const double cj = __shfl_sync(kFullMask, acc / diag, j);
        if (lane == j) acc = cj;
        if (lane > j && lane < r) acc -= A[lane * ld + j] * cj;
      }
      for (int j = r - 1; j >= 0; --j) {
        const double zj = __shfl_sync(kFullMask, acc / diag, j);
        if (lane == j) acc = zj;
        if (lane < j) acc -= A[j * ld + lane] * zj;
      }
      if (row) xs[lane] = 0;
      __syncwarp();
      if (lane < r) xs[perm] = acc;
      __syncwarp();
      double kx = 0;
      if (row) {
        x = xs[lane];
        for (int q = 0; q < P; ++q) kx += Kc[lane * ld + q] * xs[q];
      }
      const double res = row ? kx - b : 0.0;
      const double res_sq = warp_all_reduce(res * res, SumOp());
      star_sq = warp_all_reduce(x * kx, SumOp());  // |s ⊙ X beta|² = betaᵀ K beta
      rel = sqrt(res_sq / b_sq);
    }
    if (row) beta[sys * P + lane] = static_cast<T>(x);
    if (lane == 0) {
      if (st.iterations) st.iterations[sys] = 0;
      if (st.rel_residual) st.rel_residual[sys] = rel;
      if (st.eps_star_sq) st.eps_star_sq[sys] = star_sq;
    }
    __syncwarp();  // the next system overwrites A, Kc and xs
  }
}

}  // namespace r2g2::kernels::cuda::r2g2_conv_direct_detail
