#pragma once
// The R2-G2/LRT elementwise kernels on CUDA: device pointers, launched on r2g2's current
// stream (declarations: kernels/r2g2_elementwise.inc).
#include <cstdint>

namespace r2g2::kernels::cuda {
#include "r2g2/kernels/r2g2_elementwise.inc"
}  // namespace r2g2::kernels::cuda
