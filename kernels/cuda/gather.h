#pragma once
// CUDA row gather and its backward (declared in kernels/gather.inc): device pointers,
// launched on r2g2's current stream (kernels/cuda/stream.h); errors throw r2g2::Error.
// gather_rows checks its indices on the device and reads the verdict back, so it
// synchronises once per call and throws the CPU's error for a bad index. scatter_add_rows
// is deterministic (a stable sort groups repeated indices; see gather.cu).
#include <cstdint>

namespace r2g2::kernels::cuda {
#include "r2g2/kernels/gather.inc"
}  // namespace r2g2::kernels::cuda
