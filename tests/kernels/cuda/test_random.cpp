// kernels/cuda/random.cu under the emulator, against kernels/cpu/random.
//
// What must agree across devices, and how closely (core/random.h states the same):
// - The Philox integers: bit for bit. The uniforms u = (r + 0.5) / 2^32 are exact in
//   double, so they are bit-identical whenever the integers are.
// - The normals: only to the error of the device's log, sqrt, cos and sin. With u = 2^-53
//   and 1 ulp <= 2u (relative), a function documented within k ulp of the correctly
//   rounded result is within (k + 1/2) ulp <= (2k + 1) u of the exact value. Relative
//   errors along Box-Muller, against the exact value of the same double inputs:
//     u_j and -2 ln(.) scaling   exact (r + 0.5 has 33 bits; * 2^-32 and * -2 are exact)
//     ln u0                      CUDA 1 ulp: 3u          glibc 2.36: 1 ulp: 3u
//     sqrt                       half its input's error plus its rounding: 1.5u + u = 2.5u
//     theta = 2 pi u1            one rounded product: the same double on both devices
//     cos theta, sin theta       CUDA 2 ulp: 5u          glibc 2.36: 1 ulp: 3u
//     radius * trig              one rounding: u
//   CUDA: 8.5u, glibc: 6.5u, so the devices' float64 normals differ by at most 15u
//   relative to first order; 16u also covers the second-order terms.
//   A float32 normal is its device's float64 normal correctly rounded, so it is within
//   half a float ulp of it; and as 16u is far below a float ulp, the two devices' float32
//   normals are equal or adjacent.
// Under the emulator the device's math is host libm, so the normals here happen to match
// exactly; the tests assert the cross-device bounds above, which are what callers may
// rely on, and which still catch any wrong lane, counter, key or formula.
#include "emulator/cuda_emulator.h"
#include "r2g2/kernels/cuda/random.cu"

#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>
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

constexpr double kUnitRoundoff = 0x1p-53;
constexpr double kCrossDeviceRelative = 16 * kUnitRoundoff;  // see the top of this file

// |got - reference| <= (half an ulp of T when T is narrower than double) + 16u |reference|,
// with `reference` the CPU's float64 normal: the contract for either device's output.
template <class T>
void check_within_cross_device_bound(const std::vector<T>& got, const std::vector<double>& reference) {
  REQUIRE(got.size() == reference.size());
  for (size_t i = 0; i < got.size(); ++i) {
    const double g = static_cast<double>(got[i]), want = reference[i];
    double rounding = 0;
    if constexpr (!std::is_same_v<T, double>) {
      const T magnitude = std::fabs(got[i]);
      rounding = 0.5 * static_cast<double>(std::nextafter(magnitude, std::numeric_limits<T>::infinity()) -
                                           magnitude);
    }
    if (std::isfinite(g) && std::fabs(g - want) <= rounding + kCrossDeviceRelative * std::fabs(want))
      continue;
    CAPTURE(i);
    CAPTURE(g);
    CAPTURE(want);
    FAIL_CHECK("device normal outside the cross-device bound of the CPU's float64 normal");
    return;
  }
}

// Equal, or neighbours in T.
template <class T>
void check_equal_or_adjacent(const std::vector<T>& got, const std::vector<T>& want) {
  REQUIRE(got.size() == want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    if (got[i] == want[i] || std::nextafter(got[i], want[i]) == want[i]) continue;
    CAPTURE(i);
    CAPTURE(got[i]);
    CAPTURE(want[i]);
    FAIL_CHECK("device and CPU normals more than one ulp apart");
    return;
  }
}

TEST_CASE_TEMPLATE("random: normals agree with the CPU's within the cross-device bound", T, float, double) {
  for (uint64_t seed : {cases::test_seeds()[0], cases::test_seeds()[2]}) {
    for (uint64_t offset : cases::test_normal_offsets()) {
      for (int64_t n : awkward_sizes()) {
        CAPTURE(seed);
        CAPTURE(offset);
        CAPTURE(n);
        std::vector<T> got(n, std::numeric_limits<T>::quiet_NaN()), want(n);
        std::vector<double> reference(n);
        gpu::philox_normal<T>(seed, offset, got.data(), n);
        cpu::philox_normal<T>(seed, offset, want.data(), n);
        cpu::philox_normal<double>(seed, offset, reference.data(), n);
        check_within_cross_device_bound(got, reference);
        check_equal_or_adjacent(got, want);
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
  check_within_cross_device_bound(normals, reference);
}

}  // namespace
