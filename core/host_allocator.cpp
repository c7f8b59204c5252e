// The host caching allocator: exact size classes, one free list per class, a table of the
// blocks handed out (so that a free needs no size and the counters stay exact when caching
// is switched while blocks are live).
#include "r2g2/core/host_allocator.h"

#include <algorithm>
#include <bit>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "r2g2/core/error.h"

#if defined(__SANITIZE_ADDRESS__)
#define R2G2_HOST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define R2G2_HOST_ASAN 1
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

std::string mib(size_t bytes) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1f MiB", static_cast<double>(bytes) / (1024.0 * 1024.0));
  return text;
}

class HostCachingAllocator {
 public:
  HostCachingAllocator() : caching_(caching_from_environment()), limit_(cache_limit_from_environment()) {}

  void* allocate(size_t bytes) {
    // Rounding a size this close to SIZE_MAX would wrap to a tiny block.
    if (bytes > (size_t{1} << 62))
      throw Error("out of host memory allocating " + std::to_string(bytes) + " bytes: more than any host has");
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
      throw Error("out of host memory allocating " + std::to_string(bytes) + " bytes (" + mib(size) +
                  " block); r2g2 holds " + mib(stats_.bytes_in_use) + " in tensors and " +
                  mib(stats_.bytes_cached) + " cached");
    R2G2_POISON(p, size);
    return p;
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
