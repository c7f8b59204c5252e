#pragma once
// CUDA reductions (declared in kernels/reduce.inc): device pointers, launched on r2g2's
// current stream (kernels/cuda/stream.h); errors throw r2g2::Error.
// Sums are deterministic fixed-order trees in double (two passes for long axes), so a
// result never changes between runs; max keeps the CPU's first-maximum and NaN rules.
#include <cstdint>

namespace r2g2::kernels::cuda {
#include "r2g2/kernels/reduce.inc"
}  // namespace r2g2::kernels::cuda
