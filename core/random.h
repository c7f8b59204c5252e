#pragma once
// Counter-based normal generator: a (seed, offset) names the same numbers on CPU and
// CUDA, bit for bit.
//
// Normal number k of stream `seed` (k = offset + i for element i of a request) is:
//   block = k / 4, lane = k % 4
//   (r0, r1, r2, r3) = Philox4x32-10(counter = {lo32(block), hi32(block), 0, 0},
//                                     key = {lo32(seed), hi32(seed)})
//   u_j = (r_j + 0.5) / 2^32                      (in double: exact, never 0 or 1)
//   lanes 0,1: sqrt(-2 ln u0) * {cos, sin}(2 pi u1)
//   lanes 2,3: sqrt(-2 ln u2) * {cos, sin}(2 pi u3)
// computed in double and rounded to the output dtype. Philox constants are those of
// Salmon et al. 2011 (M0 = 0xD2511F53, M1 = 0xCD9E8D57, W0 = 0x9E3779B9, W1 = 0xBB67AE85).
//
// ln, cos and sin are r2g2's own (kernels/philox_math.h), not a math library's:
// - ln u: fdlibm's log algorithm without its special-case branches (u = 2^k m,
//   m in [sqrt(2)/2, sqrt(2)), a minimax polynomial in s = (m - 1)/(m + 1), k ln 2 in
//   two parts). Under 1 ulp from the exact value: 0.844 ulp at worst over all 2^32 u.
// - cos, sin (2 pi u): 4u = q + g is split exactly, in integers, into the nearest quadrant
//   q and |g| < 1/2; x = (pi/2) g is formed as a double-double; fdlibm's sin and cos
//   kernels on |x| < pi/4 give sin x and cos x, which q swaps and negates. Under 1 ulp
//   from the exact value: 0.805 ulp at worst over all 2^32 u.
// - sqrt is correctly rounded, and each product radius * (cos or sin) rounded once.
// A float64 normal is then within 5 * 2^-53 (relative) of the exact Box-Muller value of
// its u's: ln's 2^-52 halves under the square root, plus its rounding, plus 2^-52 for
// cos or sin, plus the product's rounding.
//
// Across devices: the CPU and CUDA kernels run this same code, each step one IEEE double
// operation rounded to nearest and no multiply fused into an addition (the device uses
// __dmul_rn; x86-64 hosts compile it without FMA instructions), so float64 normals, and
// the float32 normals rounded from them, are bit-identical on both devices.
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
