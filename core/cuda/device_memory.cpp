// kernels/runtime/device_memory.h over core/cuda_backend.h, so that kernel scratch shares
// the tensors' caching allocator and stream. Also built into the host emulator's tests.
#include "r2g2/kernels/runtime/device_memory.h"

#include "r2g2/core/cuda/allocator.h"
#include "r2g2/core/cuda_backend.h"

namespace r2g2::kernels::runtime {

void* device_allocate(size_t bytes) { return cuda_backend::malloc(bytes); }
void device_release(void* p, size_t bytes) { cuda_backend::free(p, bytes); }
void copy_to_host(void* dst, const void* src, size_t bytes) { cuda_backend::memcpy_d2h(dst, src, bytes); }
void copy_to_device(void* dst, const void* src, size_t bytes) { cuda_backend::memcpy_h2d(dst, src, bytes); }
void add_memory_releaser(MemoryReleaser release) { cuda_backend::add_memory_releaser(release); }

}  // namespace r2g2::kernels::runtime
