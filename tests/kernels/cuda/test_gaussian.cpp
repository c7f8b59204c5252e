// kernels/cuda/gaussian.cu under the emulator, against kernels/cpu/gaussian. The gradient
// and the draw evaluate the same formulas (kernels/gaussian_math.h) and are compared
// exactly; the KL sums the same double terms in another order, so it agrees within the
// double rounding of that sum, then the cast to T.
#include <cmath>
#include <limits>

#include "emulator/cuda_emulator.h"
#include "kernels/cuda/emulated_test_util.h"
#include "r2g2/kernels/cases/gaussian.h"
#include "r2g2/kernels/cpu/gaussian.h"
#include "r2g2/kernels/cuda/gaussian.cu"
#include "r2g2/kernels/elementwise_math.h"

namespace {

namespace cpu = r2g2::kernels::cpu;
namespace gpu = r2g2::kernels::cuda;
namespace cases = r2g2::kernels::cases;
using namespace r2g2::test::emulated;
using r2g2::kernels::GaussianScale;

template <class T>
std::vector<T> scales(const cases::GaussianKlCase& c, size_t n, uint64_t seed) {
  auto s = values<T>(n, seed, c.lo, c.hi);
  if (c.scale == GaussianScale::rho)
    for (size_t i = 0; i < n; i += 5) s[i] = static_cast<T>(cases::test_rho_tails()[(i / 5) % 10]);
  return s;
}

template <class T>
std::vector<T> sigmas(GaussianScale kind, const std::vector<T>& s) {
  std::vector<T> sigma(s);
  if (kind == GaussianScale::rho)
    for (auto& x : sigma) x = r2g2::kernels::softplus_of(x);
  return sigma;
}

// A sizes subset: the emulator runs every thread on the host.
std::vector<int64_t> sizes() { return {0, 1, 33, 257, 1025, 3 * r2g2::kernels::kGaussianKlChunk + 5}; }

TEST_CASE_TEMPLATE("gaussian: the KL equals the CPU sum to rounding, in any thread order", T, float, double) {
  for (const auto& c : cases::gaussian_kl_cases()) {
    for (int64_t n : sizes()) {
      CAPTURE(c.name);
      CAPTURE(n);
      const auto mu = values<T>(n, 1, -2, 2), s = scales<T>(c, n, 2), sigma = sigmas(c.scale, s);
      T want = T(0);
      cpu::gaussian_kl<T>(c.scale, mu.data(), sigma.data(), s.data(), &want, n, c.prior_sigma);
      const auto [first, second] = in_both_thread_orders([&] {
        std::vector<T> out(1, T(-1));
        gpu::gaussian_kl<T>(c.scale, mu.data(), sigma.data(), s.data(), out.data(), n, c.prior_sigma);
        return out;
      });
      CHECK(first == second);
      // |sum| of the terms bounds each order's error at n eps_double each; then one cast to T.
      double magnitude = 0;
      const double inv_p2 = r2g2::kernels::gaussian_prior(c.prior_sigma).inv_p2;
      for (int64_t i = 0; i < n; ++i)
        magnitude += std::fabs(
            c.scale == GaussianScale::rho
                ? r2g2::kernels::gaussian_kl_term<GaussianScale::rho>(mu[i], sigma[i], s[i], inv_p2)
                : r2g2::kernels::gaussian_kl_term<GaussianScale::sigma>(mu[i], sigma[i], T(0), inv_p2));
      const double bound = 2.0 * static_cast<double>(n) * std::numeric_limits<double>::epsilon() * magnitude +
                           std::numeric_limits<T>::epsilon() * std::fabs(static_cast<double>(want));
      CHECK(std::fabs(static_cast<double>(first[0]) - static_cast<double>(want)) <= bound);
    }
  }
}

TEST_CASE_TEMPLATE("gaussian: the KL gradient and the draw equal the CPU kernels", T, float, double) {
  for (const auto& c : cases::gaussian_kl_cases()) {
    for (int64_t n : sizes()) {
      CAPTURE(c.name);
      CAPTURE(n);
      const auto mu = values<T>(n, 3, -2, 2), s = scales<T>(c, n, 4), sigma = sigmas(c.scale, s);
      const T g = T(-1.5);
      std::vector<T> dmu(n), ds(n), dmu_ref(n), ds_ref(n), ds_alone(n);
      gpu::gaussian_kl_backward<T>(c.scale, mu.data(), sigma.data(), s.data(), nullptr, &g, dmu.data(), ds.data(),
                                   n, c.prior_sigma);
      cpu::gaussian_kl_backward<T>(c.scale, mu.data(), sigma.data(), s.data(), nullptr, &g, dmu_ref.data(),
                                   ds_ref.data(), n, c.prior_sigma);
      check_equal(dmu, dmu_ref);
      check_equal(ds, ds_ref);
      gpu::gaussian_kl_backward<T>(c.scale, mu.data(), sigma.data(), s.data(), nullptr, &g, nullptr,
                                   ds_alone.data(), n, c.prior_sigma);
      check_equal(ds_alone, ds_ref);
      if (c.scale == GaussianScale::rho) {
        std::vector<T> sigma_again(n), slope(n), ds_slope(n);
        cpu::softplus_and_slope<T>(s.data(), sigma_again.data(), slope.data(), n);
        gpu::gaussian_kl_backward<T>(c.scale, mu.data(), sigma.data(), s.data(), slope.data(), &g, nullptr,
                                     ds_slope.data(), n, c.prior_sigma);
        check_equal(ds_slope, ds_ref);
      }
    }
  }
  for (int64_t n : sizes()) {
    const auto mu = values<T>(n, 5), sigma = values<T>(n, 6, 0, 0.2), eps = values<T>(n, 7, -3, 3);
    std::vector<T> w(n), w_ref(n);
    gpu::gaussian_sample<T>(mu.data(), sigma.data(), eps.data(), w.data(), n);
    cpu::gaussian_sample<T>(mu.data(), sigma.data(), eps.data(), w_ref.data(), n);
    check_equal(w, w_ref);
  }
}

TEST_CASE_TEMPLATE("softplus_and_slope: the device's sigma and slope equal the CPU's", T, float, double) {
  for (int64_t n : sizes()) {
    auto rho = values<T>(n, 9, -30, 30);
    for (int64_t i = 0; i < n; i += 7) rho[i] = static_cast<T>(cases::test_rho_tails()[(i / 7) % 10]);
    std::vector<T> sigma(n), slope(n), sigma_ref(n), slope_ref(n);
    gpu::softplus_and_slope<T>(rho.data(), sigma.data(), slope.data(), n);
    cpu::softplus_and_slope<T>(rho.data(), sigma_ref.data(), slope_ref.data(), n);
    check_equal(sigma, sigma_ref);
    check_equal(slope, slope_ref);
  }
}

// The device runs kernels/fast_math.h one element per thread, the CPU its widest SIMD copy
// (kernels/cpu/simd.h): the same bits at the edges too, where sigma and the slope are
// subnormal or 0 (rho below -87), far above 20, at +-inf and NaN.
TEST_CASE("softplus_and_slope and the KL gradient: the device equals the CPU at the float edges") {
  const float inf = std::numeric_limits<float>::infinity();
  std::vector<float> rho = {-inf, -1e30f, -110.0f, -104.0f, -103.9f, -100.0f, -88.0f, -87.4f, -20.001f, -20.0f,
                            -19.999f, -1e-8f, -0.0f, 0.0f, 0x1p-149f, 0.4142f, 20.0f, 88.8f, 1e30f, inf,
                            std::numeric_limits<float>::quiet_NaN()};
  for (float v : values<float>(200, 21, -110, 110)) rho.push_back(v);
  const int64_t n = static_cast<int64_t>(rho.size());
  std::vector<float> sigma(n), slope(n), sigma_ref(n), slope_ref(n), ds(n), ds_ref(n);
  gpu::softplus_and_slope<float>(rho.data(), sigma.data(), slope.data(), n);
  cpu::softplus_and_slope<float>(rho.data(), sigma_ref.data(), slope_ref.data(), n);
  check_equal(sigma, sigma_ref);
  check_equal(slope, slope_ref);
  const auto mu = values<float>(n, 22, -2, 2);
  const float g = 0.75f;
  gpu::gaussian_kl_backward<float>(GaussianScale::rho, mu.data(), sigma_ref.data(), rho.data(), slope_ref.data(),
                                   &g, nullptr, ds.data(), n, 0.3);
  cpu::gaussian_kl_backward<float>(GaussianScale::rho, mu.data(), sigma_ref.data(), rho.data(), slope_ref.data(),
                                   &g, nullptr, ds_ref.data(), n, 0.3);
  check_equal(ds, ds_ref);
  for (int64_t i = 0; i < n; ++i) {
    CAPTURE(rho[i]);
    REQUIRE(std::isnan(sigma[i]) == std::isnan(rho[i]));
    if (!std::isnan(rho[i])) REQUIRE(std::signbit(sigma[i]) == false);
  }
}

TEST_CASE("gaussian: an empty buffer launches no elementwise kernel") {
  const int64_t before = r2g2_emu::launch_count();
  gpu::softplus_and_slope<float>(nullptr, nullptr, nullptr, 0);
  gpu::gaussian_sample<float>(nullptr, nullptr, nullptr, nullptr, 0);
  gpu::gaussian_kl_backward<float>(GaussianScale::rho, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr,
                                   nullptr, 0, 1.0);
  CHECK(r2g2_emu::launch_count() == before);
}

}  // namespace
