#pragma once
// r2g2::Error and R2G2_CHECK are defined in the bottom layer, which kernels/ shares with core/.
#include "r2g2/kernels/runtime/error.h"  // IWYU pragma: export
