#pragma once
// CUDA optimizer updates (declared in kernels/optim.inc): device pointers, launched on
// r2g2's current stream (kernels/cuda/stream.h); errors throw r2g2::Error.
#include <cstdint>

#include "r2g2/kernels/optim_math.h"

namespace r2g2::kernels::cuda {
#include "r2g2/kernels/optim.inc"
}  // namespace r2g2::kernels::cuda
