#pragma once
// CUDA fused mean-field Gaussian kernels (declared in kernels/gaussian.inc): device
// pointers, launched on r2g2's current stream (kernels/cuda/stream.h); errors throw
// r2g2::Error.
#include <cstdint>

#include "r2g2/kernels/gaussian_math.h"

namespace r2g2::kernels::cuda {
#include "r2g2/kernels/gaussian.inc"
}  // namespace r2g2::kernels::cuda
