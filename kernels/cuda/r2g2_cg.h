#pragma once
// The batched R2-G2 latent solve on CUDA (declarations: kernels/r2g2_cg.inc): device
// pointers, iterations and residual too. One thread block per system (the grid is capped
// and blocks stride over the systems, so any int64 count works); products with K (or
// A^T A) go through W, which every block reads from global memory (small and shared, so
// it stays in L2).
#include <cstdint>

#include "r2g2/kernels/r2g2_solve.h"

namespace r2g2::kernels::cuda {
#include "r2g2/kernels/r2g2_cg.inc"
}  // namespace r2g2::kernels::cuda
