#pragma once
// The R2-G2/LRT elementwise kernels, CPU reference (declarations: kernels/r2g2_elementwise.inc).
#include <cstdint>

namespace r2g2::kernels::cpu {
#include "r2g2/kernels/r2g2_elementwise.inc"
}  // namespace r2g2::kernels::cpu
