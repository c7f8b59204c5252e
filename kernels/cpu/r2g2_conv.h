#pragma once
// The batched R2-G2 conv solves, CPU reference (declarations: kernels/r2g2_conv.inc).
#include "r2g2/kernels/common.h"
#include "r2g2/kernels/r2g2_solve.h"

namespace r2g2::kernels::cpu {
#include "r2g2/kernels/r2g2_conv.inc"
}  // namespace r2g2::kernels::cpu
