#pragma once
// CUDA log-softmax and fused losses (declared in kernels/softmax.inc): device pointers,
// launched on r2g2's current stream (kernels/cuda/stream.h); errors throw r2g2::Error.
// The losses return a host value and so synchronise; their labels are checked on the
// device and a bad one throws the CPU's error. Sums are deterministic (sum_impl.cuh).
#include <cstdint>

namespace r2g2::kernels::cuda {
#include "r2g2/kernels/softmax.inc"
}  // namespace r2g2::kernels::cuda
