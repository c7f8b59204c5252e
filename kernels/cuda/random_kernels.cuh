#pragma once
// Device code of kernels/cuda/random.cu: the generator specified in core/random.h. A
// header, so that the host emulator runs it too.
#include <cstdint>

#include "r2g2/kernels/cuda/launch.cuh"

namespace r2g2::kernels::cuda::random_detail {

struct Block4 {
  uint32_t r[4];
};

__device__ __forceinline__ Block4 philox(uint64_t block, uint32_t k0, uint32_t k1) {
  constexpr uint32_t M0 = 0xD2511F53u, M1 = 0xCD9E8D57u, W0 = 0x9E3779B9u, W1 = 0xBB67AE85u;
  uint32_t c0 = static_cast<uint32_t>(block), c1 = static_cast<uint32_t>(block >> 32), c2 = 0, c3 = 0;
#pragma unroll
  for (int round = 0; round < 10; ++round) {
    const uint32_t hi0 = __umulhi(M0, c0), lo0 = M0 * c0;
    const uint32_t hi1 = __umulhi(M1, c2), lo1 = M1 * c2;
    c0 = hi1 ^ c1 ^ k0;
    c1 = lo1;
    c2 = hi0 ^ c3 ^ k1;
    c3 = lo0;
    k0 += W0;
    k1 += W1;
  }
  return {{c0, c1, c2, c3}};
}

// Thread b handles Philox block first_block + b and writes the lanes of it that fall in
// [offset, offset + n) to out[k - offset]. The uniforms are exact in double, and no step
// has the form a * b + c that nvcc would fuse into an fma, so the uniforms and angles are
// the CPU's to the bit and only the device's log, sqrt, cos and sin differ from glibc's
// (core/random.h states the resulting bound).
template <class T>
__global__ void philox_normal_kernel(uint32_t k0, uint32_t k1, uint64_t offset, T* __restrict__ out,
                                     int64_t n, uint64_t first_block, int64_t n_blocks) {
  constexpr double two_pi = 6.283185307179586476925286766559;
  constexpr double inv_2_32 = 1.0 / 4294967296.0;
  for (int64_t b = global_thread(); b < n_blocks; b += grid_threads()) {
    const uint64_t block = first_block + static_cast<uint64_t>(b);
    const Block4 r = philox(block, k0, k1);
    double u[4];
#pragma unroll
    for (int j = 0; j < 4; ++j) u[j] = (static_cast<double>(r.r[j]) + 0.5) * inv_2_32;
    const double rad0 = sqrt(-2.0 * log(u[0])), rad1 = sqrt(-2.0 * log(u[2]));
    const double normal[4] = {rad0 * cos(two_pi * u[1]), rad0 * sin(two_pi * u[1]), rad1 * cos(two_pi * u[3]),
                              rad1 * sin(two_pi * u[3])};
#pragma unroll
    for (int lane = 0; lane < 4; ++lane) {
      const uint64_t k = block * 4 + static_cast<uint64_t>(lane);  // the normal's number in the stream
      if (k >= offset && k - offset < static_cast<uint64_t>(n))
        out[k - offset] = static_cast<T>(normal[lane]);
    }
  }
}

__global__ void philox_blocks_kernel(uint32_t k0, uint32_t k1, uint64_t first_block,
                                     uint32_t* __restrict__ out, int64_t n_blocks) {
  for (int64_t b = global_thread(); b < n_blocks; b += grid_threads()) {
    const Block4 r = philox(first_block + static_cast<uint64_t>(b), k0, k1);
#pragma unroll
    for (int j = 0; j < 4; ++j) out[4 * b + j] = r.r[j];
  }
}

}  // namespace r2g2::kernels::cuda::random_detail
