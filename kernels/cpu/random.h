#pragma once
// CPU reference of the counter-based normal generator (declared in kernels/random.inc).
#include <cstdint>

namespace r2g2::kernels::cpu {
#include "r2g2/kernels/random.inc"

// ---- CPU only: the tests' reference for the raw generator. ----
// One Philox4x32-10 block, exposed for tests against published vectors (and against
// kernels::cuda::philox4x32_10_blocks, which computes many blocks in device memory).
void philox4x32_10(const uint32_t counter[4], const uint32_t key[2], uint32_t out[4]);
}  // namespace r2g2::kernels::cpu
