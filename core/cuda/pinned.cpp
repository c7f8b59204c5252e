// Pinned host buffers for batch uploads.
#include "r2g2/core/cuda/pinned.h"

#include <cuda_runtime.h>

#include <utility>

#include "r2g2/core/cuda_backend.h"
#include "r2g2/core/error.h"
#include "r2g2/kernels/cuda/check.h"
#include "r2g2/kernels/cuda/stream.h"

namespace r2g2::cuda_backend {

PinnedBuffer::~PinnedBuffer() { release(); }

PinnedBuffer::PinnedBuffer(PinnedBuffer&& other) noexcept
    : host_(std::exchange(other.host_, nullptr)),
      capacity_(std::exchange(other.capacity_, 0)),
      done_(std::exchange(other.done_, nullptr)),
      pending_(std::exchange(other.pending_, false)) {}

PinnedBuffer& PinnedBuffer::operator=(PinnedBuffer&& other) noexcept {
  if (this != &other) {
    release();
    host_ = std::exchange(other.host_, nullptr);
    capacity_ = std::exchange(other.capacity_, 0);
    done_ = std::exchange(other.done_, nullptr);
    pending_ = std::exchange(other.pending_, false);
  }
  return *this;
}

void PinnedBuffer::release() noexcept {
  // Errors cannot be reported from here; the memory must not be freed under a running copy.
  if (done_) {
    if (pending_ && cudaEventSynchronize(done_) != cudaSuccess) cudaGetLastError();
    if (cudaEventDestroy(done_) != cudaSuccess) cudaGetLastError();
  }
  if (host_ && cudaFreeHost(host_) != cudaSuccess) cudaGetLastError();
  host_ = nullptr;
  done_ = nullptr;
  capacity_ = 0;
  pending_ = false;
}

void PinnedBuffer::reserve(size_t bytes) {
  if (bytes <= capacity_) return;
  R2G2_CHECK(device_count() > 0, "PinnedBuffer: CUDA cannot be used: ", unavailable_reason());
  wait();
  if (host_) {
    R2G2_CUDA_CHECK(cudaFreeHost(host_));
    host_ = nullptr;
    capacity_ = 0;
  }
  R2G2_CUDA_CHECK(cudaMallocHost(&host_, bytes));
  capacity_ = bytes;
  if (!done_) R2G2_CUDA_CHECK(cudaEventCreateWithFlags(&done_, cudaEventDisableTiming));
}

void* PinnedBuffer::host(size_t bytes) {
  reserve(bytes);
  wait();
  return host_;
}

void PinnedBuffer::upload(void* device_dst, size_t bytes) {
  R2G2_CHECK(bytes <= capacity_, "PinnedBuffer::upload: ", bytes, " bytes requested from a buffer of ",
             capacity_);
  if (bytes == 0) return;
  cudaStream_t stream = kernels::cuda::current_stream();
  R2G2_CUDA_CHECK(cudaMemcpyAsync(device_dst, host_, bytes, cudaMemcpyHostToDevice, stream));
  R2G2_CUDA_CHECK(cudaEventRecord(done_, stream));
  pending_ = true;
}

void PinnedBuffer::wait() {
  if (!pending_) return;
  pending_ = false;
  R2G2_CUDA_CHECK(cudaEventSynchronize(done_));
}

}  // namespace r2g2::cuda_backend
