#pragma once
// The host caching allocator behind every CPU tensor's storage (device_alloc on the CPU).
//
// A training step creates and drops the same intermediate tensors every time, many of them
// megabytes large; glibc serves such blocks with mmap and returns them with munmap, so every
// step would page-fault its whole working set in again. Instead, a freed block goes to the
// free list of its size class, and the next request of that class reuses it: once a loop has
// run a step or two, it takes nothing more from the system.
//
// Size classes (host_allocator_round_size): multiples of 64 B up to 4 KiB, then four classes
// per power of two (a block is at most 25% larger than asked for). Blocks are 64-byte
// aligned. Free lists are exact: a block only serves requests of its own class.
//
// The cache keeps at most host_cache_limit() bytes (1 GiB unless R2G2_HOST_CACHE_LIMIT_MB
// says otherwise); a block freed beyond that goes back to the system, so a one-off large
// temporary does not stay resident. When the system cannot provide a block, the cache is
// emptied and the request tried once more before r2g2::Error is thrown. A request above the
// host's memory plus swap is refused at once with the same error, never passed on.
//
// R2G2_HOST_CACHE=0 in the environment turns caching off: every allocation is a fresh
// aligned_alloc of the size rounded to 64 B, every free a free(). Under AddressSanitizer the
// cache stays on but cached blocks, and the slack past each request rounded to 64 B, are
// poisoned, so reading a freed tensor or past a tensor's end is still reported (a freed block
// reused at once by a request of its class is not: run with R2G2_HOST_CACHE=0 for that).
//
// All functions are thread-safe.
#include <cstddef>
#include <cstdint>

namespace r2g2 {

struct HostMemoryStats {
  uint64_t allocations = 0;         // requests served
  uint64_t cache_hits = 0;          // ... of which came from a free list
  uint64_t system_allocations = 0;  // aligned_alloc calls made (failed ones included)
  uint64_t system_frees = 0;        // blocks returned to the system
  size_t bytes_in_use = 0;          // bytes of the blocks handed out and not yet freed (size classes)
  size_t bytes_cached = 0;          // bytes of the blocks sitting in free lists
  size_t peak_bytes_in_use = 0;     // the largest bytes_in_use seen
};

HostMemoryStats host_memory_stats();
// Returns every cached block to the system. Blocks in use are unaffected.
void host_empty_cache();

// A block of at least `bytes` bytes (1 when 0), 64-byte aligned. Throws r2g2::Error naming
// the size, the bytes in use and the bytes cached when the system has no memory left, or
// when the request exceeds the host's memory and swap.
void* host_allocate(size_t bytes);
// Returns a block from host_allocate; null is ignored. Never throws.
void host_free(void* p);

// The size of the block a request of `bytes` is served with while caching is on.
size_t host_allocator_round_size(size_t bytes);

bool host_caching_enabled();
// Turning caching off empties the cache; blocks handed out before keep working either way.
// The environment variable sets the initial state; this is for programs and tests that
// want to choose at run time.
void set_host_caching(bool on);

size_t host_cache_limit();
// Shrinks the cache to `bytes` at once if it holds more.
void set_host_cache_limit(size_t bytes);

}  // namespace r2g2
