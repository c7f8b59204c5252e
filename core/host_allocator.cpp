// The host caching allocator: exact size classes, one free list per class, a table of the
// blocks handed out (so that a free needs no size and the counters stay exact when caching
// is switched while blocks are live).
#include "r2g2/core/host_allocator.h"

#include <algorithm>
#include <bit>
#include <cstdio>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include <sys/sysinfo.h>

#include "r2g2/core/error.h"
#include "r2g2/kernels/runtime/device_memory.h"

#if defined(__SANITIZE_ADDRESS__)
#define R2G2_HOST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define R2G2_HOST_ASAN 1
#endif
#endif

#if defined(__SANITIZE_THREAD__)
#define R2G2_HOST_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define R2G2_HOST_TSAN 1
#endif
#endif

#if R2G2_HOST_ASAN
#include <sanitizer/asan_interface.h>
#define R2G2_POISON(p, n) ASAN_POISON_MEMORY_REGION(p, n)
#define R2G2_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION(p, n)
#else
#define R2G2_POISON(p, n) ((void)(p), (void)(n))
#define R2G2_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

namespace r2g2 {

size_t host_allocator_round_size(size_t bytes) {
  constexpr size_t kSmallStep = 64;
  constexpr size_t kSmallLimit = 4096;
  if (bytes == 0) bytes = 1;
  if (bytes <= kSmallLimit) return (bytes + kSmallStep - 1) / kSmallStep * kSmallStep;
  // No host has 2^62 bytes: leave absurd sizes alone (rounding them could overflow) and let
  // the system refuse them.
  if (bytes > (size_t{1} << 62)) return bytes;
  // 2^e < bytes <= 2^(e+1): round up to a multiple of 2^e / 4.
  const int e = std::bit_width(bytes - 1) - 1;
  const size_t step = (size_t{1} << e) / 4;
  return (bytes + step - 1) / step * step;
}

namespace {

constexpr size_t kAlignment = 64;
constexpr size_t kDefaultCacheLimit = size_t{1} << 30;

bool caching_from_environment() {
  const char* v = std::getenv("R2G2_HOST_CACHE");
  return !(v && std::strcmp(v, "0") == 0);
}

size_t cache_limit_from_environment() {
  const char* v = std::getenv("R2G2_HOST_CACHE_LIMIT_MB");
  if (!v || !*v) return kDefaultCacheLimit;
  char* end = nullptr;
  const unsigned long long mb = std::strtoull(v, &end, 10);
  R2G2_CHECK(end && *end == '\0' && v[0] != '-' && mb <= (size_t{1} << 40),
             "R2G2_HOST_CACHE_LIMIT_MB='", v, "': expected a whole number of MiB");
  return static_cast<size_t>(mb) << 20;
}

using kernels::runtime::memory_size_str;

// RAM plus swap: a request above it can never be met, whatever the system's overcommit
// policy would answer (it may say yes and kill the process later). Refusing it here also
// keeps the sanitizers' allocators, which abort above 1 TiB instead of returning null, out
// of the way.
size_t host_memory_capacity() {
  static const size_t capacity = [] {
    struct sysinfo info {};
    size_t total = sysinfo(&info) == 0 ? (static_cast<size_t>(info.totalram) + info.totalswap) * info.mem_unit
                                       : SIZE_MAX;
#if R2G2_HOST_ASAN || R2G2_HOST_TSAN
    total = std::min(total, size_t{1} << 40);
#endif
    return total;
  }();
  return capacity;
}

class HostCachingAllocator {
 public:
  HostCachingAllocator() : caching_(caching_from_environment()), limit_(cache_limit_from_environment()) {}

  void* allocate(size_t bytes) {
    // Also keeps sizes close to SIZE_MAX, which rounding would wrap to a tiny block, away.
    if (bytes > host_memory_capacity()) [[unlikely]] {
      std::lock_guard<std::mutex> lock(mutex_);
      throw Error("out of host memory allocating " + std::to_string(bytes) + " bytes (" + memory_size_str(bytes) +
                  "): more than this host's memory and swap (" + memory_size_str(host_memory_capacity()) + ")" +
                  holdings_locked());
    }
    std::lock_guard<std::mutex> lock(mutex_);
    // Room for the block's entry first: a bad_alloc here leaves nothing taken.
    live_.reserve(live_.size() + 1);
    const size_t size = caching_ ? host_allocator_round_size(bytes)
                                 : (std::max<size_t>(bytes, 1) + kAlignment - 1) / kAlignment * kAlignment;
    void* p = nullptr;
    if (caching_) {
      auto it = free_lists_.find(size);
      if (it != free_lists_.end() && !it->second.empty()) {
        p = it->second.back();
        it->second.pop_back();
        ++stats_.cache_hits;
        stats_.bytes_cached -= size;
      }
    }
    if (!p) p = system_allocate_locked(bytes, size);
    // Past the request rounded to 64 B (what a tensor's vector loads may touch) the block
    // stays poisoned, so a read past the tensor's end is caught.
    R2G2_UNPOISON(p, (std::max<size_t>(bytes, 1) + kAlignment - 1) / kAlignment * kAlignment);
    live_[p] = size;
    ++stats_.allocations;
    stats_.bytes_in_use += size;
    stats_.peak_bytes_in_use = std::max(stats_.peak_bytes_in_use, stats_.bytes_in_use);
    return p;
  }

  void release(void* p) noexcept {
    if (!p) return;
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = live_.find(p);
    if (it == live_.end()) {
      // A pointer this allocator did not hand out, or one freed twice: it may sit in a free
      // list already, so passing it on would hand the same memory out twice later.
      std::fprintf(stderr, "r2g2: host_free(%p): not a live block of the host allocator (freed twice?)\n", p);
      std::abort();
    }
    const size_t size = it->second;
    live_.erase(it);
    stats_.bytes_in_use -= size;
    if (caching_ && stats_.bytes_cached + size <= limit_ && size == host_allocator_round_size(size)) {
      try {
        free_lists_[size].push_back(p);
        R2G2_POISON(p, size);
        stats_.bytes_cached += size;
        return;
      } catch (...) {
        // No memory for the free list's bookkeeping: give the block back instead.
      }
    }
    system_free_locked(p, size);
  }

  void empty_cache() {
    std::lock_guard<std::mutex> lock(mutex_);
    free_cached_locked();
  }

  HostMemoryStats stats() {
    std::lock_guard<std::mutex> lock(mutex_);
    return stats_;
  }

  bool caching() {
    std::lock_guard<std::mutex> lock(mutex_);
    return caching_;
  }

  void set_caching(bool on) {
    std::lock_guard<std::mutex> lock(mutex_);
    caching_ = on;
    if (!on) free_cached_locked();
  }

  size_t limit() {
    std::lock_guard<std::mutex> lock(mutex_);
    return limit_;
  }

  void set_limit(size_t bytes) {
    std::lock_guard<std::mutex> lock(mutex_);
    limit_ = bytes;
    if (stats_.bytes_cached > limit_) free_cached_locked();
  }

 private:
  void* system_allocate_locked(size_t bytes, size_t size) {
    ++stats_.system_allocations;
    void* p = std::aligned_alloc(kAlignment, size);
    if (!p && stats_.bytes_cached > 0) {
      free_cached_locked();
      ++stats_.system_allocations;
      p = std::aligned_alloc(kAlignment, size);
    }
    if (!p)
      throw Error("out of host memory allocating " + std::to_string(bytes) + " bytes (" + memory_size_str(size) +
                  " block): the system refused it, also after r2g2's cache was handed back" + holdings_locked());
    R2G2_POISON(p, size);
    return p;
  }

  std::string holdings_locked() const {
    return "; r2g2 holds " + memory_size_str(stats_.bytes_in_use) + " in tensors and " +
           memory_size_str(stats_.bytes_cached) + " cached";
  }

  void system_free_locked(void* p, size_t size) noexcept {
    R2G2_UNPOISON(p, size);
    std::free(p);
    ++stats_.system_frees;
  }

  void free_cached_locked() noexcept {
    for (auto& [size, blocks] : free_lists_) {
      for (void* p : blocks) system_free_locked(p, size);
      stats_.bytes_cached -= size * blocks.size();
      blocks.clear();
    }
  }

  std::mutex mutex_;
  bool caching_;
  size_t limit_;
  std::unordered_map<size_t, std::vector<void*>> free_lists_;  // size class -> cached blocks
  std::unordered_map<void*, size_t> live_;                     // handed-out block -> its size
  HostMemoryStats stats_;
};

// Deliberately never destroyed: tensors held in static objects are freed after main
// returns, and must still find it.
HostCachingAllocator& allocator() {
  static HostCachingAllocator* instance = new HostCachingAllocator();
  return *instance;
}

}  // namespace

void* host_allocate(size_t bytes) { return allocator().allocate(bytes); }
void host_free(void* p) { allocator().release(p); }
HostMemoryStats host_memory_stats() { return allocator().stats(); }
void host_empty_cache() { allocator().empty_cache(); }
bool host_caching_enabled() { return allocator().caching(); }
void set_host_caching(bool on) { allocator().set_caching(on); }
size_t host_cache_limit() { return allocator().limit(); }
void set_host_cache_limit(size_t bytes) { allocator().set_limit(bytes); }

}  // namespace r2g2
