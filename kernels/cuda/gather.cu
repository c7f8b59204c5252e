// Row gather and its deterministic backward.
//
// gather_rows checks its indices on the device (they live there): a bad index is never
// dereferenced, its output row is zero-filled, and the first bad position is recorded with
// atomicMin in a flag that is read back before returning, so the call throws exactly the
// CPU reference's error. The read-back synchronises once per gather, a mini-batch worth.
//
// scatter_add_rows must add the rows of a repeated index in order of i, like the CPU
// reference, so that results never depend on thread order. It stably sorts (index,
// position) pairs with CUB's radix sort; one thread per (distinct index, column) then
// adds that index's gradient rows in increasing position. Its indices come from a
// gather_rows that validated them; negative ones are skipped (the row count, needed for
// the upper bound, is not passed).
#include <climits>
#include <cub/device/device_radix_sort.cuh>

#include "kernels/cuda/gather.h"
#include "kernels/cuda/launch.cuh"
#include "kernels/cuda/scratch.cuh"

namespace r2g2::kernels::cuda {

namespace {

__global__ void check_index_kernel(const int32_t* __restrict__ index, int64_t n_index, int64_t rows,
                                   unsigned long long* __restrict__ bad) {
  for (int64_t i = global_thread(); i < n_index; i += grid_threads()) {
    const int32_t k = index[i];
    if (k < 0 || k >= rows) atomicMin(bad, static_cast<unsigned long long>(i));
  }
}

template <class T>
__global__ void gather_rows_kernel(const T* __restrict__ x, const int32_t* __restrict__ index,
                                   T* __restrict__ y, int64_t n_index, int64_t rows, int64_t row_len) {
  const int64_t n = n_index * row_len;
  for (int64_t t = global_thread(); t < n; t += grid_threads()) {
    const int64_t i = t / row_len, c = t - i * row_len;
    const int32_t k = index[i];
    y[t] = (k >= 0 && k < rows) ? x[static_cast<int64_t>(k) * row_len + c] : T(0);
  }
}

__global__ void iota_kernel(int32_t* __restrict__ out, int64_t n) {
  for (int64_t i = global_thread(); i < n; i += grid_threads()) out[i] = static_cast<int32_t>(i);
}

// Thread (s, c) with s the first sorted slot of its index adds gy rows of all slots with
// that index, in slot order = original order (the sort is stable), into gx[index, c].
template <class T>
__global__ void segment_add_kernel(const T* __restrict__ gy, const int32_t* __restrict__ keys,
                                   const int32_t* __restrict__ positions, T* __restrict__ gx, int64_t n_index,
                                   int64_t row_len) {
  const int64_t n = n_index * row_len;
  for (int64_t t = global_thread(); t < n; t += grid_threads()) {
    const int64_t s = t / row_len, c = t - s * row_len;
    const int32_t k = keys[s];
    if (k < 0 || (s > 0 && keys[s - 1] == k)) continue;
    T* dst = gx + static_cast<int64_t>(k) * row_len + c;
    T acc = *dst;
    for (int64_t q = s; q < n_index && keys[q] == k; ++q)
      acc += gy[static_cast<int64_t>(positions[q]) * row_len + c];
    *dst = acc;
  }
}

}  // namespace

template <class T>
void gather_rows(const T* x, const int32_t* index, T* y, int64_t n_index, int64_t rows, int64_t row_len) {
  if (n_index <= 0) return;
  DeviceScratch<unsigned long long> bad(1);
  bad.memset(0xFF);  // kNoError
  R2G2_LAUNCH(check_index_kernel, blocks_for(n_index), kThreads, index, n_index, rows, bad.get());
  if (row_len > 0)
    R2G2_LAUNCH(gather_rows_kernel<T>, blocks_for(n_index * row_len), kThreads, x, index, y, n_index, rows,
                row_len);
  unsigned long long first_bad = kNoError;
  read_back(&first_bad, bad.get(), 1);
  if (first_bad != kNoError) {
    const int64_t i = static_cast<int64_t>(first_bad);
    int32_t k = 0;
    read_back(&k, index + i, 1);
    throw Error(::r2g2::detail::concat("gather_rows: index ", k, " at position ", i, " is outside [0, ", rows,
                                       ") for a tensor of ", rows, " rows"));
  }
}

template <class T>
void scatter_add_rows(const T* gy, const int32_t* index, T* gx, int64_t n_index, int64_t row_len) {
  if (n_index <= 0 || row_len <= 0) return;
  R2G2_CHECK(n_index <= INT_MAX, "scatter_add_rows: ", n_index,
             " indices exceed the int32 positions of the sort");
  const int n = static_cast<int>(n_index);
  cudaStream_t stream = current_stream();
  DeviceScratch<int32_t> keys(n_index), positions_in(n_index), positions(n_index);
  R2G2_LAUNCH(iota_kernel, blocks_for(n_index), kThreads, positions_in.get(), n_index);
  size_t temp_bytes = 0;
  R2G2_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(nullptr, temp_bytes, index, keys.get(), positions_in.get(),
                                                  positions.get(), n, 0, 32, stream));
  DeviceScratch<unsigned char> temp(static_cast<int64_t>(temp_bytes));
  R2G2_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(temp.get(), temp_bytes, index, keys.get(),
                                                  positions_in.get(), positions.get(), n, 0, 32, stream));
  R2G2_LAUNCH(segment_add_kernel<T>, blocks_for(n_index * row_len), kThreads, gy, keys.get(), positions.get(),
              gx, n_index, row_len);
}

template void gather_rows<float>(const float*, const int32_t*, float*, int64_t, int64_t, int64_t);
template void gather_rows<double>(const double*, const int32_t*, double*, int64_t, int64_t, int64_t);
template void gather_rows<int32_t>(const int32_t*, const int32_t*, int32_t*, int64_t, int64_t, int64_t);
template void scatter_add_rows<float>(const float*, const int32_t*, float*, int64_t, int64_t);
template void scatter_add_rows<double>(const double*, const int32_t*, double*, int64_t, int64_t);

}  // namespace r2g2::kernels::cuda
