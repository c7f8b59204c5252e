// The counter-based normal generator of core/random.h on the device. One thread computes
// one Philox block (four normals) exactly as the CPU reference does: the same 32-bit
// integers, the same uniforms and Box-Muller in double, rounded to T at the end. The
// device's double log/sqrt/sin/cos are within an ulp or two of glibc's, so float32 output
// matches the CPU's bit for bit except, rarely, a last-bit rounding tie-break.
#include <cuda_runtime.h>

#include "kernels/cuda/launch.cuh"
#include "kernels/cuda/random.h"

namespace r2g2::kernels::cuda {

namespace {

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
// [offset, offset + n) to out[k - offset].
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

}  // namespace

template <class T>
void philox_normal(uint64_t seed, uint64_t offset, T* out, int64_t n) {
  if (n <= 0) return;
  // Normals offset .. offset + n - 1 live in blocks offset / 4 .. (offset + n - 1) / 4.
  const uint64_t last = offset + static_cast<uint64_t>(n) - 1;
  const uint64_t first_block = offset / 4;
  const int64_t n_blocks = static_cast<int64_t>(last / 4 - first_block + 1);
  R2G2_LAUNCH(philox_normal_kernel<T>, blocks_for(n_blocks), kThreads, static_cast<uint32_t>(seed),
              static_cast<uint32_t>(seed >> 32), offset, out, n, first_block, n_blocks);
}

void philox4x32_10_blocks(uint64_t seed, uint64_t first_block, uint32_t* out, int64_t n_blocks) {
  if (n_blocks <= 0) return;
  R2G2_LAUNCH(philox_blocks_kernel, blocks_for(n_blocks), kThreads, static_cast<uint32_t>(seed),
              static_cast<uint32_t>(seed >> 32), first_block, out, n_blocks);
}

template void philox_normal<float>(uint64_t, uint64_t, float*, int64_t);
template void philox_normal<double>(uint64_t, uint64_t, double*, int64_t);

}  // namespace r2g2::kernels::cuda
