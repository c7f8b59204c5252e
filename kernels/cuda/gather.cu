// Row gather and its deterministic backward. Device code is in gather_kernels.cuh.
//
// gather_rows checks its indices on the device (they live there): a bad index is never
// dereferenced, its output row is zero-filled, and the first bad position is recorded with
// atomicMin in a flag that is read back before returning, so the call throws exactly the
// CPU reference's error. The read-back synchronises once per gather, a mini-batch worth.
//
// scatter_add_rows must add the rows of a repeated index in order of i, like the CPU
// reference, so that results never depend on thread order. It stably sorts (index,
// position) pairs (stable_sort_pairs below); one thread per (distinct index, column) then
// adds that index's gradient rows in increasing position. Its indices come from a
// gather_rows that validated them; negative ones are skipped (the row count, needed for
// the upper bound, is not passed).
#include <climits>

#include "r2g2/kernels/cuda/gather.h"
#include "r2g2/kernels/cuda/gather_kernels.cuh"
#include "r2g2/kernels/cuda/scratch.cuh"

#ifdef R2G2_CUDA_EMULATION
#include <algorithm>
#include <numeric>
#include <vector>

#include "r2g2/kernels/runtime/device_memory.h"
#else
#include <cub/device/device_radix_sort.cuh>
#endif

namespace r2g2::kernels::cuda {

namespace gather_detail {

// Sorts the n device-resident pairs (keys_in[i], values_in[i]) by key, keeping pairs with
// equal keys in their input order, into keys_out / values_out. On a device this is CUB's
// radix sort over all 32 key bits (stable, signed keys in numeric order). The emulator has
// no CUB, so there the pairs are sorted on the host with std::stable_sort, which has the
// same contract.
void stable_sort_pairs(const int32_t* keys_in, int32_t* keys_out, const int32_t* values_in,
                       int32_t* values_out, int n) {
#ifdef R2G2_CUDA_EMULATION
  const auto count = static_cast<size_t>(n);
  std::vector<int32_t> keys(count), values(count), order(count), sorted_keys(count), sorted_values(count);
  read_back(keys.data(), keys_in, n);
  read_back(values.data(), values_in, n);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int32_t a, int32_t b) { return keys[a] < keys[b]; });
  for (size_t s = 0; s < count; ++s) {
    sorted_keys[s] = keys[order[s]];
    sorted_values[s] = values[order[s]];
  }
  runtime::copy_to_device(keys_out, sorted_keys.data(), count * sizeof(int32_t));
  runtime::copy_to_device(values_out, sorted_values.data(), count * sizeof(int32_t));
#else
  cudaStream_t stream = current_stream();
  size_t temp_bytes = 0;
  R2G2_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(nullptr, temp_bytes, keys_in, keys_out, values_in,
                                                  values_out, n, 0, 32, stream));
  DeviceScratch<unsigned char> temp(static_cast<int64_t>(temp_bytes));
  R2G2_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(temp.get(), temp_bytes, keys_in, keys_out, values_in,
                                                  values_out, n, 0, 32, stream));
#endif
}

}  // namespace gather_detail

using namespace gather_detail;

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
  DeviceScratch<int32_t> keys(n_index), positions_in(n_index), positions(n_index);
  R2G2_LAUNCH(iota_kernel, blocks_for(n_index), kThreads, positions_in.get(), n_index);
  stable_sort_pairs(index, keys.get(), positions_in.get(), positions.get(), static_cast<int>(n_index));
  R2G2_LAUNCH(segment_add_kernel<T>, blocks_for(n_index * row_len), kThreads, gy, keys.get(), positions.get(),
              gx, n_index, row_len);
}

template void gather_rows<float>(const float*, const int32_t*, float*, int64_t, int64_t, int64_t);
template void gather_rows<double>(const double*, const int32_t*, double*, int64_t, int64_t, int64_t);
template void gather_rows<int32_t>(const int32_t*, const int32_t*, int32_t*, int64_t, int64_t, int64_t);
template void scatter_add_rows<float>(const float*, const int32_t*, float*, int64_t, int64_t);
template void scatter_add_rows<double>(const double*, const int32_t*, double*, int64_t, int64_t);

}  // namespace r2g2::kernels::cuda
