#pragma once
// Cases of the batched R2-G2 conv solves (kernels/{cpu,cuda}/r2g2_conv.h); see sizes.h.
#include <cstdint>
#include <vector>

#include "r2g2/kernels/cases/sizes.h"

namespace r2g2::kernels::cases {

// images x out_channels systems over im2col matrices [d, p]: m-space (r2g2_conv_solve_m)
// when p <= d, else D-space (r2g2_conv_solve_d), as the estimator picks.
struct ConvSolveCase {
  int64_t images, out_channels, d, p;
};

// Timed: VGG-11-like layers on 32x32 inputs: the first (d = 3*3*3 < p = 32*32: D-space),
// a middle one (64 channels at 8x8: m-space, p = 64), the top (512 channels at 2x2:
// p = 4). `quick` shrinks the batches for the CPU reference.
inline std::vector<ConvSolveCase> perf_conv_solve_cases(bool quick) {
  const int64_t images = quick ? 1 : 32;
  return {{images, 64, 27, 1024}, {images, quick ? 16 : 128, 576, 64}, {images, quick ? 64 : 512, 4608, 4}};
}

}  // namespace r2g2::kernels::cases
