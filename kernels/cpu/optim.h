#pragma once
// CPU reference of the optimizer updates (declared in kernels/optim.inc).
#include <cstdint>

namespace r2g2::kernels::cpu {
#include "r2g2/kernels/optim.inc"
}  // namespace r2g2::kernels::cpu
