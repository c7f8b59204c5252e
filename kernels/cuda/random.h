#pragma once
// CUDA implementation of kernels/cpu/random.h: the same signatures, device pointers,
// launched on r2g2's current stream (kernels/cuda/stream.h). Errors throw r2g2::Error.
// ---- The CPU reference's notes follow. ----
// The counter-based normal generator specified in core/random.h.
#include <cstdint>

namespace r2g2::kernels::cuda {

// out[i] = normal number (offset + i) of stream `seed`.
template <class T>
void philox_normal(uint64_t seed, uint64_t offset, T* out, int64_t n);

}  // namespace r2g2::kernels::cuda
