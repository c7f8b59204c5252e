#pragma once
// The one stream r2g2 launches on. Kernels, cuBLAS and cuDNN all use it, so host code
// synchronises only where it reads results back.
#include "r2g2/kernels/cuda/cuda_api.h"

namespace r2g2::kernels::cuda {

cudaStream_t current_stream();

}  // namespace r2g2::kernels::cuda
