#pragma once
// CUDA normal generator (declared in kernels/random.inc): device pointers, launched on
// r2g2's current stream (kernels/cuda/stream.h); errors throw r2g2::Error.
// The same seed and offset give the same normals as the CPU, bit for bit: both devices run
// kernels/philox_math.h with the same roundings (core/random.h).
#include <cstdint>

namespace r2g2::kernels::cuda {
#include "r2g2/kernels/random.inc"

// ---- CUDA only: the raw generator for tests, many blocks at once in device memory
// (the CPU exposes one block, kernels::cpu::philox4x32_10). ----
// The raw Philox4x32-10 outputs of blocks first_block .. first_block + n_blocks - 1 of
// stream `seed` (counter {lo32(block), hi32(block), 0, 0}), four per block into out
// (device memory): for tests against kernels::cpu::philox4x32_10.
void philox4x32_10_blocks(uint64_t seed, uint64_t first_block, uint32_t* out, int64_t n_blocks);
}  // namespace r2g2::kernels::cuda
