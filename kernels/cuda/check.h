#pragma once
// Every CUDA, cuBLAS and cuDNN call goes through these macros: a failure throws
// r2g2::Error naming the call, the file and the line, and the library's own message.
#include <cuda_runtime.h>

#include <string>

#include "core/error.h"

namespace r2g2::kernels::cuda {

[[noreturn]] void throw_cuda_error(const char* call, const char* file, int line, const std::string& what);

}  // namespace r2g2::kernels::cuda

#define R2G2_CUDA_CHECK(call)                                                                               \
  do {                                                                                                      \
    cudaError_t r2g2_status_ = (call);                                                                      \
    if (r2g2_status_ != cudaSuccess)                                                                        \
      ::r2g2::kernels::cuda::throw_cuda_error(#call, __FILE__, __LINE__, cudaGetErrorString(r2g2_status_)); \
  } while (0)

// After a kernel launch: catches bad launch configurations at the launch site.
#define R2G2_CUDA_LAUNCH_CHECK() R2G2_CUDA_CHECK(cudaGetLastError())
