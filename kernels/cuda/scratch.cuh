#pragma once
// Temporary device memory for a kernel's intermediate results, from r2g2's caching
// allocator (so a per-call scratch buffer costs no cudaMalloc after the first call).
// Freed when the object dies; the memory is only reused by work queued later on the same
// stream, which runs after the kernels that use it now.
#include <cstddef>
#include <cstdint>

#include "r2g2/kernels/cuda/check.h"
#include "r2g2/kernels/cuda/cuda_api.h"
#include "r2g2/kernels/cuda/stream.h"
#include "r2g2/kernels/runtime/device_memory.h"

namespace r2g2::kernels::cuda {

template <class T>
class DeviceScratch {
 public:
  explicit DeviceScratch(int64_t count)
      : count_(count),
        bytes_(static_cast<size_t>(count > 0 ? count : 1) * sizeof(T)),
        data_(static_cast<T*>(runtime::device_allocate(bytes_))) {}
  ~DeviceScratch() { runtime::device_release(data_, bytes_); }
  DeviceScratch(const DeviceScratch&) = delete;
  DeviceScratch& operator=(const DeviceScratch&) = delete;
  T* get() const { return data_; }
  int64_t count() const { return count_; }
  // Sets every byte to `byte` (0xFF makes an all-ones unsigned sentinel).
  void memset(int byte) { R2G2_CUDA_CHECK(cudaMemsetAsync(data_, byte, bytes_, current_stream())); }

 private:
  int64_t count_;
  size_t bytes_;
  T* data_;
};

// Copies `count` values from the device to the host, waiting for them (and so for every
// kernel queued before: their errors surface here).
template <class T>
void read_back(T* host, const T* device, int64_t count) {
  runtime::copy_to_host(host, device, static_cast<size_t>(count) * sizeof(T));
}

// The "no error" value of an unsigned long long error flag: atomicMin(flag, position)
// leaves the first offending position, whatever order the threads ran in.
constexpr unsigned long long kNoError = ~0ull;

}  // namespace r2g2::kernels::cuda
