#pragma once
// Cases of the Philox generator (kernels/{cpu,cuda}/random.h); see sizes.h.
#include <cstdint>
#include <vector>

#include "r2g2/kernels/cases/sizes.h"

namespace r2g2::kernels::cases {

// Seeds: zero, one, a dense bit pattern, all ones (both key words used).
inline const std::vector<uint64_t>& test_seeds() {
  static const std::vector<uint64_t> seeds{0, 1, 0xDEADBEEFCAFEF00Dull, ~uint64_t{0}};
  return seeds;
}

// First Philox blocks: the start, the next, one whose run carries into the counter's high
// word (2^32 - 3 onwards), one far out.
inline const std::vector<uint64_t>& test_first_blocks() {
  static const std::vector<uint64_t> blocks{0, 1, (uint64_t{1} << 32) - 3, (uint64_t{1} << 63) + 5};
  return blocks;
}

// Stream offsets of the normals: inside a block (1, 2, 3, 5), ones whose blocks cross into
// the counter's high word or sit far out in the stream.
inline const std::vector<uint64_t>& test_normal_offsets() {
  static const std::vector<uint64_t> offsets{
      0, 1, 2, 3, 5, 4 * ((uint64_t{1} << 32) - 1) + 2, (uint64_t{1} << 62) + 3};
  return offsets;
}

// Timed: normals at the flat perf sizes (perf_sizes), this seed (plus n) and offset.
constexpr uint64_t kPerfSeed = 0x5EED0000ull;
constexpr uint64_t kPerfOffset = 12345;

}  // namespace r2g2::kernels::cases
