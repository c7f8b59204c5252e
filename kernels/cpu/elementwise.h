#pragma once
// CPU reference of the elementwise kernels (declared in kernels/elementwise.inc).
#include <cstdint>

#include "r2g2/kernels/common.h"

namespace r2g2::kernels::cpu {
#include "r2g2/kernels/elementwise.inc"
}  // namespace r2g2::kernels::cpu
