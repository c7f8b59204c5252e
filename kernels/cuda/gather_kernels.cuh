#pragma once
// Device code of kernels/cuda/gather.cu (the contracts are in kernels/gather.inc). A
// header, so that the host emulator runs it too; only gather.cu includes it.
#include <cstdint>

#include "r2g2/kernels/cuda/launch.cuh"

namespace r2g2::kernels::cuda::gather_detail {

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

}  // namespace r2g2::kernels::cuda::gather_detail
