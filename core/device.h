#pragma once
#include <cstddef>
#include <string>

namespace r2g2 {

enum class DeviceType { cpu, cuda };

struct Device {
  DeviceType type = DeviceType::cpu;
  int index = 0;
  bool is_cpu() const { return type == DeviceType::cpu; }
  bool is_cuda() const { return type == DeviceType::cuda; }
  bool operator==(const Device&) const = default;
  std::string str() const { return is_cpu() ? "cpu" : "cuda:" + std::to_string(index); }
  static Device cpu() { return {}; }
  static Device cuda(int index = 0) { return {DeviceType::cuda, index}; }
};

// True when r2g2 was built with CUDA and a device can actually be used here.
bool cuda_available();
// Parses "cpu", "cuda", "cuda:N" or "auto". "auto" picks CUDA when available and
// otherwise says once, on stderr, that it falls back to the CPU. Asking for "cuda"
// without one throws a message that says why (built without CUDA, or no device).
Device parse_device(const std::string& spec);

// Raw memory on a device, from the caching allocators: core/host_allocator.h on the CPU,
// core/cuda/allocator.h on CUDA devices.
void* device_alloc(Device d, size_t bytes);
void device_free(Device d, void* p, size_t bytes);
// Copies between any two devices (host<->device, device<->device, host<->host).
void device_copy(void* dst, Device dst_dev, const void* src, Device src_dev, size_t bytes);
// Waits for the device's stream (no-op on the CPU).
void device_synchronize(Device d);

}  // namespace r2g2
