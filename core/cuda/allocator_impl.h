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

  // Private pools for CUDA graphs (core/cuda/graph.cpp). While a pool captures, the blocks
  // handed out come from its free lists, else from the shared cache (they then belong to
  // the pool), and every block freed goes to it; a block of a pool returns to that pool
  // whenever it is freed. So the addresses a graph captured are never handed to another
  // user between its replays. Needs caching (r2g2::Error otherwise).
  int create_pool();
  // The pool that serves allocations from now on; 0: the shared cache.
  void set_capture_pool(int pool);
  // The graph is gone: the pool's free blocks join the shared cache, its live blocks
  // follow when they are freed.
  void release_pool(int pool) noexcept;

 private:
  struct Block {
    size_t size = 0;  // the size class (or the exact size when caching is off)
    int device = 0;
    int pool = 0;  // 0: the shared cache
  };
  using FreeLists = std::unordered_map<size_t, std::vector<void*>>;  // size class -> blocks
  // A pool's free blocks: the first of `lists` with a block of `size`, or null.
  static void* pop_locked(FreeLists& lists, size_t size);
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
  struct Pool {
    int device = 0;  // the device it was made on
    FreeLists lists;
  };
  std::unordered_map<int, Pool> pools_;  // live graph pools by id
  int next_pool_ = 1;
  int capture_pool_ = 0;
  AllocatorStats stats_;
};

// The process-wide allocator. Deliberately never destroyed: tensors held in static objects
// are freed after main returns, and must still find it.
CachingAllocator& allocator();

}  // namespace r2g2::cuda_backend::detail
