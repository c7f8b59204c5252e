#pragma once
// CPU reference of the reductions (declared in kernels/reduce.inc).
#include <cstdint>

namespace r2g2::kernels::cpu {
#include "r2g2/kernels/reduce.inc"
}  // namespace r2g2::kernels::cpu
