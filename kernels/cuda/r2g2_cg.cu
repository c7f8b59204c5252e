// Batched R2-G2 CG for a Gaussian latent followed by a shared linear map, one thread
// block per system (see kernels/cuda/r2g2_cg.h and the CPU reference r2g2_cg.cpp, whose
// arithmetic this follows step for step, in float64).
#include <algorithm>
#include <vector>

#include "kernels/cpu/r2g2_cg.h"
#include "kernels/cuda/check.h"
#include "kernels/cuda/r2g2_cg.h"
#include "kernels/cuda/stream.h"

namespace r2g2::kernels::cuda {

namespace {

constexpr int kThreads = 256;
constexpr int kWarps = kThreads / 32;

__device__ double warp_sum(double v) {
  for (int off = 16; off > 0; off >>= 1) v += __shfl_down_sync(0xffffffffu, v, off);
  return v;
}

// Sum over the block in a fixed order (deterministic); every thread gets the result.
__device__ double block_sum(double v, double* red) {
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

__device__ double block_dot(const double* a, const double* b, int n, double* red) {
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

template <class T>
__global__ void latent_cg_kernel(LatentSolve sv, const T* W, const T* sigma, const T* eps, T* eps_star,
                                 int32_t* iterations, double* residual) {
  extern __shared__ double smem[];
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
  const int64_t n = blockIdx.x;

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
  int it = 0;
  double rel = 0;
  if (bnorm == 0.0) {
    for (int i = threadIdx.x; i < k; i += blockDim.x) x[i] = 0.0;
    __syncthreads();
  } else {
    if (sv.paper) {
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
    while (it < sv.max_iters) {
      if (sv.paper) {
        double worst = 0;
        for (int i = threadIdx.x; i < k; i += blockDim.x) worst = fmax(worst, fabs(r[i]));
        // max via the sum machinery: reduce the per-thread maxima one warp at a time
        for (int off = 16; off > 0; off >>= 1) worst = fmax(worst, __shfl_down_sync(0xffffffffu, worst, off));
        if ((threadIdx.x & 31) == 0) red[threadIdx.x >> 5] = worst;
        __syncthreads();
        if (threadIdx.x == 0) {
          double w = 0;
          for (int j = 0; j < kWarps; ++j) w = fmax(w, red[j]);
          red[kWarps] = w;
        }
        __syncthreads();
        const double all = red[kWarps];
        __syncthreads();
        if (all < sv.abs_tol) break;
      } else if (sqrt(rr) <= sv.tol * bnorm) {
        break;
      }
      apply(sv, W, s, p, Mp, u, t);
      const double pMp = block_dot(p, Mp, k, red);
      if (!(pMp > 0.0) || !isfinite(pMp)) break;
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
    apply(sv, W, s, x, Mp, u, t);  // the true residual
    double part = 0;
    for (int i = threadIdx.x; i < k; i += blockDim.x) part += (b[i] - Mp[i]) * (b[i] - Mp[i]);
    rel = sqrt(block_sum(part, red)) / bnorm;
  }
  if (!sv.d_space) {  // eps* = s . (W^T beta)
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

size_t shared_bytes(const LatentSolve& s) {
  const size_t k = s.d_space ? s.D : s.m, wide = std::max(s.m, s.D);
  return sizeof(double) * (2 * static_cast<size_t>(s.D) + 5 * k + 2 * wide + kWarps + 1);
}

}  // namespace

template <class T>
void r2g2_latent_cg(const LatentSolve& s, const T* W, const T* sigma, const T* eps, T* eps_star,
                    int32_t* iterations, double* residual) {
  if (s.systems <= 0) return;
  const size_t bytes = shared_bytes(s);
  int device = 0, limit = 0;
  R2G2_CUDA_CHECK(cudaGetDevice(&device));
  R2G2_CUDA_CHECK(cudaDeviceGetAttribute(&limit, cudaDevAttrMaxSharedMemoryPerBlockOptin, device));
  if (bytes > static_cast<size_t>(limit)) {
    // Too large to keep on chip: solve on the CPU reference (same arithmetic), correct if slow.
    const size_t nW = static_cast<size_t>(s.m) * s.D, nS = static_cast<size_t>(s.systems) * s.D;
    std::vector<T> hW(nW), hs(nS), he(nS), hout(nS);
    std::vector<int32_t> hit(static_cast<size_t>(s.systems));
    std::vector<double> hres(static_cast<size_t>(s.systems));
    cudaStream_t st = current_stream();
    R2G2_CUDA_CHECK(cudaMemcpyAsync(hW.data(), W, nW * sizeof(T), cudaMemcpyDeviceToHost, st));
    R2G2_CUDA_CHECK(cudaMemcpyAsync(hs.data(), sigma, nS * sizeof(T), cudaMemcpyDeviceToHost, st));
    R2G2_CUDA_CHECK(cudaMemcpyAsync(he.data(), eps, nS * sizeof(T), cudaMemcpyDeviceToHost, st));
    R2G2_CUDA_CHECK(cudaStreamSynchronize(st));
    cpu::r2g2_latent_cg<T>(s, hW.data(), hs.data(), he.data(), hout.data(), hit.data(), hres.data());
    R2G2_CUDA_CHECK(cudaMemcpyAsync(eps_star, hout.data(), nS * sizeof(T), cudaMemcpyHostToDevice, st));
    if (iterations)
      R2G2_CUDA_CHECK(
          cudaMemcpyAsync(iterations, hit.data(), hit.size() * sizeof(int32_t), cudaMemcpyHostToDevice, st));
    if (residual)
      R2G2_CUDA_CHECK(
          cudaMemcpyAsync(residual, hres.data(), hres.size() * sizeof(double), cudaMemcpyHostToDevice, st));
    R2G2_CUDA_CHECK(cudaStreamSynchronize(st));  // the host buffers die here
    return;
  }
  if (bytes > 48 * 1024)
    R2G2_CUDA_CHECK(cudaFuncSetAttribute(latent_cg_kernel<T>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                         static_cast<int>(bytes)));
  latent_cg_kernel<T><<<static_cast<unsigned>(s.systems), kThreads, bytes, current_stream()>>>(
      s, W, sigma, eps, eps_star, iterations, residual);
  R2G2_CUDA_LAUNCH_CHECK();
}

template void r2g2_latent_cg<float>(const LatentSolve&, const float*, const float*, const float*, float*,
                                    int32_t*, double*);
template void r2g2_latent_cg<double>(const LatentSolve&, const double*, const double*, const double*, double*,
                                     int32_t*, double*);

}  // namespace r2g2::kernels::cuda
