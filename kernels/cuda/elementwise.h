#pragma once
// CUDA elementwise kernels (declared in kernels/elementwise.inc): device pointers, launched
// on r2g2's current stream (kernels/cuda/stream.h); errors throw r2g2::Error.
#include <cstdint>

#include "r2g2/kernels/common.h"

namespace r2g2::kernels::cuda {
#include "r2g2/kernels/elementwise.inc"
}  // namespace r2g2::kernels::cuda
