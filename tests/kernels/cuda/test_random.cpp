// kernels/cuda/random.cu under the emulator, against kernels/cpu/random.
//
// Both devices compute the normals with the same code (kernels/philox_math.h): the same
// Philox integers, exact uniforms, and r2g2's own ln, cos and sin, every step one IEEE
// double operation rounded to nearest and none fused (the device multiplies with
// __dmul_rn), and a correctly rounded sqrt. So the normals must be the CPU's bit for bit,
// in float64 and float32, and that is what these tests assert. Under the emulator the
// device code is host code, so this checks the kernel's indexing, lanes, counters and keys
// and the shared formula; tests/gpu/test_gpu_random.cpp checks the same equality on a GPU,
// where nvcc compiles the math.
#include "emulator/cuda_emulator.h"
#include "r2g2/kernels/cuda/random.cu"

#include <cstring>
#include <limits>
#include <vector>

#include "r2g2/kernels/cases/random.h"
#include "r2g2/kernels/cpu/random.h"
#include "kernels/cuda/emulated_test_util.h"

namespace {

namespace cpu = r2g2::kernels::cpu;
namespace gpu = r2g2::kernels::cuda;
namespace cases = r2g2::kernels::cases;
namespace detail = r2g2::kernels::cuda::random_detail;
using namespace r2g2::test::emulated;

// The CPU reference's four integers of `block`, counter {lo32(block), hi32(block), 0, 0}.
std::vector<uint32_t> cpu_blocks(uint64_t seed, uint64_t first_block, int64_t n_blocks) {
  std::vector<uint32_t> out(4 * n_blocks);
  const uint32_t key[2] = {static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32)};
  for (int64_t b = 0; b < n_blocks; ++b) {
    const uint64_t block = first_block + static_cast<uint64_t>(b);
    const uint32_t counter[4] = {static_cast<uint32_t>(block), static_cast<uint32_t>(block >> 32), 0, 0};
    cpu::philox4x32_10(counter, key, out.data() + 4 * b);
  }
  return out;
}

TEST_CASE("random: Philox integers equal the CPU's bit for bit") {
  for (uint64_t seed : cases::test_seeds()) {
    for (uint64_t first_block : cases::test_first_blocks()) {
      for (int64_t n_blocks : awkward_sizes()) {
        CAPTURE(seed);
        CAPTURE(first_block);
        CAPTURE(n_blocks);
        std::vector<uint32_t> got(4 * n_blocks);
        gpu::philox4x32_10_blocks(seed, first_block, got.data(), n_blocks);
        CHECK(got == cpu_blocks(seed, first_block, n_blocks));
      }
    }
  }
}

// Random123's known-answer vector for counter 0, key 0 (Salmon et al. 2011).
TEST_CASE("random: the device Philox reproduces the published Philox4x32-10 vector") {
  std::vector<uint32_t> got(4);
  gpu::philox4x32_10_blocks(0, 0, got.data(), 1);
  CHECK(got == std::vector<uint32_t>{0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u});
}

template <class T>
void check_bit_identical(const std::vector<T>& got, const std::vector<T>& want) {
  REQUIRE(got.size() == want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    if (std::memcmp(&got[i], &want[i], sizeof(T)) == 0) continue;
    CAPTURE(i);
    CAPTURE(got[i]);
    CAPTURE(want[i]);
    FAIL_CHECK("device normal differs from the CPU's");
    return;
  }
}

TEST_CASE_TEMPLATE("random: normals equal the CPU's bit for bit", T, float, double) {
  for (uint64_t seed : {cases::test_seeds()[0], cases::test_seeds()[2]}) {
    for (uint64_t offset : cases::test_normal_offsets()) {
      for (int64_t n : awkward_sizes()) {
        CAPTURE(seed);
        CAPTURE(offset);
        CAPTURE(n);
        std::vector<T> got(n, std::numeric_limits<T>::quiet_NaN()), want(n);
        gpu::philox_normal<T>(seed, offset, got.data(), n);
        cpu::philox_normal<T>(seed, offset, want.data(), n);
        check_bit_identical(got, want);
      }
    }
  }
}

// On one device a request is a pure function of (seed, k): pieces that start and end
// inside Philox blocks give the same bits as one request.
TEST_CASE_TEMPLATE("random: a request equals the concatenation of smaller ones on the device", T, float,
                   double) {
  constexpr uint64_t seed = 42, offset = 3;
  constexpr int64_t n = 1025;
  std::vector<T> whole(n), pieces(n);
  gpu::philox_normal<T>(seed, offset, whole.data(), n);
  int64_t at = 0;
  for (int64_t len : {1, 2, 31, 32, 33, 255, 256, 257, 158}) {
    REQUIRE(at + len <= n);
    gpu::philox_normal<T>(seed, offset + static_cast<uint64_t>(at), pieces.data() + at, len);
    at += len;
  }
  REQUIRE(at == n);
  CHECK(std::memcmp(whole.data(), pieces.data(), n * sizeof(T)) == 0);
}

TEST_CASE("random: empty requests launch nothing") {
  const int64_t before = r2g2_emu::launch_count();
  for (int64_t n : {int64_t{0}, int64_t{-1}}) {
    gpu::philox_normal<float>(1, 0, nullptr, n);
    gpu::philox_normal<double>(1, 7, nullptr, n);
    gpu::philox4x32_10_blocks(1, 0, nullptr, n);
  }
  CHECK(r2g2_emu::launch_count() == before);
}

// The launchers size the grid to cover every block in one pass; a grid smaller than that
// (as past kMaxBlocks blocks on a device) must still reach every block through the
// stride loop.
TEST_CASE("random: the kernels' grid-stride loops cover every block with a grid smaller than n") {
  constexpr unsigned grid = 3, block = 32;
  constexpr uint64_t seed = 0x0123456789ABCDEFull, first_block = 11;
  constexpr int64_t n_blocks = 257;
  std::vector<uint32_t> ints(4 * n_blocks);
  R2G2_LAUNCH(detail::philox_blocks_kernel, grid, block, static_cast<uint32_t>(seed),
              static_cast<uint32_t>(seed >> 32), first_block, ints.data(), n_blocks);
  CHECK(ints == cpu_blocks(seed, first_block, n_blocks));

  // Normals 4 * 11 + 1 .. 4 * 11 + 1 + 1023 span blocks 11 .. 11 + 256.
  constexpr uint64_t offset = 4 * first_block + 1;
  constexpr int64_t n = 4 * n_blocks - 4;
  std::vector<double> normals(n), reference(n);
  R2G2_LAUNCH(detail::philox_normal_kernel<double>, grid, block, static_cast<uint32_t>(seed),
              static_cast<uint32_t>(seed >> 32), offset, normals.data(), n, first_block, n_blocks);
  cpu::philox_normal<double>(seed, offset, reference.data(), n);
  check_bit_identical(normals, reference);
}

}  // namespace
