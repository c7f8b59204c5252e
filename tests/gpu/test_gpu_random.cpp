// RNG parity: CUDA randn draws the same numbers as the CPU for the same seed and offset
// (core/random.h), bit for bit: the Philox integers, and the normals, which both devices
// compute with kernels/philox_math.h (r2g2's own ln, cos and sin, no fused multiply-adds,
// correctly rounded sqrt), in float64 and float32.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "gpu_test_util.h"

#if R2G2_WITH_CUDA
#include "r2g2/kernels/cpu/random.h"
#include "r2g2/kernels/cuda/random.h"
#endif

using namespace r2g2;

namespace {

struct Draw {
  uint64_t seed, offset;
  int64_t n;
};

const Draw kDraws[] = {
    {0, 0, 1},
    {0, 1, 3},
    {42, 3, 7},
    {42, 5, 1000},
    {7, 1001, 4099},
    {123456789, 2, 1 << 20},
    {(uint64_t{1} << 40) + 7, (uint64_t{1} << 33) + 2, 10007},
    {~uint64_t{0}, 13, 513},
};

}  // namespace

#if R2G2_WITH_CUDA
TEST_CASE("random: Philox4x32-10 integers are identical on both devices") {
  R2G2_REQUIRE_CUDA();
  for (uint64_t seed : {uint64_t{0}, uint64_t{42}, (uint64_t{1} << 40) + 7, ~uint64_t{0}})
    for (uint64_t first : {uint64_t{0}, uint64_t{1}, (uint64_t{1} << 32) - 2, (uint64_t{1} << 40) + 3}) {
      CAPTURE(seed);
      CAPTURE(first);
      const int64_t blocks = 1001;
      Tensor dev = Tensor::empty({4 * blocks}, DType::i32, Device::cuda());
      kernels::cuda::philox4x32_10_blocks(seed, first, reinterpret_cast<uint32_t*>(dev.data<int32_t>()),
                                          blocks);
      std::vector<int32_t> got = dev.to_int_vector();
      const uint32_t key[2] = {static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32)};
      bool same = true;
      for (int64_t b = 0; b < blocks; ++b) {
        const uint64_t block = first + static_cast<uint64_t>(b);
        const uint32_t counter[4] = {static_cast<uint32_t>(block), static_cast<uint32_t>(block >> 32), 0, 0};
        uint32_t want[4];
        kernels::cpu::philox4x32_10(counter, key, want);
        for (int j = 0; j < 4; ++j) same = same && static_cast<uint32_t>(got[4 * b + j]) == want[j];
      }
      CHECK(same);
    }
}
#endif

TEST_CASE("random: CUDA randn equals CPU randn for the same seed and offset") {
  R2G2_REQUIRE_CUDA();
  for (const Draw& d : kDraws) {
    CAPTURE(d.seed);
    CAPTURE(d.offset);
    CAPTURE(d.n);
    for (DType dtype : {DType::f32, DType::f64}) {
      CAPTURE(dtype_name(dtype));
      auto cpu = Tensor::randn({d.n}, d.seed, d.offset, dtype).to_vector();
      auto gpu = Tensor::randn({d.n}, d.seed, d.offset, dtype, Device::cuda()).to_vector();
      int64_t differ = 0;
      for (size_t i = 0; i < cpu.size(); ++i) differ += gpu[i] != cpu[i];
      CHECK(differ == 0);
    }
  }
}

TEST_CASE("random: draws split at any offset concatenate to one draw, on CUDA") {
  R2G2_REQUIRE_CUDA();
  // Offsets that are not multiples of 4 start and end inside a Philox block.
  const uint64_t seed = 99;
  Tensor whole = Tensor::randn({1003}, seed, 5, DType::f32, Device::cuda());
  Generator gen(seed, 5);
  std::vector<double> parts;
  for (int64_t n : {1, 2, 3, 5, 992}) {
    auto v = gen.randn({n}, DType::f32, Device::cuda()).to_vector();
    parts.insert(parts.end(), v.begin(), v.end());
  }
  CHECK(gen.offset == 5 + 1003);
  CHECK(parts == whole.to_vector());
  // Same seed and offset twice: the same bits; another seed: different numbers.
  CHECK(Tensor::randn({1003}, seed, 5, DType::f32, Device::cuda()).to_vector() == whole.to_vector());
  CHECK(Tensor::randn({1003}, seed + 1, 5, DType::f32, Device::cuda()).to_vector() != whole.to_vector());
}

TEST_CASE("random: CUDA normals look standard normal") {
  R2G2_REQUIRE_CUDA();
  const int64_t n = 1 << 20;
  Tensor z = Tensor::randn({n}, 2024, 1, DType::f64, Device::cuda());
  const double m = mean(z).item();
  const double var = mean(square(add(z, -m))).item();
  CHECK(std::abs(m) < 5.0 / std::sqrt(static_cast<double>(n)));
  CHECK(std::abs(var - 1.0) < 5.0 * std::sqrt(2.0 / static_cast<double>(n)));
}
