#pragma once
// CPU reference of the fused mean-field Gaussian kernels (declared in kernels/gaussian.inc).
#include <cstdint>

#include "r2g2/kernels/gaussian_math.h"

namespace r2g2::kernels::cpu {
#include "r2g2/kernels/gaussian.inc"
}  // namespace r2g2::kernels::cpu
