#pragma once
// CPU reference of the im2col / col2im and max-pooling kernels (declared in kernels/conv.inc).
#include <cstdint>

#include "r2g2/kernels/common.h"

namespace r2g2::kernels::cpu {
#include "r2g2/kernels/conv.inc"
}  // namespace r2g2::kernels::cpu
