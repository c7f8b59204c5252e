#pragma once
// CPU GEMM (declared in kernels/gemm.inc): OpenBLAS behind `gemm` when r2g2 was built with
// it, else the hand-written cache-blocked `gemm_blocked`.
#include <cstdint>

namespace r2g2::kernels::cpu {
#include "r2g2/kernels/gemm.inc"

// ---- CPU only: whether `gemm` calls a BLAS library (`r2g2 bench cpu` reports it). ----
bool gemm_uses_blas();
}  // namespace r2g2::kernels::cpu
