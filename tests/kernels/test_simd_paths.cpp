// The instruction-set copies of the CPU's softplus-family and Gaussian KL loops
// (kernels/cpu/simd.h): every copy the CPU supports, the forced-scalar one included, gives
// the same bits as the per-element functions (kernels/softplus_math.h,
// kernels/gaussian_math.h), on inputs that cover the edge regions: rho far below -20 (where
// sigma is subnormal or 0), around 0, far above 20, +-inf and NaN.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "r2g2/kernels/cpu/elementwise.h"
#include "r2g2/kernels/cpu/gaussian.h"
#include "r2g2/kernels/cpu/simd.h"
#include "r2g2/kernels/elementwise_math.h"
#include "test_util.h"

namespace {

using namespace r2g2::kernels;
namespace cpu = r2g2::kernels::cpu;
using cpu::SimdPath;

// Equal bits, or both NaN (a NaN's payload is not part of the contract).
bool same(float a, float b) {
  if (std::isnan(a) || std::isnan(b)) return std::isnan(a) && std::isnan(b);
  uint32_t x, y;
  std::memcpy(&x, &a, sizeof x);
  std::memcpy(&y, &b, sizeof y);
  return x == y;
}

// A few thousand rho: the edges first, then uniform values over [-120, 120] and [-30, 30].
// The length is not a multiple of any vector width, so every copy runs its tail loop.
std::vector<float> edge_inputs() {
  const float inf = std::numeric_limits<float>::infinity(), max = std::numeric_limits<float>::max();
  std::vector<float> x = {0.0f,       -0.0f,     1e-8f,    -1e-8f,   0x1p-149f,
                          -0x1p-149f, 0x1p-126f, 1e-3f,    -1e-3f,   0.4142f,
                          -0.4143f,   1.0f,      -1.0f,    -19.999f, -20.0f,
                          -20.001f,   -50.0f,    -87.3f,   -87.4f,   -88.0f,
                          -100.0f,    -103.9f,   -103.97f, -104.0f,  -110.0f,
                          -1e30f,     -max,      19.99f,   20.0f,    20.01f,
                          25.0f,      88.7f,     88.73f,   89.0f,    100.0f,
                          1e30f,      max,       inf,      -inf,     std::numeric_limits<float>::quiet_NaN()};
  // Every float next to the switch points (-20, 0, sqrt(2) - 1 for e^-|x|) and the subnormal edge.
  for (float centre : {-20.0f, 0.0f, -0.8813736f, 0.8813736f, -87.33655f, -103.27893f}) {
    float lo = centre, hi = centre;
    for (int i = 0; i < 16; ++i) {
      lo = std::nextafter(lo, -inf);
      hi = std::nextafter(hi, inf);
      x.push_back(lo);
      x.push_back(hi);
    }
  }
  for (float v : r2g2::test::uniform_values<float>(2000, 11, -120, 120, 23)) x.push_back(v);
  for (float v : r2g2::test::uniform_values<float>(2001, 12, -30, 30, 23)) x.push_back(v);
  return x;
}

struct Outputs {
  std::vector<float> sigma, slope, dmu, dscale, dscale_from_slope, dsigma, kl_rho, kl_sigma;
  std::vector<std::vector<float>> unary, unary_backward;
};

constexpr UnaryOp kSoftplusFamily[] = {UnaryOp::softplus, UnaryOp::sigmoid, UnaryOp::log_softplus};

Outputs run_all(const std::vector<float>& rho, const std::vector<float>& mu, const std::vector<float>& gy) {
  const int64_t n = static_cast<int64_t>(rho.size());
  const float g = 0.625f;
  const double prior_sigma = 0.3;
  Outputs out;
  out.sigma.resize(n);
  out.slope.resize(n);
  cpu::softplus_and_slope<float>(rho.data(), out.sigma.data(), out.slope.data(), n);
  out.dmu.resize(n);
  out.dscale.resize(n);
  out.dscale_from_slope.resize(n);
  out.dsigma.resize(n);
  cpu::gaussian_kl_backward<float>(GaussianScale::rho, mu.data(), out.sigma.data(), rho.data(), nullptr, &g,
                                   out.dmu.data(), out.dscale.data(), n, prior_sigma);
  cpu::gaussian_kl_backward<float>(GaussianScale::rho, mu.data(), out.sigma.data(), rho.data(),
                                   out.slope.data(), &g, nullptr, out.dscale_from_slope.data(), n,
                                   prior_sigma);
  cpu::gaussian_kl_backward<float>(GaussianScale::sigma, mu.data(), rho.data(), nullptr, nullptr, &g, nullptr,
                                   out.dsigma.data(), n, prior_sigma);
  // The KL over the finite rho only (one NaN term would make the whole sum NaN), and over
  // prefixes, so that the lanes see partial blocks and chunks.
  std::vector<float> finite_rho, finite_sigma, finite_mu;
  for (int64_t i = 0; i < n; ++i)
    if (std::isfinite(rho[i])) {
      finite_rho.push_back(rho[i]);
      finite_sigma.push_back(out.sigma[i]);
      finite_mu.push_back(mu[i]);
    }
  for (int64_t m : {int64_t{1}, int64_t{7}, int64_t{513}, static_cast<int64_t>(finite_rho.size())}) {
    float kl = 0;
    cpu::gaussian_kl<float>(GaussianScale::rho, finite_mu.data(), finite_sigma.data(), finite_rho.data(), &kl,
                            m, prior_sigma);
    out.kl_rho.push_back(kl);
    // Kind sigma on the sigma values, subnormal and zero sigma included.
    cpu::gaussian_kl<float>(GaussianScale::sigma, finite_mu.data(), finite_sigma.data(), nullptr, &kl, m,
                            prior_sigma);
    out.kl_sigma.push_back(kl);
  }
  for (UnaryOp op : kSoftplusFamily) {
    std::vector<float> y(n), gx(n);
    cpu::unary<float>(op, rho.data(), y.data(), n);
    cpu::unary_backward<float>(op, rho.data(), y.data(), gy.data(), gx.data(), n);
    out.unary.push_back(y);
    out.unary_backward.push_back(gx);
  }
  return out;
}

void check_same(const std::vector<float>& got, const std::vector<float>& want, const char* what) {
  REQUIRE(got.size() == want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    CAPTURE(what);
    CAPTURE(i);
    CAPTURE(got[i]);
    CAPTURE(want[i]);
    REQUIRE(same(got[i], want[i]));
  }
}

}  // namespace

TEST_CASE("simd paths: every supported copy gives the per-element functions' bits, edges included") {
  const std::vector<float> rho = edge_inputs();
  const auto mu = r2g2::test::uniform_values<float>(rho.size(), 13, -2, 2, 23);
  const auto gy = r2g2::test::uniform_values<float>(rho.size(), 14, -3, 3, 23);
  const int64_t n = static_cast<int64_t>(rho.size());
  const float g = 0.625f;
  const double prior_sigma = 0.3;
  const float g_inv_p2 = static_cast<float>(g / (prior_sigma * prior_sigma));

  // The per-element reference, one call per element.
  std::vector<float> sigma(n), slope(n), dscale(n), dsigma(n);
  for (int64_t i = 0; i < n; ++i) {
    sigma[i] = softplus_of(rho[i]);
    slope[i] = sigmoid_of(rho[i]);
    dscale[i] = gaussian_kl_grad_scale<GaussianScale::rho>(sigma[i], rho[i], g, g_inv_p2);
    dsigma[i] = gaussian_kl_grad_scale<GaussianScale::sigma>(rho[i], 0.0f, g, g_inv_p2);
  }
  std::vector<std::vector<float>> unary, unary_backward;
  for (UnaryOp op : kSoftplusFamily) {
    std::vector<float> y(n), gx(n);
    with_unary(op, [&](auto tag) {
      constexpr UnaryOp kOp = decltype(tag)::value;
      for (int64_t i = 0; i < n; ++i) {
        y[i] = unary_value<kOp>(rho[i]);
        gx[i] = unary_grad<kOp>(rho[i], y[i], gy[i]);
      }
    });
    unary.push_back(y);
    unary_backward.push_back(gx);
  }

  const SimdPath active = cpu::active_simd_path();
  const std::vector<SimdPath> paths = cpu::supported_simd_paths();
  REQUIRE(paths.size() >= 2);
  CHECK(paths.front() == SimdPath::scalar);
  Outputs scalar;
  for (SimdPath path : paths) {
    const std::string name = cpu::simd_path_name(path);
    CAPTURE(name);
    const cpu::SimdPathOverride use(path);
    CHECK(cpu::active_simd_path() == path);
    const Outputs got = run_all(rho, mu, gy);
    check_same(got.sigma, sigma, "sigma");
    check_same(got.slope, slope, "slope");
    check_same(got.dscale, dscale, "dscale");
    check_same(got.dscale_from_slope, dscale, "dscale from the slope");
    check_same(got.dsigma, dsigma, "dsigma");
    for (size_t k = 0; k < unary.size(); ++k) {
      check_same(got.unary[k], unary[k], "unary");
      check_same(got.unary_backward[k], unary_backward[k], "unary backward");
    }
    if (path == SimdPath::scalar) {
      scalar = got;
      for (float kl : got.kl_rho) CHECK(!std::isnan(kl));  // +inf where rho = +-FLT_MAX joins the sum
    } else {
      // The KL sums add in one order on every copy (kGaussianKlLanes).
      check_same(got.kl_rho, scalar.kl_rho, "KL, kind rho");
      check_same(got.kl_sigma, scalar.kl_sigma, "KL, kind sigma");
    }
  }
  // The override ends with its scope.
  CHECK(cpu::active_simd_path() == active);
}

TEST_CASE("simd paths: named, and the scalar and baseline copies exist everywhere") {
  CHECK(std::string(cpu::simd_path_name(SimdPath::scalar)) == "scalar");
  CHECK(std::string(cpu::simd_path_name(SimdPath::baseline)) == "baseline");
  CHECK(std::string(cpu::simd_path_name(SimdPath::avx2)) == "avx2");
  CHECK(cpu::simd_path_supported(SimdPath::scalar));
  CHECK(cpu::simd_path_supported(SimdPath::baseline));
  if (!cpu::simd_path_supported(SimdPath::avx2))
    CHECK_THROWS_AS(cpu::SimdPathOverride{SimdPath::avx2}, r2g2::Error);
}
