#pragma once
// Internal to core/cuda: the caching allocator behind cuda_backend::malloc/free.
#include <atomic>
#include <cstddef>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "r2g2/core/cuda/allocator.h"
#include "r2g2/kernels/cuda/cuda_api.h"

namespace r2g2::cuda_backend::detail {

class CachingAllocator {
 public:
  CachingAllocator();
  // Throws one r2g2::Error naming the size, the pool state and the device's free memory when
  // the device is out of memory even after the releasers have run, the cache has been
  // emptied and cudaMalloc tried once more; other cudaMalloc errors are named as such.
  void* allocate(size_t bytes);
  // Never throws: it runs from tensor destructors.
  void release(void* p, size_t bytes) noexcept;
  void empty_cache();
  AllocatorStats stats();
  bool caching() const { return caching_.load(std::memory_order_relaxed); }
  // Turning caching off empties the cache. Blocks already handed out keep working either way.
  void set_caching(bool on);
  void add_releaser(MemoryReleaser release);

 private:
  struct Block {
    size_t size = 0;  // the size class (or the exact size when caching is off)
    int device = 0;
  };
  using FreeLists = std::unordered_map<size_t, std::vector<void*>>;  // size class -> blocks
  // Frees the cached blocks of `device` (all devices when -1); the caller holds mutex_.
  void free_cached_locked(int device);
  FreeLists& lists_for(int device);
  // p, from cudaMalloc or a free list, becomes a live block; the caller holds mutex_.
  void* hand_out_locked(void* p, size_t size, int device);
  // Throws the error allocate() documents; the caller holds mutex_ (for a consistent report).
  [[noreturn]] void fail_locked(cudaError_t status, size_t bytes, size_t size, int device);

  std::mutex mutex_;
  std::atomic<bool> caching_{true};
  std::vector<MemoryReleaser> releasers_;  // guarded by mutex_
  std::vector<FreeLists> free_lists_;      // by device
  std::unordered_map<void*, Block> live_;
  AllocatorStats stats_;
};

// The process-wide allocator. Deliberately never destroyed: tensors held in static objects
// are freed after main returns, and must still find it.
CachingAllocator& allocator();

}  // namespace r2g2::cuda_backend::detail
