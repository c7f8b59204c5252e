// core/cuda_backend.h for the CUDA build: the device probe, copies on r2g2's stream and
// the stream itself.
#include <cuda_runtime.h>

#include <array>
#include <mutex>

#include "r2g2/core/cuda/allocator_impl.h"
#include "r2g2/core/cuda/runtime.h"
#include "r2g2/core/cuda_backend.h"
#include "r2g2/core/error.h"
#include "r2g2/kernels/cuda/check.h"
#include "r2g2/kernels/cuda/graph.h"
#include "r2g2/kernels/cuda/stream.h"

namespace r2g2 {

namespace kernels::cuda {

namespace {
constexpr int kMaxDevices = 64;
std::array<cudaStream_t, kMaxDevices> g_streams{};
std::array<std::once_flag, kMaxDevices> g_stream_once;
}  // namespace

cudaStream_t current_stream() {
  int device = cuda_backend::detail::current_device();
  R2G2_CHECK(device >= 0 && device < kMaxDevices, "CUDA device ", device, " is beyond the ", kMaxDevices,
             " that r2g2 supports");
  // A blocking stream (not cudaStreamNonBlocking): anything that lands on the legacy
  // default stream, from a library or a stray cudaMemset, stays ordered with our work.
  std::call_once(g_stream_once[device],
                 [&] { R2G2_CUDA_CHECK(cudaStreamCreateWithFlags(&g_streams[device], cudaStreamDefault)); });
  return g_streams[device];
}

}  // namespace kernels::cuda

namespace cuda_backend {

namespace detail {

const Probe& probe() {
  static const Probe result = [] {
    Probe p;
    try {
      int n = 0;
      cudaError_t status = cudaGetDeviceCount(&n);
      if (status != cudaSuccess) {
        cudaGetLastError();
        p.reason = std::string("no usable CUDA driver or device (cudaGetDeviceCount: ") +
                   cudaGetErrorString(status) + ")";
        return p;
      }
      if (n <= 0) {
        p.reason = "no CUDA device found";
        return p;
      }
      status = probe_kernel_image();
      if (status != cudaSuccess) {
        cudaGetLastError();
        cudaDeviceProp prop{};
        int device = 0;
        cudaGetDevice(&device);
        cudaGetDeviceProperties(&prop, device);
        cudaGetLastError();
        p.reason =
            ::r2g2::detail::concat("CUDA device ", device, " (", prop.name, ", sm_", prop.major, prop.minor,
                                   ") cannot run this build's kernels: ", cudaGetErrorString(status),
                                   "; rebuild with CMAKE_CUDA_ARCHITECTURES=", prop.major, prop.minor);
        return p;
      }
      p.count = n;
    } catch (...) {
      p.count = 0;
      p.reason = "the CUDA device probe failed";
    }
    return p;
  }();
  return result;
}

int current_device() {
  int device = 0;
  R2G2_CUDA_CHECK(cudaGetDevice(&device));
  return device;
}

}  // namespace detail

namespace {
void require_device() {
  const auto& p = detail::probe();
  R2G2_CHECK(p.count > 0, "CUDA cannot be used: ", p.reason);
}
}  // namespace

bool built_with_cuda() { return true; }
int device_count() { return detail::probe().count; }
std::string unavailable_reason() {
  const auto& p = detail::probe();
  return p.count > 0 ? std::string() : p.reason;
}

void* malloc(size_t bytes) {
  require_device();
  return detail::allocator().allocate(bytes);
}

void free(void* p, size_t bytes) {
  if (p) detail::allocator().release(p, bytes);
}

void memcpy_h2d(void* dst, const void* src, size_t bytes) {
  if (bytes == 0) return;
  require_device();
  // A graph would read the host buffer again at every replay, long after its owner let go.
  R2G2_CHECK(kernels::cuda::capturing_scalars() == nullptr, "a copy of ", bytes,
             " bytes from host memory inside a step captured as a CUDA graph: every replay would read "
             "that host buffer again; make the tensor on the device before the capture");
  // From pageable memory this returns once the source has been staged, so the caller may
  // reuse `src` at once; from pinned memory see PinnedBuffer.
  R2G2_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, kernels::cuda::current_stream()));
}

void memcpy_d2h(void* dst, const void* src, size_t bytes) {
  if (bytes == 0) return;
  require_device();
  cudaStream_t stream = kernels::cuda::current_stream();
  R2G2_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, stream));
  // The host reads `dst` next; this is also where errors of earlier kernels surface.
  R2G2_CUDA_CHECK(cudaStreamSynchronize(stream));
}

void memcpy_d2d(void* dst, const void* src, size_t bytes) {
  if (bytes == 0) return;
  require_device();
  R2G2_CUDA_CHECK(
      cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, kernels::cuda::current_stream()));
}

void synchronize() {
  if (device_count() == 0) return;
  R2G2_CUDA_CHECK(cudaStreamSynchronize(kernels::cuda::current_stream()));
}

}  // namespace cuda_backend
}  // namespace r2g2
