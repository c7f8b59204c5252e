// What the emulated kernels/cuda files need from outside kernels/: the stream, and
// core/cuda_backend.h here over the emulator's device memory; plus kernels/cuda/check.cpp,
// kernels/cuda/graph.cpp, core/cuda/allocator.cpp, core/cuda/graph.cpp and
// core/cuda/device_memory.cpp (kernels/runtime's memory hooks) themselves, built against
// the emulator (malloc/free go through the real caching allocator).
#include "emulator/cuda_emulator.h"

#include "r2g2/core/cuda_backend.h"
#include "r2g2/core/error.h"
#include "r2g2/kernels/cuda/graph.h"
#include "r2g2/kernels/cuda/check.cpp"  // NOLINT(bugprone-suspicious-include): the file under test
#include "r2g2/core/cuda/allocator.cpp"  // NOLINT(bugprone-suspicious-include): the file under test
#include "r2g2/core/cuda/device_memory.cpp"  // NOLINT(bugprone-suspicious-include): the file under test
#include "r2g2/core/cuda/graph.cpp"  // NOLINT(bugprone-suspicious-include): the file under test
#include "r2g2/kernels/cuda/graph.cpp"  // NOLINT(bugprone-suspicious-include): the file under test

namespace r2g2::kernels::cuda {
// A created stream, as core/cuda/backend.cpp's is: the legacy default stream cannot capture.
cudaStream_t current_stream() {
  static cudaStream_t stream = [] {
    cudaStream_t s = nullptr;
    R2G2_CUDA_CHECK(cudaStreamCreateWithFlags(&s, cudaStreamDefault));
    return s;
  }();
  return stream;
}
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
// The copies core/cuda/backend.cpp makes, so that a capture sees the same calls.
void memcpy_h2d(void* dst, const void* src, size_t bytes) {
  R2G2_CHECK(kernels::cuda::capturing_scalars() == nullptr, "a copy of ", bytes,
             " bytes from host memory inside a step captured as a CUDA graph: every replay would read "
             "that host buffer again; make the tensor on the device before the capture");
  R2G2_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, kernels::cuda::current_stream()));
}
void memcpy_d2h(void* dst, const void* src, size_t bytes) {
  R2G2_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, kernels::cuda::current_stream()));
  R2G2_CUDA_CHECK(cudaStreamSynchronize(kernels::cuda::current_stream()));
}
void memcpy_d2d(void* dst, const void* src, size_t bytes) {
  R2G2_CUDA_CHECK(
      cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, kernels::cuda::current_stream()));
}
void synchronize() { R2G2_CUDA_CHECK(cudaStreamSynchronize(kernels::cuda::current_stream())); }

}  // namespace r2g2::cuda_backend
