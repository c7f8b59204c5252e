#pragma once
// Device code of kernels/cuda/r2g2_cg.cu (the contract is in kernels/r2g2_cg.inc). A
// header, so that the host emulator runs it too.
//
// One thread block per system at a time, kThreads threads, every warp full (the
// reductions rely on it). The CG vectors live in dynamic shared memory in float64 and
// products with K (or A^T A) go through W, which every block reads from global memory
// (small and shared by all systems, so it stays in L2). The arithmetic follows the CPU
// reference step for step; only the order of the sums inside a product differs.
#include <cstdint>

#include "r2g2/kernels/cuda/launch.cuh"
#include "r2g2/kernels/r2g2_solve.h"

namespace r2g2::kernels::cuda::r2g2_cg_detail {

constexpr int kWarps = kThreads / 32;
static_assert(kThreads % 32 == 0, "the block reductions need full warps");

// Doubles of dynamic shared memory one block needs (see the layout in latent_cg_kernel).
__host__ __device__ inline int64_t shared_doubles(const LatentSolve& s) {
  const int64_t D = s.D, k = s.d_space ? s.D : s.m, wide = s.m > s.D ? s.m : s.D;
  return 2 * D + 5 * k + 2 * wide + kWarps + 1;
}

__device__ inline double warp_sum(double v) {
  for (int off = 16; off > 0; off >>= 1) v += __shfl_down_sync(0xffffffffu, v, off);
  return v;
}

// Sum over the block in a fixed order (deterministic); every thread gets the result.
__device__ inline double block_sum(double v, double* red) {
  v = warp_sum(v);
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  if (lane == 0) red[warp] = v;
  __syncthreads();
  if (threadIdx.x == 0) {
    double s = 0;
    for (int w = 0; w < kWarps; ++w) s += red[w];
    red[kWarps] = s;
  }
  __syncthreads();
  const double out = red[kWarps];
  __syncthreads();  // all have read before red is written again
  return out;
}

// Largest value over the block; every thread gets the result.
__device__ inline double block_max(double v, double* red) {
  for (int off = 16; off > 0; off >>= 1) v = fmax(v, __shfl_down_sync(0xffffffffu, v, off));
  if ((threadIdx.x & 31) == 0) red[threadIdx.x >> 5] = v;
  __syncthreads();
  if (threadIdx.x == 0) {
    double w = 0;
    for (int j = 0; j < kWarps; ++j) w = fmax(w, red[j]);
    red[kWarps] = w;
  }
  __syncthreads();
  const double out = red[kWarps];
  __syncthreads();
  return out;
}

__device__ inline double block_dot(const double* a, const double* b, int n, double* red) {
  double s = 0;
  for (int i = threadIdx.x; i < n; i += blockDim.x) s += a[i] * b[i];
  return block_sum(s, red);
}

// out[d] = sum_i W[i, d] in[i]  (W^T in): one thread per column, coalesced over d.
template <class T>
__device__ void col_dot(const T* W, int m, int D, const double* in, double* out) {
  for (int d = threadIdx.x; d < D; d += blockDim.x) {
    double acc = 0;
    for (int i = 0; i < m; ++i) acc += static_cast<double>(W[static_cast<int64_t>(i) * D + d]) * in[i];
    out[d] = acc;
  }
}

// out[i] = sum_d W[i, d] in[d]  (W in): one warp per row, lanes over d.
template <class T>
__device__ void row_dot(const T* W, int m, int D, const double* in, double* out) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  for (int i = warp; i < m; i += kWarps) {
    double acc = 0;
    const T* row = W + static_cast<int64_t>(i) * D;
    for (int d = lane; d < D; d += 32) acc += static_cast<double>(row[d]) * in[d];
    acc = warp_sum(acc);
    if (lane == 0) out[i] = acc;
  }
}

// out = M v (m-space: K = W diag(s^2) W^T; D-space: A^T A = diag(s) W^T W diag(s)).
// Reads v and s after a barrier the caller has passed; ends with one.
template <class T>
__device__ void apply(const LatentSolve& sv, const T* W, const double* s, const double* v, double* out,
                      double* u, double* t) {
  const int m = sv.m, D = sv.D;
  if (!sv.d_space) {
    col_dot(W, m, D, v, t);
    __syncthreads();
    for (int d = threadIdx.x; d < D; d += blockDim.x) t[d] *= s[d] * s[d];
    __syncthreads();
    row_dot(W, m, D, t, out);
    __syncthreads();
  } else {
    for (int d = threadIdx.x; d < D; d += blockDim.x) u[d] = s[d] * v[d];
    __syncthreads();
    row_dot(W, m, D, u, t);
    __syncthreads();
    col_dot(W, m, D, t, out);
    __syncthreads();
    for (int d = threadIdx.x; d < D; d += blockDim.x) out[d] *= s[d];
    __syncthreads();
  }
}

// Solves system n with the whole block (every thread calls it with the same n).
template <class T>
__device__ void solve_system(const LatentSolve& sv, const T* W, const T* sigma, const T* eps, T* eps_star,
                             int32_t* iterations, double* residual, int64_t n, double* smem) {
  const int m = sv.m, D = sv.D;
  const int k = sv.d_space ? D : m;
  const int wide = m > D ? m : D;
  double* s = smem;        // [D]
  double* e = s + D;       // [D]
  double* b = e + D;       // [k]
  double* x = b + k;       // [k]
  double* r = x + k;       // [k]
  double* p = r + k;       // [k]
  double* Mp = p + k;      // [k]
  double* u = Mp + k;      // [wide]
  double* t = u + wide;    // [wide]
  double* red = t + wide;  // [kWarps + 1]

  for (int d = threadIdx.x; d < D; d += blockDim.x) {
    s[d] = static_cast<double>(sigma[n * D + d]);
    e[d] = static_cast<double>(eps[n * D + d]);
  }
  __syncthreads();
  if (!sv.d_space) {  // b = A eps = W (s . e)
    for (int d = threadIdx.x; d < D; d += blockDim.x) u[d] = s[d] * e[d];
    __syncthreads();
    row_dot(W, m, D, u, b);
    __syncthreads();
  } else {
    apply(sv, W, s, e, b, u, t);
  }
  const double bnorm = sqrt(block_dot(b, b, k, red));
  const bool paper = sv.settings.solver == R2G2Solver::paper;
  const int cap = iteration_cap(sv.settings, sv.rank_bound);
  int it = 0;
  double rel = 0;
  if (bnorm == 0.0) {
    for (int i = threadIdx.x; i < k; i += blockDim.x) x[i] = 0.0;
    __syncthreads();
  } else {
    if (paper) {
      for (int i = threadIdx.x; i < k; i += blockDim.x) x[i] = b[i];
      __syncthreads();
      apply(sv, W, s, x, Mp, u, t);
      for (int i = threadIdx.x; i < k; i += blockDim.x) r[i] = b[i] - Mp[i];
    } else {
      for (int i = threadIdx.x; i < k; i += blockDim.x) {
        x[i] = 0.0;
        r[i] = b[i];
      }
    }
    __syncthreads();
    for (int i = threadIdx.x; i < k; i += blockDim.x) p[i] = r[i];
    __syncthreads();
    double rr = block_dot(r, r, k, red);
    while (it < cap) {
      if (paper) {
        double worst = 0;
        for (int i = threadIdx.x; i < k; i += blockDim.x) worst = fmax(worst, fabs(r[i]));
        if (block_max(worst, red) < sv.settings.abs_tol) break;
      } else if (sqrt(rr) <= sv.settings.tol * bnorm) {
        break;
      }
      apply(sv, W, s, p, Mp, u, t);
      const double pMp = block_dot(p, Mp, k, red);
      if (!(pMp > 0.0) || !isfinite(pMp)) break;  // p in the null space: nothing left to remove
      const double alpha = rr / pMp;
      for (int i = threadIdx.x; i < k; i += blockDim.x) {
        x[i] += alpha * p[i];
        r[i] -= alpha * Mp[i];
      }
      __syncthreads();
      const double rr_new = block_dot(r, r, k, red);
      const double beta = rr_new / rr;
      for (int i = threadIdx.x; i < k; i += blockDim.x) p[i] = r[i] + beta * p[i];
      __syncthreads();
      rr = rr_new;
      ++it;
    }
    apply(sv, W, s, x, Mp, u, t);  // the true residual, not the recursively updated one
    double part = 0;
    for (int i = threadIdx.x; i < k; i += blockDim.x) part += (b[i] - Mp[i]) * (b[i] - Mp[i]);
    rel = sqrt(block_sum(part, red)) / bnorm;
  }
  if (!sv.d_space) {  // eps* = A^T beta = s . (W^T beta)
    col_dot(W, m, D, x, t);
    __syncthreads();
    for (int d = threadIdx.x; d < D; d += blockDim.x) eps_star[n * D + d] = static_cast<T>(s[d] * t[d]);
  } else {
    for (int d = threadIdx.x; d < D; d += blockDim.x) eps_star[n * D + d] = static_cast<T>(x[d]);
  }
  if (threadIdx.x == 0) {
    if (iterations) iterations[n] = it;
    if (residual) residual[n] = rel;
  }
}

// Launched with kThreads threads and shared_doubles(sv) doubles of dynamic shared memory.
// Each block takes systems blockIdx.x, blockIdx.x + gridDim.x, ...: the grid is capped, so
// the number of systems is not limited by the largest grid.
template <class T>
__global__ void latent_cg_kernel(LatentSolve sv, const T* W, const T* sigma, const T* eps, T* eps_star,
                                 int32_t* iterations, double* residual) {
  R2G2_DYNAMIC_SHARED(double, smem);
  for (int64_t n = blockIdx.x; n < sv.systems; n += gridDim.x) {
    solve_system(sv, W, sigma, eps, eps_star, iterations, residual, n, smem);
    __syncthreads();  // the next system reuses the shared memory; no thread may run ahead into it
  }
}

}  // namespace r2g2::kernels::cuda::r2g2_cg_detail
