#pragma once
// The counter-based normal generator specified in core/random.h.
#include <cstdint>

namespace r2g2::kernels::cpu {

// out[i] = normal number (offset + i) of stream `seed`.
template <class T>
void philox_normal(uint64_t seed, uint64_t offset, T* out, int64_t n);
// One Philox4x32-10 block, exposed for tests against published vectors.
void philox4x32_10(const uint32_t counter[4], const uint32_t key[2], uint32_t out[4]);

}  // namespace r2g2::kernels::cpu
