#pragma once
// Page-locked host memory for batch uploads. A copy from pinned memory is a true
// asynchronous DMA on r2g2's stream, so the host can prepare the next batch while the
// device works on this one. The buffer remembers its last upload: host() waits for it to
// finish before handing the memory out again, so a pending copy is never overwritten.
#include <cstddef>

struct CUevent_st;  // cudaEvent_t without pulling cuda_runtime.h into every includer

namespace r2g2::cuda_backend {

class PinnedBuffer {
 public:
  PinnedBuffer() = default;
  explicit PinnedBuffer(size_t bytes) { reserve(bytes); }
  ~PinnedBuffer();
  PinnedBuffer(PinnedBuffer&& other) noexcept;
  PinnedBuffer& operator=(PinnedBuffer&& other) noexcept;
  PinnedBuffer(const PinnedBuffer&) = delete;
  PinnedBuffer& operator=(const PinnedBuffer&) = delete;

  // At least `bytes` of host memory, safe to write: waits for the previous upload.
  void* host(size_t bytes);
  // Queues a copy of the first `bytes` of host memory to `device_dst` on the current stream
  // and returns at once.
  void upload(void* device_dst, size_t bytes);
  // Blocks until the last upload has finished.
  void wait();
  size_t capacity() const { return capacity_; }

 private:
  void reserve(size_t bytes);
  void release() noexcept;
  void* host_ = nullptr;
  size_t capacity_ = 0;
  CUevent_st* done_ = nullptr;
  bool pending_ = false;
};

}  // namespace r2g2::cuda_backend
