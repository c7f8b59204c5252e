// The caching device allocator: exact size classes, one set of free lists per device.
// Plain C++ over the runtime API (kernels/cuda/cuda_api.h), so the emulated test suite
// builds it against the host emulator.
#include <algorithm>
#include <bit>
#include <cstdlib>
#include <cstring>

#include "r2g2/core/cuda/allocator_impl.h"
#include "r2g2/core/error.h"
#include "r2g2/kernels/cuda/check.h"
#include "r2g2/kernels/cuda/cuda_api.h"
#include "r2g2/kernels/runtime/device_memory.h"

namespace r2g2::cuda_backend {

size_t allocator_round_size(size_t bytes) {
  constexpr size_t kSmallStep = 512;
  constexpr size_t kSmallLimit = size_t{1} << 20;
  if (bytes == 0) bytes = 1;
  if (bytes <= kSmallLimit) return (bytes + kSmallStep - 1) / kSmallStep * kSmallStep;
  // No device has 2^62 bytes: leave absurd sizes alone (rounding them could overflow) and
  // let cudaMalloc report them.
  if (bytes > (size_t{1} << 62)) return bytes;
  // 2^e < bytes <= 2^(e+1): round up to a multiple of 2^e / 4.
  const int e = std::bit_width(bytes - 1) - 1;
  const size_t step = (size_t{1} << e) / 4;
  return (bytes + step - 1) / step * step;
}

namespace detail {

namespace {
bool caching_from_environment() {
  const char* v = std::getenv("R2G2_CUDA_NO_CACHE");
  return !(v && *v && std::strcmp(v, "0") != 0);
}

int current_device() {
  int device = 0;
  R2G2_CUDA_CHECK(cudaGetDevice(&device));
  return device;
}
}  // namespace

CachingAllocator::CachingAllocator() : caching_(caching_from_environment()) {}

CachingAllocator& allocator() {
  static CachingAllocator* instance = new CachingAllocator();
  return *instance;
}

CachingAllocator::FreeLists& CachingAllocator::lists_for(int device) {
  if (static_cast<size_t>(device) >= free_lists_.size()) free_lists_.resize(static_cast<size_t>(device) + 1);
  return free_lists_[static_cast<size_t>(device)];
}

void* CachingAllocator::hand_out_locked(void* p, size_t size, int device) {
  live_[p] = Block{size, device, capture_pool_};
  ++stats_.allocations;
  stats_.bytes_in_use += size;
  stats_.peak_bytes_in_use = std::max(stats_.peak_bytes_in_use, stats_.bytes_in_use);
  return p;
}

void* CachingAllocator::pop_locked(FreeLists& lists, size_t size) {
  auto it = lists.find(size);
  if (it == lists.end() || it->second.empty()) return nullptr;
  void* p = it->second.back();
  it->second.pop_back();
  return p;
}

void* CachingAllocator::allocate(size_t bytes) {
  const int device = current_device();
  const bool caching = caching_.load(std::memory_order_relaxed);
  const size_t size = caching ? allocator_round_size(bytes) : std::max<size_t>(bytes, 1);
  std::vector<MemoryReleaser> releasers;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (caching && capture_pool_ != 0 && pools_[capture_pool_].device == device) {
      if (void* p = pop_locked(pools_[capture_pool_].lists, size)) {
        ++stats_.cache_hits;
        stats_.bytes_in_graph_pools -= size;
        return hand_out_locked(p, size, device);
      }
    }
    if (caching) {
      if (void* p = pop_locked(lists_for(device), size)) {
        ++stats_.cache_hits;
        stats_.bytes_cached -= size;
        return hand_out_locked(p, size, device);
      }
    }
    void* p = nullptr;
    ++stats_.cuda_malloc_calls;
    const cudaError_t status = cudaMalloc(&p, size);
    if (status == cudaSuccess) return hand_out_locked(p, size, device);
    if (capture_pool_ != 0) {
      cudaGetLastError();
      throw Error(::r2g2::detail::concat(
          "CUDA graph capture: allocating ", bytes, " bytes (size class ", size,
          ") needs a new device block, and cudaMalloc cannot run while a stream captures (",
          cudaGetErrorString(status),
          "); run the step eagerly before capturing it, so that the cache holds the blocks it uses"));
    }
    if (status != cudaErrorMemoryAllocation) fail_locked(status, bytes, size, device);
    cudaGetLastError();
    releasers = releasers_;
  }
  // Out of memory. The releasers hand their memory to release() (so into the cache, or
  // straight to the driver when caching is off), which takes the lock: run them without it.
  for (MemoryReleaser release : releasers) release();
  std::lock_guard<std::mutex> lock(mutex_);
  // Blocks of other size classes may be enough once handed back to the driver.
  free_cached_locked(device);
  void* p = nullptr;
  ++stats_.cuda_malloc_calls;
  const cudaError_t status = cudaMalloc(&p, size);
  if (status != cudaSuccess) fail_locked(status, bytes, size, device);
  return hand_out_locked(p, size, device);
}

void CachingAllocator::fail_locked(cudaError_t status, size_t bytes, size_t size, int device) {
  using kernels::runtime::memory_size_str;
  const std::string pool = ::r2g2::detail::concat(
      "r2g2 holds ", stats_.bytes_in_use, " bytes in use (", memory_size_str(stats_.bytes_in_use), ") and ",
      stats_.bytes_cached, " bytes cached (", memory_size_str(stats_.bytes_cached), ")");
  if (status != cudaErrorMemoryAllocation)
    kernels::cuda::throw_cuda_error("cudaMalloc", __FILE__, __LINE__,
                                    ::r2g2::detail::concat(cudaGetErrorString(status), " allocating ", bytes,
                                                           " bytes (size class ", size, ") on CUDA device ",
                                                           device, "; ", pool));
  cudaGetLastError();
  std::string device_state;
#ifndef R2G2_CUDA_EMULATION
  size_t free_bytes = 0, total_bytes = 0;
  if (cudaMemGetInfo(&free_bytes, &total_bytes) == cudaSuccess)
    device_state = "; the device has " + memory_size_str(free_bytes) + " free of " + memory_size_str(total_bytes);
  else
    cudaGetLastError();
#endif
  throw Error(::r2g2::detail::concat(
      "CUDA out of memory allocating ", bytes, " bytes (", memory_size_str(bytes), ", size class ", size,
      ") on CUDA device ", device, ", also after the memory releasers ran, r2g2's cache was emptied and the "
      "allocation retried; ", pool, device_state, ". Use a smaller batch or model, or another device"));
}

void CachingAllocator::release(void* p, size_t /*bytes: the block remembers its own size*/) noexcept {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = live_.find(p);
  if (it == live_.end()) return;  // not ours: leaving it alone beats corrupting a free list
  const Block block = it->second;
  live_.erase(it);
  stats_.bytes_in_use -= block.size;
  // A block captured by a graph goes back to the graph's pool, as does any block freed
  // during a capture: captured work may use it at every replay.
  const int pool = block.pool != 0 && pools_.count(block.pool) ? block.pool : capture_pool_;
  if (caching_ && pool != 0) {
    pools_[pool].lists[block.size].push_back(p);
    stats_.bytes_in_graph_pools += block.size;
  } else if (caching_) {
    lists_for(block.device)[block.size].push_back(p);
    stats_.bytes_cached += block.size;
  } else {
    ++stats_.cuda_free_calls;
    // cudaFree waits for the device, so queued work that still reads `p` finishes first.
    if (cudaFree(p) != cudaSuccess) cudaGetLastError();
  }
}

void CachingAllocator::free_cached_locked(int only_device) {
  int previous = 0;
  if (cudaGetDevice(&previous) != cudaSuccess) cudaGetLastError();
  for (size_t d = 0; d < free_lists_.size(); ++d) {
    if (only_device >= 0 && static_cast<int>(d) != only_device) continue;
    auto& lists = free_lists_[d];
    if (lists.empty()) continue;
    // A cached block may still be read by queued work of its last owner.
    if (cudaSetDevice(static_cast<int>(d)) != cudaSuccess || cudaDeviceSynchronize() != cudaSuccess)
      cudaGetLastError();
    for (auto& [size, blocks] : lists) {
      for (void* p : blocks) {
        ++stats_.cuda_free_calls;
        if (cudaFree(p) != cudaSuccess) cudaGetLastError();
        stats_.bytes_cached -= size;
      }
    }
    lists.clear();
  }
  if (cudaSetDevice(previous) != cudaSuccess) cudaGetLastError();
}

void CachingAllocator::empty_cache() {
  std::lock_guard<std::mutex> lock(mutex_);
  free_cached_locked(-1);
}

void CachingAllocator::set_caching(bool on) {
  std::lock_guard<std::mutex> lock(mutex_);
  caching_.store(on, std::memory_order_relaxed);
  if (!on) free_cached_locked(-1);
}

void CachingAllocator::add_releaser(MemoryReleaser release) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (std::find(releasers_.begin(), releasers_.end(), release) == releasers_.end())
    releasers_.push_back(release);
}

int CachingAllocator::create_pool() {
  std::lock_guard<std::mutex> lock(mutex_);
  R2G2_CHECK(caching_.load(std::memory_order_relaxed),
             "CUDA graphs need r2g2's caching allocator, which R2G2_CUDA_NO_CACHE turned off: a captured "
             "step must find its blocks in the cache");
  const int id = next_pool_++;
  pools_[id].device = current_device();
  return id;
}

void CachingAllocator::set_capture_pool(int pool) {
  std::lock_guard<std::mutex> lock(mutex_);
  R2G2_CHECK(pool == 0 || pools_.count(pool), "CUDA graph pool ", pool, " does not exist");
  capture_pool_ = pool;
}

void CachingAllocator::release_pool(int pool) noexcept {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = pools_.find(pool);
  if (it == pools_.end()) return;
  if (capture_pool_ == pool) capture_pool_ = 0;
  for (auto& [size, blocks] : it->second.lists) {
    for (void* p : blocks) {
      lists_for(it->second.device)[size].push_back(p);
      stats_.bytes_in_graph_pools -= size;
      stats_.bytes_cached += size;
    }
  }
  pools_.erase(it);
}

AllocatorStats CachingAllocator::stats() {
  std::lock_guard<std::mutex> lock(mutex_);
  return stats_;
}

}  // namespace detail

AllocatorStats allocator_stats() { return detail::allocator().stats(); }
void empty_cache() { detail::allocator().empty_cache(); }
bool allocator_caching_enabled() { return detail::allocator().caching(); }
void add_memory_releaser(MemoryReleaser release) { detail::allocator().add_releaser(release); }

}  // namespace r2g2::cuda_backend
