#pragma once
// r2g2::Error and R2G2_CHECK are defined in the bottom layer, which kernels/ shares with core/.
#include "kernels/runtime/error.h"  // IWYU pragma: export
