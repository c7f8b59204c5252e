#include "r2g2/core/device.h"

#include <cstdlib>
#include <cstring>
#include <iostream>
#include <new>

#include "r2g2/core/cuda_backend.h"
#include "r2g2/core/error.h"
#include "r2g2/core/host_allocator.h"

namespace r2g2 {

bool cuda_available() { return cuda_backend::device_count() > 0; }

Device parse_device(const std::string& spec) {
  if (spec == "cpu") return Device::cpu();
  if (spec == "auto") {
    if (cuda_available()) return Device::cuda(0);
    static bool said = false;
    if (!said) {
      std::cerr << "r2g2: --device auto: CUDA cannot be used here (" << cuda_backend::unavailable_reason()
                << "); running on the CPU\n";
      said = true;
    }
    return Device::cpu();
  }
  if (spec == "cuda" || spec.rfind("cuda:", 0) == 0) {
    int index = 0;
    if (spec.size() > 5) {
      char* end = nullptr;
      long v = std::strtol(spec.c_str() + 5, &end, 10);
      R2G2_CHECK(end && *end == '\0' && v >= 0, "unknown device '", spec,
                 "': expected cpu, cuda, cuda:N or auto");
      index = static_cast<int>(v);
    }
    R2G2_CHECK(cuda_available(), "device '", spec,
               "' was requested but CUDA cannot be used: ", cuda_backend::unavailable_reason());
    R2G2_CHECK(index < cuda_backend::device_count(), "device '", spec,
               "' does not exist: ", cuda_backend::device_count(), " CUDA device(s) present");
    // Every kernel launches on one stream of the current device; choosing another device
    // per tensor is not implemented, so refuse rather than silently run on device 0.
    R2G2_CHECK(index == 0, "device '", spec,
               "': only cuda:0 is supported; select another GPU with CUDA_VISIBLE_DEVICES");
    return Device::cuda(index);
  }
  throw Error("unknown device '" + spec + "': expected cpu, cuda, cuda:N or auto");
}

// Memory routing by device type: with core/dispatch.h (kernels), the only places that ask
// a device whether it is a CUDA one.
void* device_alloc(Device d, size_t bytes) {
  if (bytes == 0) bytes = 1;
  if (d.is_cuda()) return cuda_backend::malloc(bytes);
  // 64-byte aligned blocks keep SIMD loads aligned for every row start we allocate.
  return host_allocate(bytes);
}

void device_free(Device d, void* p, size_t bytes) {
  if (!p) return;
  if (d.is_cuda()) return cuda_backend::free(p, bytes);
  host_free(p);
}

void device_copy(void* dst, Device dst_dev, const void* src, Device src_dev, size_t bytes) {
  if (bytes == 0) return;
  if (dst_dev.is_cpu() && src_dev.is_cpu())
    std::memcpy(dst, src, bytes);
  else if (dst_dev.is_cuda() && src_dev.is_cpu())
    cuda_backend::memcpy_h2d(dst, src, bytes);
  else if (dst_dev.is_cpu() && src_dev.is_cuda())
    cuda_backend::memcpy_d2h(dst, src, bytes);
  else
    cuda_backend::memcpy_d2d(dst, src, bytes);
}

void device_synchronize(Device d) {
  if (d.is_cuda()) cuda_backend::synchronize();
}

}  // namespace r2g2
