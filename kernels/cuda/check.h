#pragma once
// Every CUDA, cuBLAS and cuDNN call goes through these macros: a failure throws
// r2g2::Error naming the call, the file and the line, and the library's own message.
#include <string>

#include "r2g2/kernels/cuda/cuda_api.h"
#include "r2g2/kernels/runtime/error.h"

namespace r2g2::kernels::cuda {

[[noreturn]] void throw_cuda_error(const char* call, const char* file, int line, const std::string& what);

// A kernel's errors surface at the next synchronisation, against whatever call made it.
// With R2G2_CUDA_SYNC=1 in the environment (or this switch on), every launch is followed
// by a synchronisation, so an error names the kernel that caused it. Slow: for debugging.
bool sync_after_launch();
void set_sync_after_launch(bool on);

// After a kernel launch: a bad launch configuration throws here, naming the kernel; in
// the synchronising mode above, so does any error the kernel raised while running.
void check_launch(const char* kernel, const char* file, int line);

}  // namespace r2g2::kernels::cuda

#define R2G2_CUDA_CHECK(call)                                                                               \
  do {                                                                                                      \
    cudaError_t r2g2_status_ = (call);                                                                      \
    if (r2g2_status_ != cudaSuccess)                                                                        \
      ::r2g2::kernels::cuda::throw_cuda_error(#call, __FILE__, __LINE__, cudaGetErrorString(r2g2_status_)); \
  } while (0)
