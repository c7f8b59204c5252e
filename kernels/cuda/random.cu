// Launchers of the counter-based normal generator of core/random.h (device code in
// random_kernels.cuh). One thread computes one Philox block (four normals) exactly as the
// CPU reference does: the same 32-bit integers, uniforms and Box-Muller arithmetic
// (kernels/philox_math.h), rounded to T at the end.
#include "r2g2/kernels/cuda/random.h"

#include "r2g2/kernels/cuda/graph.h"
#include "r2g2/kernels/cuda/random_kernels.cuh"

namespace r2g2::kernels::cuda {

using namespace random_detail;

template <class T>
void philox_normal(uint64_t seed, uint64_t offset, T* out, int64_t n) {
  if (n <= 0) return;
  if (ReplayScalars* replay = capturing_scalars()) {
    // A captured draw must follow its Generator at every replay: the offset's shift is
    // read from the device (kernels/cuda/graph.h).
    const uint64_t* shift = replay->philox_shift(seed);
    R2G2_LAUNCH(philox_normal_replay_kernel<T>, blocks_for((n + 3) / 4 + 1), kThreads,
                static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32), offset, shift, out, n);
    return;
  }
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
