#pragma once
// Device code of kernels/cuda/r2g2_conv.cu (the contract is in kernels/r2g2_conv.inc; the
// CPU reference kernels/cpu/r2g2_conv.cpp is followed step for step). A header, so that the host emulator
// runs it too.
//
// One block of kSolveThreads threads solves one system at a time. Its float64 state is
//   red[warps] | coef[cap+1] | x[n] | r[n] | p[n] | ap[n] | work[D] | basis[(cap+1) n]
// (red: block reductions; coef: re-orthogonalisation coefficients; basis: the normalised
// residuals). red always lives in dynamic shared memory; the vectors and the basis live
// there too when they fit, else in the block's slot of a global scratch buffer. The
// system's matrix tile (X_n as [D, ld] in T, or G_n as [D, ld] in double) follows in
// shared memory when there is room left; ld is odd so that threads walking down a column
// hit distinct banks. Without a tile the block reads the matrix from global memory, where
// the O blocks of one image share it through L2.
#include <cstddef>
#include <cstdint>

#include "r2g2/kernels/common.h"
#include "r2g2/kernels/cuda/cuda_api.h"
#include "r2g2/kernels/cuda/group_reduce.cuh"
#include "r2g2/kernels/cuda/launch.cuh"
#include "r2g2/kernels/r2g2_solve.h"

namespace r2g2::kernels::cuda::r2g2_conv_detail {

constexpr int kSolveThreads = 128;
constexpr int kSolveWarps = kSolveThreads / kWarp;

struct SolveLayout {
  int n = 0;     // CG vector length (P in m-space, D in D-space)
  int work = 0;  // length of the work vector (D)
  int cap = 0;   // iteration cap
  bool vectors_on_chip = true;
  bool basis_on_chip = true;
  bool tile = false;
  int ld = 0;            // row stride of the tile
  size_t tile_elem = 0;  // bytes per tile element
  __host__ __device__ size_t vector_doubles() const { return size_t(cap + 1) + 4 * size_t(n) + size_t(work); }
  __host__ __device__ size_t basis_doubles() const { return size_t(cap + 1) * size_t(n); }
  // Doubles in shared memory before the tile.
  __host__ __device__ size_t shared_doubles() const {
    return kSolveWarps + (vectors_on_chip ? vector_doubles() : 0) + (basis_on_chip ? basis_doubles() : 0);
  }
  // Doubles of one block's slot in global scratch memory (0: none needed).
  __host__ __device__ size_t slot_doubles() const {
    return (vectors_on_chip ? 0 : vector_doubles()) + (basis_on_chip ? 0 : basis_doubles());
  }
};

struct SolvePtrs {
  double *red, *coef, *x, *r, *p, *ap, *work, *basis;
  void* tile;
};

// `slot`: this block's part of the global scratch buffer (unused when everything is on chip).
__device__ inline SolvePtrs carve(const SolveLayout& L, double* smem, double* slot) {
  SolvePtrs s;
  double* on_chip = smem;
  s.red = on_chip;
  on_chip += kSolveWarps;
  double* off_chip = slot;
  double*& vec = L.vectors_on_chip ? on_chip : off_chip;
  s.coef = vec;
  vec += L.cap + 1;
  s.x = vec;
  vec += L.n;
  s.r = vec;
  vec += L.n;
  s.p = vec;
  vec += L.n;
  s.ap = vec;
  vec += L.n;
  s.work = vec;
  vec += L.work;
  double*& bas = L.basis_on_chip ? on_chip : off_chip;
  s.basis = bas;
  bas += L.basis_doubles();
  s.tile = L.tile ? static_cast<void*>(on_chip) : nullptr;
  return s;
}

__device__ __forceinline__ double block_sum(double v, double* red) {
  return group_all_reduce<kSolveThreads>(v, SumOp{}, red);
}

__device__ inline double block_dot(const double* a, const double* b, int n, double* red) {
  double s = 0;
  for (int i = threadIdx.x; i < n; i += kSolveThreads) s += a[i] * b[i];
  return block_sum(s, red);
}

// Appends r / |r| to the residual basis.
__device__ inline void push_residual(const SolvePtrs& v, int n, double rr, int& basis, int cap) {
  if (basis > cap || !(rr > 0)) return;
  const double inv = 1.0 / sqrt(rr);
  for (int i = threadIdx.x; i < n; i += kSolveThreads) v.basis[size_t(basis) * n + i] = v.r[i] * inv;
  __syncthreads();
  ++basis;
}

// r -= U Uᵀ r, twice (classical Gram-Schmidt run twice is as stable as the modified form
// and needs two block barriers per pass instead of one per basis vector).
__device__ inline void reorthogonalise(const SolvePtrs& v, int n, int basis) {
  const int warp = threadIdx.x / kWarp, lane = threadIdx.x % kWarp;
  for (int pass = 0; pass < 2; ++pass) {
    for (int j = warp; j < basis; j += kSolveWarps) {
      const double* u = v.basis + size_t(j) * n;
      double a = 0;
      for (int i = lane; i < n; i += kWarp) a += u[i] * v.r[i];
      a = warp_all_reduce(a, SumOp{});
      if (lane == 0) v.coef[j] = a;
    }
    __syncthreads();
    for (int i = threadIdx.x; i < n; i += kSolveThreads) {
      double ri = v.r[i];
      for (int j = 0; j < basis; ++j) ri -= v.coef[j] * v.basis[size_t(j) * n + i];
      v.r[i] = ri;
    }
    __syncthreads();
  }
}

// CG on b = A x with b in v.r on entry (see the CPU reference for the rules). Every
// thread runs the same control flow: all scalars come from block-wide reductions that
// every thread reads identically.
template <class Apply>
__device__ void block_cg(const Apply& apply, const SolvePtrs& v, int n, int cap, double trace,
                         const R2G2Options& s, int& iterations, double& rel_residual) {
  const bool paper = s.solver == R2G2Solver::paper;
  const double b_norm = sqrt(block_dot(v.r, v.r, n, v.red));
  iterations = 0;
  if (!(b_norm > 0)) {  // rhs = 0: eps* = 0
    for (int i = threadIdx.x; i < n; i += kSolveThreads) v.x[i] = 0;
    __syncthreads();
    rel_residual = b_norm == 0 ? 0.0 : b_norm;
    return;
  }
  if (paper) {
    for (int i = threadIdx.x; i < n; i += kSolveThreads) v.x[i] = v.r[i];
    __syncthreads();
    apply(v.x, v.ap);
    for (int i = threadIdx.x; i < n; i += kSolveThreads) v.r[i] = v.x[i] - v.ap[i];
  } else {
    for (int i = threadIdx.x; i < n; i += kSolveThreads) v.x[i] = 0;
  }
  __syncthreads();
  double rr = block_dot(v.r, v.r, n, v.red);
  int basis = 0;
  push_residual(v, n, rr, basis, cap);
  for (int i = threadIdx.x; i < n; i += kSolveThreads) v.p[i] = v.r[i];
  __syncthreads();
  while (iterations < cap) {
    bool done;
    if (paper) {
      int ok = 1;
      for (int i = threadIdx.x; i < n; i += kSolveThreads) ok &= fabs(v.r[i]) < s.abs_tol ? 1 : 0;
      done = __syncthreads_and(ok) != 0;
    } else {
      done = sqrt(rr) <= s.tol * b_norm;
    }
    if (done) break;
    apply(v.p, v.ap);
    const double pap = block_dot(v.p, v.ap, n, v.red);
    const double pp = block_dot(v.p, v.p, n, v.red);
    if (!(pap > 1e-15 * trace * pp)) break;  // only rounding left along p
    const double alpha = rr / pap;
    for (int i = threadIdx.x; i < n; i += kSolveThreads) {
      v.x[i] += alpha * v.p[i];
      v.r[i] -= alpha * v.ap[i];
    }
    __syncthreads();
    reorthogonalise(v, n, basis);
    const double rr_new = block_dot(v.r, v.r, n, v.red);
    ++iterations;
    const double beta = rr_new / rr;
    rr = rr_new;
    for (int i = threadIdx.x; i < n; i += kSolveThreads) v.p[i] = v.r[i] + beta * v.p[i];
    __syncthreads();
    push_residual(v, n, rr, basis, cap);
  }
  rel_residual = sqrt(rr) / b_norm;
}

// out[i] = Σ_k M[i, k] v[k] for i < rows, M row-major with stride ld (any element type).
// A warp per row when rows are long (lanes stride along the row), a thread per row
// otherwise; `scale(i, acc)` finishes each entry. Ends with a barrier.
template <class M, class Scale>
__device__ void rows_times(const M* m, int ld, int rows, int cols, const double* v, double* out,
                           Scale scale) {
  if (cols >= kWarp) {
    const int warp = threadIdx.x / kWarp, lane = threadIdx.x % kWarp;
    for (int i = warp; i < rows; i += kSolveWarps) {
      double acc = 0;
      for (int k = lane; k < cols; k += kWarp) acc += static_cast<double>(m[size_t(i) * ld + k]) * v[k];
      acc = warp_all_reduce(acc, SumOp{});
      if (lane == 0) out[i] = scale(i, acc);
    }
  } else {
    for (int i = threadIdx.x; i < rows; i += kSolveThreads) {
      double acc = 0;
      for (int k = 0; k < cols; ++k) acc += static_cast<double>(m[size_t(i) * ld + k]) * v[k];
      out[i] = scale(i, acc);
    }
  }
  __syncthreads();
}

// out[k] = Σ_i M[i, k] v[i] for k < cols (Mᵀ v). Ends with a barrier.
template <class M>
__device__ void cols_times(const M* m, int ld, int rows, int cols, const double* v, double* out) {
  if (rows >= kWarp) {
    const int warp = threadIdx.x / kWarp, lane = threadIdx.x % kWarp;
    for (int k = warp; k < cols; k += kSolveWarps) {
      double acc = 0;
      for (int i = lane; i < rows; i += kWarp) acc += static_cast<double>(m[size_t(i) * ld + k]) * v[i];
      acc = warp_all_reduce(acc, SumOp{});
      if (lane == 0) out[k] = acc;
    }
  } else {
    for (int k = threadIdx.x; k < cols; k += kSolveThreads) {
      double acc = 0;
      for (int i = 0; i < rows; ++i) acc += static_cast<double>(m[size_t(i) * ld + k]) * v[i];
      out[k] = acc;
    }
  }
  __syncthreads();
}

// K v = Xᵀ (s² ⊙ (X v)) through the work vector t[D].
template <class T>
struct KApply {
  const T* X;
  int ld, D, P;
  const T* sc;
  double* t;
  __device__ void operator()(const double* v, double* out) const {
    const T* s = sc;
    rows_times(X, ld, D, P, v, t, [s](int d, double acc) {
      const double sd = s[d];
      return sd * sd * acc;
    });
    cols_times(X, ld, D, P, t, out);
  }
};

// M v = s ⊙ (G (s ⊙ v)) through the work vector u[D].
template <class T>
struct MApply {
  const double* G;
  int ld, D;
  const T* sc;
  double* u;
  __device__ void operator()(const double* v, double* out) const {
    for (int i = threadIdx.x; i < D; i += kSolveThreads) u[i] = static_cast<double>(sc[i]) * v[i];
    __syncthreads();
    const T* s = sc;
    rows_times(G, ld, D, D, u, out, [s](int i, double acc) { return static_cast<double>(s[i]) * acc; });
  }
};

__device__ inline void write_stats(const R2G2SolveStats& st, int64_t sys, int iterations, double rel,
                                   double star_sq) {
  if (threadIdx.x != 0) return;
  if (st.iterations) st.iterations[sys] = iterations;
  if (st.rel_residual) st.rel_residual[sys] = rel;
  if (st.eps_star_sq) st.eps_star_sq[sys] = star_sq;
}

template <class T>
__device__ void solve_m_system(const SolvePtrs& v, const SolveLayout& L, int64_t sys, const T* cols,
                               const T* sigma, const T* eps, T* beta, const R2G2SolveStats& st,
                               const ConvGeom& g, const R2G2Options& s) {
  const int64_t n = sys / g.out_channels, c = sys % g.out_channels;
  const int D = static_cast<int>(g.patch_size()), P = static_cast<int>(g.positions());
  const T* Xg = cols + n * D * P;
  const T* X = Xg;
  int ld = P;
  if (L.tile) {
    T* tile = static_cast<T*>(v.tile);
    for (int64_t i = threadIdx.x; i < int64_t(D) * P; i += kSolveThreads)
      tile[(i / P) * L.ld + i % P] = Xg[i];
    X = tile;
    ld = L.ld;
  }
  const T* sc = sigma + c * D;
  const T* ec = eps + c * D;
  // rhs = Xᵀ (s ⊙ eps) into r; trace(K) = Σ_d s_d² |X_d|².
  double tr = 0;
  for (int d = threadIdx.x; d < D; d += kSolveThreads) {
    const double sd = sc[d];
    v.work[d] = sd * static_cast<double>(ec[d]);
    double row = 0;
    for (int q = 0; q < P; ++q) {
      const double xv = Xg[int64_t(d) * P + q];
      row += xv * xv;
    }
    tr += sd * sd * row;
  }
  __syncthreads();
  const double trace = block_sum(tr, v.red);
  cols_times(X, ld, D, P, v.work, v.r);
  const KApply<T> apply{X, ld, D, P, sc, v.work};
  int iterations = 0;
  double rel = 0;
  block_cg(apply, v, P, L.cap, trace, s, iterations, rel);
  for (int q = threadIdx.x; q < P; q += kSolveThreads) beta[sys * P + q] = static_cast<T>(v.x[q]);
  double star_sq = 0;
  const bool paper = s.solver == R2G2Solver::paper;
  if (st.eps_star_sq && (iterations > 0 || paper)) {  // else x = 0; the paper's x0 = rhs is not
    apply(v.x, v.ap);
    star_sq = block_dot(v.x, v.ap, P, v.red);  // |s ⊙ X beta|² = betaᵀ K beta
  }
  write_stats(st, sys, iterations, rel, star_sq);
}

// Blocks take systems blockIdx.x, blockIdx.x + gridDim.x, ...: one each when the grid
// covers every system, several when their state lives in `scratch`, which has a slot per
// block.
template <class T>
__global__ void __launch_bounds__(kSolveThreads)
    solve_m_kernel(const T* cols, const T* sigma, const T* eps, T* beta, R2G2SolveStats st, ConvGeom g,
                   R2G2Options s, SolveLayout L, double* scratch) {
  R2G2_DYNAMIC_SHARED(double, smem);
  const SolvePtrs v = carve(L, smem, scratch + size_t(blockIdx.x) * L.slot_doubles());
  const int64_t systems = g.images * g.out_channels;
  for (int64_t sys = blockIdx.x; sys < systems; sys += gridDim.x) {
    solve_m_system(v, L, sys, cols, sigma, eps, beta, st, g, s);
    __syncthreads();  // the next system overwrites this one's state
  }
}

// gram[n, i, j] = Σ_q X_n[i, q] X_n[j, q] in double.
template <class T>
__global__ void gram_kernel(const T* cols, double* gram, int64_t images, int64_t D, int64_t P) {
  const int64_t total = images * D * D;
  for (int64_t idx = global_thread(); idx < total; idx += grid_threads()) {
    const int64_t n = idx / (D * D), i = (idx / D) % D, j = idx % D;
    const T* a = cols + (n * D + i) * P;
    const T* b = cols + (n * D + j) * P;
    double acc = 0;
    for (int64_t q = 0; q < P; ++q) acc += static_cast<double>(a[q]) * static_cast<double>(b[q]);
    gram[idx] = acc;
  }
}

template <class T>
__device__ void solve_d_system(const SolvePtrs& v, const SolveLayout& L, int64_t sys, const double* gram,
                               const T* sigma, const T* eps, T* eps_star, const R2G2SolveStats& st,
                               const ConvGeom& g, const R2G2Options& s) {
  const int64_t n = sys / g.out_channels, c = sys % g.out_channels;
  const int D = static_cast<int>(g.patch_size());
  const double* Gg = gram + n * D * D;
  const double* G = Gg;
  int ld = D;
  if (L.tile) {
    double* tile = static_cast<double*>(v.tile);
    for (int64_t i = threadIdx.x; i < int64_t(D) * D; i += kSolveThreads)
      tile[(i / D) * L.ld + i % D] = Gg[i];
    G = tile;
    ld = L.ld;
  }
  const T* sc = sigma + c * D;
  const T* ec = eps + c * D;
  double tr = 0;
  for (int i = threadIdx.x; i < D; i += kSolveThreads) {
    const double si = sc[i];
    v.x[i] = static_cast<double>(ec[i]);
    tr += si * si * Gg[int64_t(i) * D + i];
  }
  __syncthreads();
  const double trace = block_sum(tr, v.red);
  const MApply<T> apply{G, ld, D, sc, v.work};
  apply(v.x, v.r);  // rhs = M eps
  int iterations = 0;
  double rel = 0;
  R2G2Options cg = s;
  cg.solver = R2G2Solver::cg;  // the paper's solver exists only in m-space
  block_cg(apply, v, D, L.cap, trace, cg, iterations, rel);
  for (int i = threadIdx.x; i < D; i += kSolveThreads) eps_star[sys * D + i] = static_cast<T>(v.x[i]);
  write_stats(st, sys, iterations, rel, block_dot(v.x, v.x, D, v.red));
}

template <class T>
__global__ void __launch_bounds__(kSolveThreads)
    solve_d_kernel(const double* gram, const T* sigma, const T* eps, T* eps_star, R2G2SolveStats st,
                   ConvGeom g, R2G2Options s, SolveLayout L, double* scratch) {
  R2G2_DYNAMIC_SHARED(double, smem);
  const SolvePtrs v = carve(L, smem, scratch + size_t(blockIdx.x) * L.slot_doubles());
  const int64_t systems = g.images * g.out_channels;
  for (int64_t sys = blockIdx.x; sys < systems; sys += gridDim.x) {
    solve_d_system(v, L, sys, gram, sigma, eps, eps_star, st, g, s);
    __syncthreads();  // the next system overwrites this one's state
  }
}

}  // namespace r2g2::kernels::cuda::r2g2_conv_detail
