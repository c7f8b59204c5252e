// What the emulated kernels/cuda files need from outside kernels/: the stream, and
// core/cuda_backend.h here over the emulator's device memory; plus kernels/cuda/check.cpp,
// core/cuda/allocator.cpp and core/cuda/device_memory.cpp (kernels/runtime's memory hooks)
// themselves, built against the emulator (malloc/free go through the real caching allocator).
#include "emulator/cuda_emulator.h"

#include "r2g2/core/cuda_backend.h"
#include "r2g2/core/error.h"
#include "r2g2/kernels/cuda/check.cpp"  // NOLINT(bugprone-suspicious-include): the file under test
#include "r2g2/core/cuda/allocator.cpp"  // NOLINT(bugprone-suspicious-include): the file under test
#include "r2g2/core/cuda/device_memory.cpp"  // NOLINT(bugprone-suspicious-include): the file under test

namespace r2g2::kernels::cuda {
cudaStream_t current_stream() { return nullptr; }
}  // namespace r2g2::kernels::cuda

namespace r2g2::cuda_backend {

namespace {
// Caching off unless a test turns it on: then every buffer is its own emulated
// allocation, so ASan sees its true bounds and r2g2_emu::memory_stats() counts it.
[[maybe_unused]] const bool g_uncached = (detail::allocator().set_caching(false), true);
}  // namespace

void* malloc(size_t bytes) { return detail::allocator().allocate(bytes); }
void free(void* p, size_t bytes) {
  if (p) detail::allocator().release(p, bytes);
}
void memcpy_h2d(void* dst, const void* src, size_t bytes) { R2G2_CUDA_CHECK(cudaMemcpy(dst, src, bytes, cudaMemcpyHostToDevice)); }
void memcpy_d2h(void* dst, const void* src, size_t bytes) { R2G2_CUDA_CHECK(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToHost)); }
void memcpy_d2d(void* dst, const void* src, size_t bytes) { R2G2_CUDA_CHECK(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToDevice)); }
void synchronize() { R2G2_CUDA_CHECK(cudaDeviceSynchronize()); }

}  // namespace r2g2::cuda_backend
