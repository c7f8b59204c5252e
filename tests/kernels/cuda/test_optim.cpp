// kernels/cuda/optim.cu under the emulator, against kernels/cpu/optim.
//
// Tolerance: bit-exact. The kernels evaluate the CPU reference's expressions in the same
// order, the Adam bias corrections are computed on the host by the same code, and sqrt is
// correctly rounded on every device.
#include "emulator/cuda_emulator.h"
#include "r2g2/kernels/cuda/optim.cu"

#include <algorithm>
#include <cstring>
#include <limits>
#include <vector>

#include "r2g2/kernels/cases/optim.h"
#include "r2g2/kernels/cpu/optim.h"
#include "kernels/cuda/emulated_test_util.h"

namespace {

namespace cpu = r2g2::kernels::cpu;
namespace gpu = r2g2::kernels::cuda;
namespace cases = r2g2::kernels::cases;
namespace detail = r2g2::kernels::cuda::optim_detail;
using namespace r2g2::test::emulated;

// Bit-for-bit equality, NaN matching NaN.
template <class T>
void check_identical(const std::vector<T>& got, const std::vector<T>& want) {
  REQUIRE(got.size() == want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    if (std::isnan(got[i]) && std::isnan(want[i])) continue;
    if (std::memcmp(&got[i], &want[i], sizeof(T)) == 0) continue;
    CAPTURE(i);
    CAPTURE(got[i]);
    CAPTURE(want[i]);
    FAIL_CHECK("emulated kernel differs from the CPU reference");
    return;
  }
}

// The same state on both devices, stepped side by side.
template <class T>
struct Twin {
  std::vector<T> p, m, v;
  explicit Twin(int64_t n) : p(values<T>(n, 1)), m(n, T(0)), v(n, T(0)) {}
};

TEST_CASE_TEMPLATE("optim: Adam equals the CPU reference step after step", T, float, double) {
  const cases::AdamCase h;
  const T lr = T(h.lr), beta1 = T(h.beta1), beta2 = T(h.beta2), eps = T(h.eps);
  for (double decay : cases::test_adam_weight_decays()) {
    const T weight_decay = T(decay);
    CAPTURE(weight_decay);
    for (int64_t n : awkward_sizes()) {
      CAPTURE(n);
      Twin<T> dev(n), ref(n);
      // Early steps, where the bias corrections matter most, then a late one.
      for (int64_t step : cases::test_adam_steps()) {
        CAPTURE(step);
        const auto g = values<T>(n, 100 + static_cast<uint64_t>(step), -2.0, 2.0);
        gpu::adam_step(dev.p.data(), g.data(), dev.m.data(), dev.v.data(), n, lr, beta1, beta2, eps,
                       weight_decay, step);
        cpu::adam_step(ref.p.data(), g.data(), ref.m.data(), ref.v.data(), n, lr, beta1, beta2, eps,
                       weight_decay, step);
        check_identical(dev.p, ref.p);
        check_identical(dev.m, ref.m);
        check_identical(dev.v, ref.v);
      }
    }
  }
}

// 40 tensors take two launches (32 per launch); sizes around the 4096-element chunk of a
// block, and empty tensors, which get no block.
TEST_CASE_TEMPLATE("optim: multi-tensor Adam equals the CPU reference tensor by tensor", T, float, double) {
  const cases::AdamCase h;
  const T lr = T(h.lr), beta1 = T(h.beta1), beta2 = T(h.beta2), eps = T(h.eps), weight_decay = T(0.01);
  std::vector<int64_t> sizes;
  for (int k = 0; k < 40; ++k) sizes.push_back(std::vector<int64_t>{4096, 0, 4097, 1, 8193, 300, 4095, 33}[k % 8]);
  std::vector<Twin<T>> dev, ref;
  for (int64_t n : sizes) {
    dev.emplace_back(n);
    ref.emplace_back(n);
  }
  for (int64_t step : cases::test_adam_steps()) {
    CAPTURE(step);
    std::vector<std::vector<T>> grads;
    std::vector<r2g2::kernels::AdamTensor<T>> tensors;
    for (size_t k = 0; k < sizes.size(); ++k) grads.push_back(values<T>(sizes[k], 7 * k + step, -2.0, 2.0));
    for (size_t k = 0; k < sizes.size(); ++k)
      tensors.push_back({dev[k].p.data(), grads[k].data(), dev[k].m.data(), dev[k].v.data(), sizes[k]});
    const int64_t before = r2g2_emu::launch_count();
    gpu::adam_step_many(tensors.data(), static_cast<int>(tensors.size()), lr, beta1, beta2, eps, weight_decay,
                        step);
    CHECK(r2g2_emu::launch_count() - before == 2);
    for (size_t k = 0; k < sizes.size(); ++k) {
      CAPTURE(k);
      cpu::adam_step(ref[k].p.data(), grads[k].data(), ref[k].m.data(), ref[k].v.data(), sizes[k], lr, beta1,
                     beta2, eps, weight_decay, step);
      check_identical(dev[k].p, ref[k].p);
      check_identical(dev[k].m, ref[k].m);
      check_identical(dev[k].v, ref[k].v);
    }
  }
}

TEST_CASE("optim: Adam refuses step 0, whose bias correction divides by zero") {
  std::vector<float> p(4, 1.0f), g(4, 1.0f), m(4), v(4);
  const int64_t before = r2g2_emu::launch_count();
  CHECK_THROWS_WITH_AS(
      gpu::adam_step(p.data(), g.data(), m.data(), v.data(), 4, 1e-3f, 0.9f, 0.999f, 1e-8f, 0.0f, int64_t{0}),
      "adam_step: step counts from 1, got 0", r2g2::Error);
  CHECK(r2g2_emu::launch_count() == before);
}

TEST_CASE_TEMPLATE("optim: SGD equals the CPU reference with and without momentum and weight decay", T, float,
                   double) {
  const T lr = T(0.05);
  for (T momentum : {T(0), T(0.9)}) {
    for (T weight_decay : {T(0), T(0.05)}) {
      CAPTURE(momentum);
      CAPTURE(weight_decay);
      for (int64_t n : awkward_sizes()) {
        CAPTURE(n);
        auto p = values<T>(n, 2), p_ref = p;
        // The first step must overwrite the buffer without reading it: NaN would show.
        std::vector<T> buf(n, std::numeric_limits<T>::quiet_NaN()), buf_ref = buf;
        for (int step = 1; step <= 2; ++step) {
          CAPTURE(step);
          const auto g = values<T>(n, 200 + static_cast<uint64_t>(step));
          const bool first = step == 1;
          gpu::sgd_step(p.data(), g.data(), buf.data(), n, lr, momentum, weight_decay, first);
          cpu::sgd_step(p_ref.data(), g.data(), buf_ref.data(), n, lr, momentum, weight_decay, first);
          check_identical(p, p_ref);
          check_identical(buf, buf_ref);
        }
        if (momentum == T(0)) {
          // Without momentum the buffer is not touched, and none is needed.
          CHECK(std::all_of(buf.begin(), buf.end(), [](T b) { return std::isnan(b); }));
          const auto g = values<T>(n, 300);
          gpu::sgd_step(p.data(), g.data(), static_cast<T*>(nullptr), n, lr, momentum, weight_decay, false);
          cpu::sgd_step(p_ref.data(), g.data(), static_cast<T*>(nullptr), n, lr, momentum, weight_decay,
                        false);
          check_identical(p, p_ref);
        }
      }
    }
  }
}

// Plain SGD in place of the momentum SGD that was asked for would train another model
// without a word; both devices refuse, before touching the parameters.
TEST_CASE_TEMPLATE("optim: SGD with momentum and a null momentum buffer throws on both devices", T, float,
                   double) {
  const auto g = values<T>(33, 4);
  auto p = values<T>(33, 5);
  const auto p_before = p;
  const int64_t before = r2g2_emu::launch_count();
  for (bool first : {true, false}) {
    CHECK_THROWS_WITH_AS(
        gpu::sgd_step(p.data(), g.data(), static_cast<T*>(nullptr), 33, T(0.1), T(0.9), T(0), first),
        "sgd_step: momentum is 0.9 but the momentum buffer is null; pass a buffer of 33 "
        "elements, or momentum 0",
        r2g2::Error);
    CHECK_THROWS_WITH_AS(
        cpu::sgd_step(p.data(), g.data(), static_cast<T*>(nullptr), 33, T(0.1), T(0.9), T(0), first),
        "sgd_step: momentum is 0.9 but the momentum buffer is null; pass a buffer of 33 "
        "elements, or momentum 0",
        r2g2::Error);
  }
  CHECK(r2g2_emu::launch_count() == before);
  check_identical(p, p_before);
}

TEST_CASE("optim: empty parameters launch nothing, even with momentum and no buffer") {
  const int64_t before = r2g2_emu::launch_count();
  for (int64_t n : {int64_t{0}, int64_t{-1}}) {
    gpu::adam_step<float>(nullptr, nullptr, nullptr, nullptr, n, 1e-3f, 0.9f, 0.999f, 1e-8f, 0.0f, 1);
    gpu::adam_step<double>(nullptr, nullptr, nullptr, nullptr, n, 1e-3, 0.9, 0.999, 1e-8, 0.0, 1);
    gpu::sgd_step<float>(nullptr, nullptr, nullptr, n, 0.1f, 0.9f, 0.0f, true);
    gpu::sgd_step<double>(nullptr, nullptr, nullptr, n, 0.1, 0.0, 0.1, false);
    cpu::sgd_step<float>(nullptr, nullptr, nullptr, n, 0.1f, 0.9f, 0.0f, true);
  }
  CHECK(r2g2_emu::launch_count() == before);
}

// The launchers size the grid to cover n in one pass; a grid smaller than n (as beyond
// kMaxBlocks blocks on a device) must still reach every element through the stride loop.
TEST_CASE_TEMPLATE("optim: the update kernels' grid-stride loops cover n with a grid smaller than n", T,
                   float, double) {
  constexpr unsigned grid = 3, block = 32;
  constexpr int64_t n = 257;
  const auto g = values<T>(n, 6);

  Twin<T> dev(n), ref(n);
  // 1 - beta^1, rounded as the launchers and the reference round it.
  const T bias1 = static_cast<T>(1.0 - static_cast<double>(T(0.9)));
  const T bias2 = static_cast<T>(1.0 - static_cast<double>(T(0.999)));
  R2G2_LAUNCH(detail::adam_kernel<T>, grid, block, dev.p.data(), g.data(), dev.m.data(), dev.v.data(), n,
              T(1e-3), T(0.9), T(0.999), T(1e-8), T(0.01), bias1, bias2);
  cpu::adam_step(ref.p.data(), g.data(), ref.m.data(), ref.v.data(), n, T(1e-3), T(0.9), T(0.999), T(1e-8),
                 T(0.01), int64_t{1});
  check_identical(dev.p, ref.p);
  check_identical(dev.m, ref.m);
  check_identical(dev.v, ref.v);

  auto p = values<T>(n, 7), p_ref = p;
  std::vector<T> buf(n), buf_ref(n);
  R2G2_LAUNCH(detail::sgd_kernel<T>, grid, block, p.data(), g.data(), buf.data(), n, T(0.1), T(0.9), T(0.01),
              true);
  cpu::sgd_step(p_ref.data(), g.data(), buf_ref.data(), n, T(0.1), T(0.9), T(0.01), true);
  check_identical(p, p_ref);
  check_identical(buf, buf_ref);
}

}  // namespace
