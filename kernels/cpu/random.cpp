#include "r2g2/kernels/cpu/random.h"

#include <algorithm>
#include <cmath>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "r2g2/kernels/philox_math.h"
#include "r2g2/kernels/runtime/thread_pool.h"

namespace r2g2::kernels::cpu {

namespace {

// Blocks per batch: the batch's arrays (about 8 KiB) stay in L1.
constexpr int kBatch = 128;

// Square roots in place, two at a time: std::sqrt may set errno, which keeps the compiler
// from vectorising it. sqrtpd is correctly rounded, as is the device's sqrt.
void sqrt_in_place(double* x, int n) {
  int i = 0;
#if defined(__SSE2__)
  for (; i + 2 <= n; i += 2) _mm_storeu_pd(x + i, _mm_sqrt_pd(_mm_loadu_pd(x + i)));
#endif
  for (; i < n; ++i) x[i] = std::sqrt(x[i]);
}

// The 4 * nb normals of blocks first_block .. first_block + nb - 1, in stream order.
// Each step runs over the whole batch before the next, so that every step vectorises.
// The arithmetic is kernels/philox_math.h's, as on CUDA, so the values are bit-identical.
// Compiled once per instruction set below (always inlined there).
#if defined(__GNUC__) || defined(__clang__)
__attribute__((always_inline))
#endif
inline void normal_blocks_body(uint32_t k0, uint32_t k1, uint64_t first_block, int nb, double* out) {
  // Pair i = 2 * b + h of block b (h = 0: lanes 0, 1; h = 1: lanes 2, 3) has radius
  // word r[2h] and angle word r[2h + 1], and gives out[2i] (cos) and out[2i + 1] (sin).
  uint32_t radius_word[2 * kBatch], angle_word[2 * kBatch];
  for (int b = 0; b < nb; ++b) {
    uint64_t block = first_block + static_cast<uint64_t>(b);
    uint32_t c0 = static_cast<uint32_t>(block), c1 = static_cast<uint32_t>(block >> 32), c2 = 0, c3 = 0;
    philox4x32_10_rounds(c0, c1, c2, c3, k0, k1);
    radius_word[2 * b] = c0;
    angle_word[2 * b] = c1;
    radius_word[2 * b + 1] = c2;
    angle_word[2 * b + 1] = c3;
  }
  const int pairs = 2 * nb;
  double radius[2 * kBatch];
  for (int i = 0; i < pairs; ++i) radius[i] = philox_minus_two_log(radius_word[i]);
  sqrt_in_place(radius, pairs);
  for (int i = 0; i < pairs; ++i) philox_normal_pair(radius[i], angle_word[i], out[2 * i], out[2 * i + 1]);
}

void normal_blocks_baseline(uint32_t k0, uint32_t k1, uint64_t first_block, int nb, double* out) {
  normal_blocks_body(k0, k1, first_block, nb, out);
}

// On x86-64 an AVX2 copy as well (twice the lanes, half the instructions), taken where
// the CPU has AVX2. Both round alike: AVX2 brings no fused multiply-add (that is the
// separate FMA extension), so the bits are the same. Chosen by a check at the first call
// rather than by target_clones, whose load-time resolver crashes under ThreadSanitizer.
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
__attribute__((target("avx2"))) void normal_blocks_avx2(uint32_t k0, uint32_t k1, uint64_t first_block, int nb,
                                                        double* out) {
  normal_blocks_body(k0, k1, first_block, nb, out);
}

void normal_blocks(uint32_t k0, uint32_t k1, uint64_t first_block, int nb, double* out) {
  static const bool has_avx2 = __builtin_cpu_supports("avx2");
  if (has_avx2)
    normal_blocks_avx2(k0, k1, first_block, nb, out);
  else
    normal_blocks_baseline(k0, k1, first_block, nb, out);
}
#else
void normal_blocks(uint32_t k0, uint32_t k1, uint64_t first_block, int nb, double* out) {
  normal_blocks_baseline(k0, k1, first_block, nb, out);
}
#endif

// out[k - begin] = normal number k, for k in [begin, end). Ranges may start and end
// inside a block: the whole block is computed and only the wanted lanes kept.
template <class T>
void normal_range(uint32_t k0, uint32_t k1, uint64_t begin, uint64_t end, T* out) {
  double normal[4 * kBatch];
  const uint64_t end_block = (end + 3) / 4;
  for (uint64_t block = begin / 4; block < end_block; block += kBatch) {
    const int nb = static_cast<int>(std::min<uint64_t>(kBatch, end_block - block));
    normal_blocks(k0, k1, block, nb, normal);
    const uint64_t lo = std::max(begin, 4 * block), hi = std::min(end, 4 * (block + nb));
    for (uint64_t k = lo; k < hi; ++k) out[k - begin] = static_cast<T>(normal[k - 4 * block]);
  }
}

// Batches of kBatch blocks (512 normals, about 6 us on one core) per chunk of the pool.
constexpr int64_t kBatchesPerChunk = 8;

}  // namespace

void philox4x32_10(const uint32_t counter[4], const uint32_t key[2], uint32_t out[4]) {
  uint32_t c0 = counter[0], c1 = counter[1], c2 = counter[2], c3 = counter[3];
  philox4x32_10_rounds(c0, c1, c2, c3, key[0], key[1]);
  out[0] = c0;
  out[1] = c1;
  out[2] = c2;
  out[3] = c3;
}

template <class T>
void philox_normal(uint64_t seed, uint64_t offset, T* out, int64_t n) {
  if (n <= 0) return;
  const uint32_t k0 = static_cast<uint32_t>(seed), k1 = static_cast<uint32_t>(seed >> 32);
  // Every value depends only on its index, so any split of [0, n) gives the same output.
  // Chunks are whole batches of blocks, so that no block is computed twice.
  const uint64_t begin = offset, end = offset + static_cast<uint64_t>(n);
  const uint64_t first_block = begin / 4, end_block = (end + 3) / 4;
  const int64_t batches = static_cast<int64_t>((end_block - first_block + kBatch - 1) / kBatch);
  runtime::parallel_for(0, batches, kBatchesPerChunk, [&](int64_t b0, int64_t b1) {
    const uint64_t lo = std::max(begin, 4 * (first_block + static_cast<uint64_t>(b0) * kBatch));
    const uint64_t hi = std::min(end, 4 * (first_block + static_cast<uint64_t>(b1) * kBatch));
    normal_range(k0, k1, lo, hi, out + (lo - begin));
  });
}

template void philox_normal<float>(uint64_t, uint64_t, float*, int64_t);
template void philox_normal<double>(uint64_t, uint64_t, double*, int64_t);

}  // namespace r2g2::kernels::cpu
