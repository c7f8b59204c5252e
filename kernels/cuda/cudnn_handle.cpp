// The cuDNN handle (kernels/cuda/cudnn_handle.h).
#if R2G2_WITH_CUDNN

#include "r2g2/kernels/cuda/cudnn_handle.h"

#include "r2g2/kernels/cuda/stream.h"

namespace r2g2::kernels::cuda {

std::string cudnn_status_message(cudnnStatus_t status) {
  return std::string("cuDNN ") + cudnnGetErrorString(status) + " (cuDNN " +
         std::to_string(cudnnGetVersion()) + ")";
}

cudnnHandle_t cudnn_handle() {
  // Created once and never destroyed: a static destructor may run after the CUDA
  // runtime has shut down; the driver reclaims the handle at exit.
  static cudnnHandle_t handle = [] {
    cudnnHandle_t h = nullptr;
    R2G2_CUDNN_CHECK(cudnnCreate(&h));
    return h;
  }();
  static cudaStream_t bound = nullptr;
  static bool is_bound = false;
  cudaStream_t stream = current_stream();
  if (!is_bound || stream != bound) {
    R2G2_CUDNN_CHECK(cudnnSetStream(handle, stream));
    bound = stream;
    is_bound = true;
  }
  return handle;
}

}  // namespace r2g2::kernels::cuda

#endif  // R2G2_WITH_CUDNN
