#pragma once
// CPU reference of the row gather and its backward (declared in kernels/gather.inc).
#include <cstdint>

namespace r2g2::kernels::cpu {
#include "r2g2/kernels/gather.inc"
}  // namespace r2g2::kernels::cpu
