#pragma once
// Deterministic sums in double, shared by reduce.cu and softmax.cu. Work is split into
// chunks whose boundaries depend only on the sizes; each chunk is summed by a fixed tree
// (group_reduce.cuh) and the chunk sums are summed again the same way, so a result is
// the same bits on every run. No atomics touch a value.
#include <algorithm>
#include <cstdint>

#include "r2g2/kernels/cuda/group_reduce.cuh"
#include "r2g2/kernels/cuda/launch.cuh"
#include "r2g2/kernels/cuda/scratch.cuh"

namespace r2g2::kernels::cuda {

constexpr int64_t kRowChunk = 8192;      // terms summed by one block in the first pass
constexpr int64_t kShortRow = 1024;      // rows up to this length get one warp each
constexpr int64_t kColTarget = 1 << 16;  // column sums: aim for this many threads
constexpr int64_t kMinColChunk = 32;     // ... but give each at least this many terms

// Unit u = o * chunks + c sums x[o * r + j] for j in chunk c of row o into y[u]. GROUP
// threads share a unit (a warp, or the whole 256-thread block).
template <int GROUP, class In, class Out>
__global__ void row_sum_kernel(const In* __restrict__ x, Out* __restrict__ y, int64_t units, int64_t r,
                               int64_t chunk, int64_t chunks) {
  __shared__ double smem[GROUP / kWarp];
  constexpr int kGroups = kThreads / GROUP;
  const int group = threadIdx.x / GROUP, lane = threadIdx.x % GROUP;
  // The loop bound is the same for every thread of a group, as group_all_reduce requires.
  for (int64_t u = static_cast<int64_t>(blockIdx.x) * kGroups + group; u < units;
       u += static_cast<int64_t>(gridDim.x) * kGroups) {
    const int64_t o = u / chunks, c = u - o * chunks;
    const int64_t begin = c * chunk, end = std::min(r, begin + chunk);
    const In* row = x + o * r;
    double acc = 0;
    for (int64_t j = begin + lane; j < end; j += GROUP) acc += static_cast<double>(row[j]);
    acc = group_all_reduce<GROUP>(acc, SumOp{}, smem);
    if (lane == 0) y[u] = static_cast<Out>(acc);
  }
}

// y[o] = sum_j x[o * r + j] over a contiguous [outer, r] buffer.
template <class In, class Out>
void row_sum(const In* x, Out* y, int64_t outer, int64_t r) {
  if (outer <= 0) return;
  if (r <= kShortRow) {
    constexpr int kGroups = kThreads / kWarp;
    R2G2_LAUNCH((row_sum_kernel<kWarp, In, Out>), blocks_for(outer, kGroups), kThreads, x, y, outer, r,
                std::max<int64_t>(r, 1), int64_t{1});
    return;
  }
  const int64_t chunks = (r + kRowChunk - 1) / kRowChunk;
  if (chunks == 1) {
    R2G2_LAUNCH((row_sum_kernel<kThreads, In, Out>), blocks_for(outer, 1), kThreads, x, y, outer, r, r,
                int64_t{1});
    return;
  }
  DeviceScratch<double> partial(outer * chunks);
  R2G2_LAUNCH((row_sum_kernel<kThreads, In, double>), blocks_for(outer * chunks, 1), kThreads, x,
              partial.get(), outer * chunks, r, kRowChunk, chunks);
  row_sum<double, Out>(partial.get(), y, outer, chunks);
}

// Thread t = (o * chunks + c) * inner + i sums x[(o * r + j) * inner + i] over chunk c.
template <class In, class Out>
__global__ void col_sum_kernel(const In* __restrict__ x, Out* __restrict__ y, int64_t outer, int64_t r,
                               int64_t inner, int64_t chunk, int64_t chunks) {
  const int64_t n = outer * chunks * inner;
  for (int64_t t = global_thread(); t < n; t += grid_threads()) {
    const int64_t i = t % inner, q = t / inner;
    const int64_t c = q % chunks, o = q / chunks;
    const int64_t begin = c * chunk, end = std::min(r, begin + chunk);
    // Indexed from x inside the loop: an empty input may come as a null x, and null plus an
    // offset is undefined even when nothing is read.
    const int64_t base = o * r * inner + i;
    double acc = 0;
    for (int64_t j = begin; j < end; ++j) acc += static_cast<double>(x[base + j * inner]);
    y[t] = static_cast<Out>(acc);
  }
}

// y[o, i] = sum_j x[o, j, i] over a contiguous [outer, r, inner] buffer, one thread per
// output (coalesced along i). Few outputs over a long axis split the axis into chunks.
template <class In, class Out>
void col_sum(const In* x, Out* y, int64_t outer, int64_t r, int64_t inner) {
  const int64_t outputs = outer * inner;
  if (outputs <= 0) return;
  int64_t chunks = 1;
  if (outputs < kColTarget)
    chunks =
        std::clamp<int64_t>((kColTarget + outputs - 1) / outputs, 1, std::max<int64_t>(r / kMinColChunk, 1));
  const int64_t chunk = std::max<int64_t>((r + chunks - 1) / chunks, 1);
  chunks = std::max<int64_t>((r + chunk - 1) / chunk, 1);
  if (chunks == 1) {
    R2G2_LAUNCH((col_sum_kernel<In, Out>), blocks_for(outputs), kThreads, x, y, outer, r, inner, chunk,
                chunks);
    return;
  }
  DeviceScratch<double> partial(outer * chunks * inner);
  R2G2_LAUNCH((col_sum_kernel<In, double>), blocks_for(outer * chunks * inner), kThreads, x, partial.get(),
              outer, r, inner, chunk, chunks);
  col_sum<double, Out>(partial.get(), y, outer, chunks, inner);
}

// *out (device) = sum over i in [0, n) of f(i), with f a device functor returning double.
template <class F>
__global__ void terms_sum_kernel(F f, double* __restrict__ y, int64_t n, int64_t chunk, int64_t chunks) {
  __shared__ double smem[kThreads / kWarp];
  for (int64_t u = blockIdx.x; u < chunks; u += gridDim.x) {
    const int64_t begin = u * chunk, end = std::min(n, begin + chunk);
    double acc = 0;
    for (int64_t j = begin + threadIdx.x; j < end; j += kThreads) acc += f(j);
    acc = group_all_reduce<kThreads>(acc, SumOp{}, smem);
    if (threadIdx.x == 0) y[u] = acc;
  }
}

template <class F>
void sum_terms(const F& f, int64_t n, double* out) {
  if (n <= 0) {
    R2G2_CUDA_CHECK(cudaMemsetAsync(out, 0, sizeof(double), current_stream()));  // all-zero bits: 0.0
    return;
  }
  const int64_t chunks = (n + kRowChunk - 1) / kRowChunk;
  if (chunks == 1) {
    R2G2_LAUNCH(terms_sum_kernel<F>, 1, kThreads, f, out, n, n, int64_t{1});
    return;
  }
  DeviceScratch<double> partial(chunks);
  R2G2_LAUNCH(terms_sum_kernel<F>, blocks_for(chunks, 1), kThreads, f, partial.get(), n, kRowChunk, chunks);
  row_sum<double, double>(partial.get(), out, 1, chunks);
}

}  // namespace r2g2::kernels::cuda
