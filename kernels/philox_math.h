#pragma once
// The Philox4x32-10 rounds and the integer-to-uniform map of the generator specified in
// core/random.h, shared by kernels/cpu/random.cpp and kernels/cuda/random_kernels.cuh so
// that both devices produce the same integers and uniforms, bit for bit.
#include <cstdint>

#include "r2g2/kernels/host_device.h"

namespace r2g2::kernels {

// Ten rounds on counter (c0, c1, c2, c3) with key (k0, k1), in place. Inlined, so that a
// loop over many counters becomes straight-line vector code on the CPU; the 64-bit
// products compile to the device's 32-bit high/low multiplies.
R2G2_HOST_DEVICE inline void philox4x32_10_rounds(uint32_t& c0, uint32_t& c1, uint32_t& c2, uint32_t& c3,
                                                  uint32_t k0, uint32_t k1) {
  constexpr uint32_t M0 = 0xD2511F53u, M1 = 0xCD9E8D57u, W0 = 0x9E3779B9u, W1 = 0xBB67AE85u;
#ifdef __CUDA_ARCH__
#pragma unroll
#endif
  for (int round = 0; round < 10; ++round) {
    const uint64_t p0 = static_cast<uint64_t>(M0) * c0;
    const uint64_t p1 = static_cast<uint64_t>(M1) * c2;
    const uint32_t hi0 = static_cast<uint32_t>(p0 >> 32), lo0 = static_cast<uint32_t>(p0);
    const uint32_t hi1 = static_cast<uint32_t>(p1 >> 32), lo1 = static_cast<uint32_t>(p1);
    c0 = hi1 ^ c1 ^ k0;
    c1 = lo1;
    c2 = hi0 ^ c3 ^ k1;
    c3 = lo0;
    k0 += W0;
    k1 += W1;
  }
}

// u = (r + 0.5) / 2^32, in double: exact, never 0 or 1.
R2G2_HOST_DEVICE inline double philox_uniform(uint32_t r) {
  return (static_cast<double>(r) + 0.5) * (1.0 / 4294967296.0);
}

}  // namespace r2g2::kernels
