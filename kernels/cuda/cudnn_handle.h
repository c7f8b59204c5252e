#pragma once
// The cuDNN handle r2g2 uses, and the check every cuDNN call goes through. Only
// included where R2G2_WITH_CUDNN is set.
#include <cudnn.h>

#include <string>

#include "r2g2/kernels/cuda/check.h"

namespace r2g2::kernels::cuda {

// The process-wide handle, created on first use and bound to current_stream() (re-bound
// when that changes). r2g2 launches from one host thread.
cudnnHandle_t cudnn_handle();

// "cuDNN CUDNN_STATUS_BAD_PARAM (...)" with the version r2g2 runs against.
std::string cudnn_status_message(cudnnStatus_t status);

}  // namespace r2g2::kernels::cuda

// Throws r2g2::Error naming the call, file, line and the cudnnStatus_t.
#define R2G2_CUDNN_CHECK(call)                                                                       \
  do {                                                                                               \
    cudnnStatus_t r2g2_dnn_status_ = (call);                                                         \
    if (r2g2_dnn_status_ != CUDNN_STATUS_SUCCESS)                                                    \
      ::r2g2::kernels::cuda::throw_cuda_error(                                                       \
          #call, __FILE__, __LINE__, ::r2g2::kernels::cuda::cudnn_status_message(r2g2_dnn_status_)); \
  } while (0)
