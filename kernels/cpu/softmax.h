#pragma once
// CPU reference of log-softmax and the fused losses (declared in kernels/softmax.inc).
#include <cstdint>

namespace r2g2::kernels::cpu {
#include "r2g2/kernels/softmax.inc"
}  // namespace r2g2::kernels::cpu
