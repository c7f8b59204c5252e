#pragma once
// Device code of kernels/cuda/random.cu: the generator specified in core/random.h. A
// header, so that the host emulator runs it too.
#include <cstdint>

#include "r2g2/kernels/cuda/launch.cuh"
#include "r2g2/kernels/philox_math.h"

namespace r2g2::kernels::cuda::random_detail {

struct Block4 {
  uint32_t r[4];
};

// Philox block `block` of the stream keyed (k0, k1): counter {lo32(block), hi32(block), 0, 0}.
__device__ __forceinline__ Block4 philox(uint64_t block, uint32_t k0, uint32_t k1) {
  uint32_t c0 = static_cast<uint32_t>(block), c1 = static_cast<uint32_t>(block >> 32), c2 = 0, c3 = 0;
  philox4x32_10_rounds(c0, c1, c2, c3, k0, k1);
  return {{c0, c1, c2, c3}};
}

// Thread b handles Philox block first_block + b and writes the lanes of it that fall in
// [offset, offset + n) to out[k - offset]. kernels/philox_math.h does the arithmetic, with
// the CPU's operations and roundings, so the normals are the CPU's to the bit.
template <class T>
__device__ __forceinline__ void philox_normal_blocks(uint32_t k0, uint32_t k1, uint64_t offset,
                                                     T* __restrict__ out, int64_t n, uint64_t first_block,
                                                     int64_t n_blocks) {
  for (int64_t b = global_thread(); b < n_blocks; b += grid_threads()) {
    const uint64_t block = first_block + static_cast<uint64_t>(b);
    const Block4 r = philox(block, k0, k1);
    double normal[4];
    philox_normal_pair(sqrt(philox_minus_two_log(r.r[0])), r.r[1], normal[0], normal[1]);
    philox_normal_pair(sqrt(philox_minus_two_log(r.r[2])), r.r[3], normal[2], normal[3]);
#pragma unroll
    for (int lane = 0; lane < 4; ++lane) {
      const uint64_t k = block * 4 + static_cast<uint64_t>(lane);  // the normal's number in the stream
      if (k >= offset && k - offset < static_cast<uint64_t>(n))
        out[k - offset] = static_cast<T>(normal[lane]);
    }
  }
}

template <class T>
__global__ void philox_normal_kernel(uint32_t k0, uint32_t k1, uint64_t offset, T* __restrict__ out,
                                     int64_t n, uint64_t first_block, int64_t n_blocks) {
  philox_normal_blocks(k0, k1, offset, out, n, first_block, n_blocks);
}

// The same draw in a captured graph: the offset is the captured one plus *shift, read
// when the replay runs (kernels/cuda/graph.h), so the blocks are found here. The grid was
// sized for the most blocks n normals can straddle, (n + 3) / 4 + 1.
template <class T>
__global__ void philox_normal_replay_kernel(uint32_t k0, uint32_t k1, uint64_t captured_offset,
                                            const uint64_t* __restrict__ shift, T* __restrict__ out,
                                            int64_t n) {
  const uint64_t offset = captured_offset + *shift;
  const uint64_t first_block = offset / 4;
  const int64_t n_blocks =
      static_cast<int64_t>((offset + static_cast<uint64_t>(n) - 1) / 4 - first_block + 1);
  philox_normal_blocks(k0, k1, offset, out, n, first_block, n_blocks);
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
