#pragma once
// Counter-based normal generator: a (seed, offset) names the same numbers on CPU and
// CUDA, to the precision stated at the end of this comment.
//
// Normal number k of stream `seed` (k = offset + i for element i of a request) is:
//   block = k / 4, lane = k % 4
//   (r0, r1, r2, r3) = Philox4x32-10(counter = {lo32(block), hi32(block), 0, 0},
//                                     key = {lo32(seed), hi32(seed)})
//   u_j = (r_j + 0.5) / 2^32                      (in double: never 0 or 1)
//   lanes 0,1: sqrt(-2 ln u0) * {cos, sin}(2 pi u1)
//   lanes 2,3: sqrt(-2 ln u2) * {cos, sin}(2 pi u3)
// computed in double and rounded to the output dtype. Philox constants are those of
// Salmon et al. 2011 (M0 = 0xD2511F53, M1 = 0xCD9E8D57, W0 = 0x9E3779B9, W1 = 0xBB67AE85).
//
// Across devices:
// - The Philox integers r_j, and so the uniforms u_j (exact in double), are bit-identical.
// - The normals are not: they go through log, sqrt, cos and sin, whose last bits differ
//   between math libraries. CUDA documents its double log within 1 ulp and cos/sin within
//   2 ulp of the correctly rounded result, glibc (2.36, x86-64) 1 ulp for each; sqrt is
//   correctly rounded on both. A float64 normal is then, to first order, within
//   8.5 * 2^-53 (relative) of the exact value on CUDA and 6.5 * 2^-53 with glibc, so the
//   two devices' float64 normals agree to 16 * 2^-53 relative (under 16 ulp), and their
//   float32 normals, rounded from those, are equal or adjacent (one ulp apart).
// On one device, every number depends only on (seed, k): splitting a request into smaller
// ones, or running it on more threads, gives the same bits.
#include <cstdint>

#include "r2g2/core/tensor.h"
#include "r2g2/kernels/runtime/hash.h"

namespace r2g2 {

// An independent stream number for purpose `stream` of a run seeded `seed` (SplitMix64
// mixing), so that e.g. initialisation and training noise never share a stream, whatever
// the seed: seed + 1 for one purpose could be seed' + 0 for another.
inline uint64_t derive_seed(uint64_t seed, uint64_t stream) { return splitmix64(seed ^ splitmix64(stream)); }

// A stream position that advances as numbers are drawn. A checkpoint stores both fields;
// restoring them reproduces the rest of the run.
struct Generator {
  uint64_t seed = 0;
  uint64_t offset = 0;
  explicit Generator(uint64_t s = 0, uint64_t o = 0) : seed(s), offset(o) {}
  // Reserves n numbers and returns where they start.
  uint64_t take(uint64_t n) {
    uint64_t start = offset;
    offset += n;
    return start;
  }
  Tensor randn(const Shape& shape, DType dtype = DType::f32, Device device = {}) {
    return Tensor::randn(shape, seed, take(static_cast<uint64_t>(numel_of(shape))), dtype, device);
  }
};

}  // namespace r2g2
