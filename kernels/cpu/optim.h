#pragma once
// CPU reference of the optimizer updates (declared in kernels/optim.inc).
#include <cstdint>

#include "r2g2/kernels/optim_math.h"

namespace r2g2::kernels::cpu {
#include "r2g2/kernels/optim.inc"
}  // namespace r2g2::kernels::cpu
