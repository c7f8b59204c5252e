// A kernel that does nothing, so that the device probe can ask whether this build has a
// kernel image the device can run.
#include "r2g2/core/cuda/runtime.h"

namespace r2g2::cuda_backend::detail {

namespace {
__global__ void r2g2_probe_kernel() {}
}  // namespace

cudaError_t probe_kernel_image() {
  cudaFuncAttributes attributes;
  return cudaFuncGetAttributes(&attributes, r2g2_probe_kernel);
}

}  // namespace r2g2::cuda_backend::detail
