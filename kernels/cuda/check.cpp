// The error helpers of kernels/cuda/check.h. Plain C++ over the runtime API, so the
// emulated test build compiles it too.
#include "r2g2/kernels/cuda/check.h"

#include <atomic>
#include <cstdlib>
#include <cstring>

#include "r2g2/kernels/cuda/stream.h"

namespace r2g2::kernels::cuda {

namespace {
// -1: not yet read from the environment.
std::atomic<int> g_sync_after_launch{-1};
}  // namespace

bool sync_after_launch() {
  int on = g_sync_after_launch.load(std::memory_order_relaxed);
  if (on < 0) {
    const char* env = std::getenv("R2G2_CUDA_SYNC");
    on = env != nullptr && *env != '\0' && std::strcmp(env, "0") != 0;
    g_sync_after_launch.store(on, std::memory_order_relaxed);
  }
  return on != 0;
}

void set_sync_after_launch(bool on) { g_sync_after_launch.store(on ? 1 : 0, std::memory_order_relaxed); }

void throw_cuda_error(const char* call, const char* file, int line, const std::string& what) {
  // A failed call also sets the runtime's "last error"; clearing it stops the next launch
  // check from reporting this failure again at the wrong place. (Sticky errors, after
  // which the context is unusable, stay set whatever we do.)
  cudaGetLastError();
  throw Error(::r2g2::detail::concat(
      "CUDA error: ", what, " (in ", call, " at ", file, ":", line, ")",
      sync_after_launch() ? ""
                          : "; a kernel's error surfaces at the next synchronisation, so it may "
                            "come from an earlier launch: rerun with R2G2_CUDA_SYNC=1 to name the kernel"));
}

void check_launch(const char* kernel, const char* file, int line) {
  cudaError_t status = cudaGetLastError();
  if (status != cudaSuccess)
    throw Error(::r2g2::detail::concat("CUDA error: ", cudaGetErrorString(status), " (launch of kernel ", kernel,
                                       " at ", file, ":", line, ")"));
  if (!sync_after_launch()) return;
  status = cudaStreamSynchronize(current_stream());
  if (status != cudaSuccess) {
    cudaGetLastError();
    throw Error(::r2g2::detail::concat("CUDA error: ", cudaGetErrorString(status), " in kernel ", kernel,
                                       " launched at ", file, ":", line,
                                       " (R2G2_CUDA_SYNC: synchronised right after the launch)"));
  }
}

}  // namespace r2g2::kernels::cuda
