// The emulator itself (tests/emulator): that it gives CUDA's semantics to the features
// the kernels use, and that it reports misuse instead of hiding it.
#include "emulator/cuda_emulator.h"

#include <numeric>
#include <string>

#include "kernels/cuda/emulated_test_util.h"
#include "r2g2/core/cuda_backend.h"
#include "r2g2/kernels/cuda/launch.cuh"

namespace {

constexpr unsigned kFull = 0xffffffffu;

// Block sum through static shared memory, one barrier per tree level.
__global__ void block_sum_kernel(const int* x, int* out) {
  __shared__ int partial[256];
  const unsigned t = threadIdx.x;
  partial[t] = x[blockIdx.x * blockDim.x + t];
  __syncthreads();
  for (unsigned half = blockDim.x / 2; half > 0; half /= 2) {
    if (t < half) partial[t] += partial[t + half];
    __syncthreads();
  }
  if (t == 0) out[blockIdx.x] = partial[0];
}

// The same without the barriers: wrong in at least one of the two thread orders.
[[maybe_unused]] __global__ void racy_block_sum_kernel(const int* x, int* out) {
  __shared__ int partial[256];
  const unsigned t = threadIdx.x;
  partial[t] = x[blockIdx.x * blockDim.x + t];
  for (unsigned half = blockDim.x / 2; half > 0; half /= 2)
    if (t < half) partial[t] += partial[t + half];
  __syncthreads();
  if (t == 0) out[blockIdx.x] = partial[0];
}

__global__ void warp_kernel(const double* x, double* xor_sum, double* down_sum, unsigned* ballot, unsigned* match,
                            int* shuffled) {
  const unsigned t = threadIdx.x;
  double v = x[t];
  for (int offset = 16; offset > 0; offset /= 2) v += __shfl_xor_sync(kFull, v, offset);
  xor_sum[t] = v;
  double d = x[t];
  for (int offset = 16; offset > 0; offset /= 2) d += __shfl_down_sync(kFull, d, offset);
  down_sum[t] = d;
  ballot[t] = __ballot_sync(kFull, x[t] > 0);
  match[t] = __match_any_sync(kFull, static_cast<int>(t % 3));
  shuffled[t] = __shfl_sync(kFull, static_cast<int>(t) * 10, 5, 8);  // lane 5 of each group of 8
}

__global__ void dynamic_shared_kernel(float* out) {
  R2G2_DYNAMIC_SHARED(float, buffer);
  buffer[threadIdx.x] = static_cast<float>(threadIdx.x);
  __syncthreads();
  out[threadIdx.x] = buffer[blockDim.x - 1 - threadIdx.x] + static_cast<float>(__syncthreads_count(threadIdx.x % 2));
}

__global__ void divergent_barrier_kernel(int* out) {
  if (threadIdx.x < 16) __syncthreads();
  out[threadIdx.x] = 1;
  if (threadIdx.x >= 16) __shfl_sync(kFull, 1, 0);
}

__global__ void early_exit_kernel(int* out, int active) {
  if (static_cast<int>(threadIdx.x) >= active) return;  // whole warps leave before the barrier
  __shared__ int value;
  if (threadIdx.x == 0) value = 7;
  __syncthreads();
  out[threadIdx.x] = value;
}

__global__ void atomic_kernel(unsigned long long* first_bad, float* total, const int* flags, int n) {
  for (int i = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x); i < n; i += gridDim.x * blockDim.x) {
    if (flags[i]) atomicMin(first_bad, static_cast<unsigned long long>(i));
    atomicAdd(total, 1.0f);
  }
}

__global__ void trap_kernel(const int* x) {
  if (x[threadIdx.x] < 0) __trap();
}

// Restores the emulated device (and the launch mode) however a test case ends.
struct FreshDeviceAndLaunchMode {
  ~FreshDeviceAndLaunchMode() {
    r2g2::kernels::cuda::set_sync_after_launch(false);
    r2g2_emu::reset_device();
  }
};

TEST_CASE("emulator: barriers and shared memory give a block reduction") {
  std::vector<int> x(3 * 256), out(3);
  std::iota(x.begin(), x.end(), -100);
  for (int launch = 0; launch < 2; ++launch) {  // both thread orders
    R2G2_LAUNCH(block_sum_kernel, 3, 256, x.data(), out.data());
    for (int b = 0; b < 3; ++b) CHECK(out[b] == std::accumulate(x.begin() + 256 * b, x.begin() + 256 * (b + 1), 0));
  }
}

#if !defined(__SANITIZE_THREAD__)
// Under ThreadSanitizer the same kernel is a reported race instead (see README: tsan preset).
TEST_CASE("emulator: a missing barrier gives a wrong result in one of the two thread orders") {
  std::vector<int> x(256, 1), out(1);
  bool wrong = false;
  for (int launch = 0; launch < 2; ++launch) {
    R2G2_LAUNCH(racy_block_sum_kernel, 1, 256, x.data(), out.data());
    wrong |= out[0] != 256;
  }
  CHECK(wrong);
}
#endif

TEST_CASE("emulator: warp shuffles, ballot and match follow the PTX lane rules") {
  std::vector<double> x(64), xor_sum(64), down_sum(64);
  for (int i = 0; i < 64; ++i) x[i] = (i % 5) - 2.0 + 0.25 * i;
  std::vector<unsigned> ballot(64), match(64);
  std::vector<int> shuffled(64);
  R2G2_LAUNCH(warp_kernel, 1, 64, x.data(), xor_sum.data(), down_sum.data(), ballot.data(), match.data(),
              shuffled.data());
  for (int w = 0; w < 2; ++w) {
    double total = 0;
    unsigned positive = 0;
    for (int l = 0; l < 32; ++l) {
      total += x[32 * w + l];
      if (x[32 * w + l] > 0) positive |= 1u << l;
    }
    for (int l = 0; l < 32; ++l) {
      const int t = 32 * w + l;
      CHECK(xor_sum[t] == doctest::Approx(total));
      CHECK(ballot[t] == positive);
      unsigned same = 0;
      for (int k = 0; k < 32; ++k)
        if ((32 * w + k) % 3 == t % 3) same |= 1u << k;
      CHECK(match[t] == same);
      CHECK(shuffled[t] == (t & ~7) * 10 + 50);
    }
    CHECK(down_sum[32 * w] == doctest::Approx(total));
  }
}

TEST_CASE("emulator: dynamic shared memory and __syncthreads_count") {
  std::vector<float> out(96);
  R2G2_LAUNCH_SMEM(dynamic_shared_kernel, 1, 96, 96 * sizeof(float), out.data());
  for (int t = 0; t < 96; ++t) CHECK(out[t] == static_cast<float>(95 - t + 48));
}

TEST_CASE("emulator: threads that exited count as arrived at a barrier") {
  std::vector<int> out(128, -1);
  R2G2_LAUNCH(early_exit_kernel, 1, 128, out.data(), 64);
  for (int t = 0; t < 64; ++t) CHECK(out[t] == 7);
  CHECK(out[64] == -1);
}

TEST_CASE("emulator: atomics") {
  std::vector<int> flags(1000, 0);
  flags[700] = flags[333] = flags[999] = 1;
  unsigned long long first = ~0ull;
  float total = 0;
  R2G2_LAUNCH(atomic_kernel, 3, 128, &first, &total, flags.data(), 1000);
  CHECK(first == 333);
  CHECK(total == 1000.0f);
}

TEST_CASE("emulator: divergent barriers and collectives are reported, not hung") {
  std::vector<int> out(32);
  CHECK_THROWS_WITH_AS(R2G2_LAUNCH(divergent_barrier_kernel, 1, 32, out.data()),
                       doctest::Contains("deadlock"), r2g2_emu::EmulationError);
}

TEST_CASE("emulator: a bad launch configuration is refused at the launch, naming the kernel") {
  FreshDeviceAndLaunchMode fresh;
  std::vector<float> out(2048);
  CHECK_THROWS_WITH_AS(R2G2_LAUNCH_SMEM(dynamic_shared_kernel, 1, 2048, 0, out.data()),
                       doctest::Contains("launch of kernel dynamic_shared_kernel"), r2g2::Error);
  // More than 48 KB of dynamic shared memory needs the opt-in attribute, as on a device.
  CHECK_THROWS_WITH_AS(R2G2_LAUNCH_SMEM(dynamic_shared_kernel, 1, 32, 64 * 1024, out.data()),
                       doctest::Contains("invalid configuration"), r2g2::Error);
  REQUIRE(cudaFuncSetAttribute(dynamic_shared_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, 64 * 1024) ==
          cudaSuccess);
  R2G2_LAUNCH_SMEM(dynamic_shared_kernel, 1, 32, 64 * 1024, out.data());
}

TEST_CASE("R2G2_CUDA_SYNC: a kernel's error names that kernel instead of a later call") {
  namespace kc = r2g2::kernels::cuda;
  FreshDeviceAndLaunchMode fresh;
  std::vector<int> bad(32, 1);
  bad[17] = -1;
  int host = 0;
  SUBCASE("asynchronous by default: the error surfaces at the next synchronisation") {
    kc::set_sync_after_launch(false);
    R2G2_LAUNCH(trap_kernel, 1, 32, bad.data());  // no error yet
    CHECK_THROWS_WITH_AS(r2g2::cuda_backend::memcpy_d2h(&host, bad.data(), sizeof host),
                         doctest::Contains("R2G2_CUDA_SYNC=1"), r2g2::Error);
  }
  SUBCASE("synchronous mode: the launch itself throws, naming the kernel") {
    kc::set_sync_after_launch(true);
    CHECK_THROWS_WITH_AS(R2G2_LAUNCH(trap_kernel, 1, 32, bad.data()),
                         doctest::Contains("in kernel trap_kernel launched at"), r2g2::Error);
  }
}

}  // namespace
