#pragma once
// The device memory kernels take from outside kernels/: scratch buffers and read-backs go
// through r2g2's caching allocator and stream, which live in core/cuda (or, in tests, the
// host emulator's stand-in). These are declared here and defined there, a link-time seam,
// so kernels/ includes only its own headers while sharing one memory pool with tensors.
#include <cstddef>
#include <cstdio>
#include <string>

namespace r2g2::kernels::runtime {

// "512 B", "3.0 KiB", "1.5 GiB", "4.0 TiB": how the allocators' errors state sizes.
inline std::string memory_size_str(size_t bytes) {
  static const char* const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  double value = static_cast<double>(bytes);
  int unit = 0;
  while (value >= 1024.0 && unit < 6) {
    value /= 1024.0;
    ++unit;
  }
  char text[32];
  if (unit == 0)
    std::snprintf(text, sizeof text, "%zu B", bytes);
  else
    std::snprintf(text, sizeof text, "%.1f %s", value, units[unit]);
  return text;
}

// From the caching allocator, ordered on r2g2's stream; throws r2g2::Error when the
// device is out of memory even after the cache and the memory releasers gave theirs back.
void* device_allocate(size_t bytes);
// Returns a block from device_allocate (same size) to the cache; null is ignored.
void device_release(void* p, size_t bytes);
// Waits for the copy, and so for every kernel queued before: their errors surface here.
void copy_to_host(void* dst, const void* src, size_t bytes);
void copy_to_device(void* dst, const void* src, size_t bytes);

// Device memory held outside the cache that can be given back (through device_release)
// when an allocation runs out; see core/cuda/allocator.h. Registering twice is harmless.
using MemoryReleaser = void (*)();
void add_memory_releaser(MemoryReleaser release);

}  // namespace r2g2::kernels::runtime
