#pragma once
// Cases of the R2-G2 / LRT elementwise kernels (kernels/{cpu,cuda}/r2g2_elementwise.h):
// contiguous buffers at the flat sizes of sizes.h.
#include <cstdint>

#include "r2g2/kernels/cases/sizes.h"

namespace r2g2::kernels::cases {

// Every this many variances (or sigmas) one is exactly 0: a degenerate unit, which must
// give 0 rather than NaN or inf.
constexpr int64_t kDegenerateEvery = 97;

}  // namespace r2g2::kernels::cases
