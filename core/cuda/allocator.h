#pragma once
// The CUDA caching allocator's public face: counters for tests and benchmarks, and a way
// to hand cached memory back to the driver.
//
// Blocks are kept in exact size classes (a request is rounded up to its class, see
// allocator_round_size) per device. Freeing a block only returns it to its class's free
// list; the next request of that class reuses it without calling cudaMalloc. Reuse is safe
// without events because r2g2 queues all its device work on one stream per device
// (kernels/cuda/stream.h): work that used the block is ordered before work of its next user.
//
// R2G2_CUDA_NO_CACHE=1 in the environment turns caching off (every malloc is a cudaMalloc of
// the exact size, every free a cudaFree) so that compute-sanitizer sees each tensor's
// true bounds.
#include <cstddef>
#include <cstdint>

namespace r2g2::cuda_backend {

struct AllocatorStats {
  uint64_t allocations = 0;        // malloc() requests served
  uint64_t cache_hits = 0;         // ... of which came from a free list
  uint64_t cuda_malloc_calls = 0;  // cudaMalloc calls made (failed ones included)
  uint64_t cuda_free_calls = 0;    // cudaFree calls made
  size_t bytes_in_use = 0;         // rounded bytes handed out and not yet freed
  size_t bytes_cached = 0;         // rounded bytes sitting in free lists
  size_t peak_bytes_in_use = 0;
  size_t bytes_in_graph_pools = 0;  // rounded bytes free in CUDA graphs' private pools
};

// Totals over all devices.
AllocatorStats allocator_stats();
// Returns every cached block of every device to the driver (synchronises the devices).
void empty_cache();
// The size class a request of `bytes` is served from: multiples of 512 B up to 1 MiB, then
// four classes per power of two (at most 25% slack).
size_t allocator_round_size(size_t bytes);
bool allocator_caching_enabled();

// Device memory that r2g2 holds outside the cache but can do without for a while (the
// grow-only convolution scratch buffers). When a cudaMalloc runs out of memory, malloc
// calls every registered releaser, which hands its memory back through
// cuda_backend::free, then returns the cache to the driver and tries once more; so one
// pool's idle memory never makes the other fail. A releaser runs on the allocating thread
// without the allocator's lock, and must not call malloc. Registering twice is harmless.
using MemoryReleaser = void (*)();
void add_memory_releaser(MemoryReleaser release);

}  // namespace r2g2::cuda_backend
