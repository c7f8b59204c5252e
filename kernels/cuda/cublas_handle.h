#pragma once
// The cuBLAS handle r2g2 uses, and the check every cuBLAS call goes through.
#include <cublas_v2.h>

#include <string>

#include "r2g2/kernels/cuda/check.h"

namespace r2g2::kernels::cuda {

// The process-wide handle, created on first use, bound to current_stream() and set to
// the math mode allow_tf32() asks for (both re-applied on every call, they are cheap).
// r2g2 launches from one host thread; the handle is not meant to be shared by several.
cublasHandle_t cublas_handle();

// "cuBLAS CUBLAS_STATUS_INVALID_VALUE (an invalid numeric value was used as an argument)".
std::string cublas_status_message(cublasStatus_t status);

}  // namespace r2g2::kernels::cuda

// Throws r2g2::Error naming the call, file, line and the cublasStatus_t name.
#define R2G2_CUBLAS_CHECK(call)                                                                        \
  do {                                                                                                 \
    cublasStatus_t r2g2_blas_status_ = (call);                                                         \
    if (r2g2_blas_status_ != CUBLAS_STATUS_SUCCESS)                                                    \
      ::r2g2::kernels::cuda::throw_cuda_error(                                                         \
          #call, __FILE__, __LINE__, ::r2g2::kernels::cuda::cublas_status_message(r2g2_blas_status_)); \
  } while (0)
