#pragma once
// CUDA implementation of kernels/cpu/random.h: the same signatures, device pointers,
// launched on r2g2's current stream (kernels/cuda/stream.h). Errors throw r2g2::Error.
// The same seed and offset give the same Philox integers as the CPU, bit for bit; the
// normals agree with the CPU's to the bound stated in core/random.h (the device's log,
// sqrt, cos and sin are not glibc's).
// ---- The CPU reference's notes follow. ----
// The counter-based normal generator specified in core/random.h.
#include <cstdint>

namespace r2g2::kernels::cuda {

// out[i] = normal number (offset + i) of stream `seed`.
template <class T>
void philox_normal(uint64_t seed, uint64_t offset, T* out, int64_t n);
// The raw Philox4x32-10 outputs of blocks first_block .. first_block + n_blocks - 1 of
// stream `seed` (counter {lo32(block), hi32(block), 0, 0}), four per block into out
// (device memory): for tests against kernels::cpu::philox4x32_10.
void philox4x32_10_blocks(uint64_t seed, uint64_t first_block, uint32_t* out, int64_t n_blocks);

}  // namespace r2g2::kernels::cuda
