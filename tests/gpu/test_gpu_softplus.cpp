// softplus, sigmoid and the Gaussian-parameter passes give the same float32 bits on CUDA as
// on the CPU: both run kernels/fast_math.h's exp / log / log1p with every product rounded
// on its own (__fmul_rn on the device, -ffp-contract=off on the host). The emulated suite
// runs the device code as host code, so only a device shows that nvcc keeps that promise.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include "gpu_test_util.h"
#include "r2g2/core/ops.h"

#if R2G2_WITH_CUDA
#include "r2g2/kernels/cpu/gaussian.h"
#include "r2g2/kernels/cuda/gaussian.h"
#endif

using namespace r2g2;

#if R2G2_WITH_CUDA
namespace {

// The edges of every branch (|x| <= 20 and beyond, subnormal softplus, overflow of e^x,
// the infinities) and a dense sweep of [-110, 110].
std::vector<float> edge_and_sweep() {
  std::vector<float> x = {0.0f,    -0.0f,   1e-30f,  -1e-30f, 0.5f,    -0.5f,  1.0f,    -1.0f,
                          15.9f,   16.0f,   19.99f,  20.0f,   20.01f,  -19.99f, -20.0f, -20.01f,
                          -87.3f,  -88.7f,  -103.9f, -104.0f, -110.0f, 88.7f,   89.0f,  100.0f,
                          std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::infinity()};
  for (int i = 0; i <= 220000; ++i) x.push_back(-110.0f + 0.001f * static_cast<float>(i));
  return x;
}

int64_t bit_differences(const std::vector<double>& a, const std::vector<double>& b) {
  REQUIRE(a.size() == b.size());
  int64_t d = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    const float fa = static_cast<float>(a[i]), fb = static_cast<float>(b[i]);
    if (std::isnan(fa) && std::isnan(fb)) continue;  // NaN payloads may differ between devices
    d += std::memcmp(&fa, &fb, sizeof(float)) != 0;
  }
  return d;
}

std::vector<double> as_double(const std::vector<float>& v) { return {v.begin(), v.end()}; }

}  // namespace

TEST_CASE("softplus family: CUDA's float32 values and gradients equal the CPU's bit for bit") {
  R2G2_REQUIRE_CUDA();
  const std::vector<float> values = edge_and_sweep();
  const int64_t n = static_cast<int64_t>(values.size());
  Tensor x_cpu = Tensor::from_vector(values, {n});
  using Unary = Tensor (*)(const Tensor&);
  const std::pair<const char*, Unary> ops[] = {
      {"softplus", r2g2::softplus}, {"sigmoid", r2g2::sigmoid}, {"log_softplus", r2g2::log_softplus}};
  for (const auto& op : ops) {
    CAPTURE(op.first);
    Tensor a = x_cpu.detach().requires_grad_();
    Tensor b = x_cpu.to(Device::cuda()).requires_grad_();
    Tensor ya = op.second(a), yb = op.second(b);
    CHECK(bit_differences(ya.to_vector(), yb.to_vector()) == 0);
    backward(sum(ya));
    backward(sum(yb));
    CHECK(bit_differences(a.grad().to_vector(), b.grad().to_vector()) == 0);
  }
}

TEST_CASE("softplus_and_slope and the KL gradient: CUDA equals the CPU bit for bit") {
  R2G2_REQUIRE_CUDA();
  const std::vector<float> rho = edge_and_sweep();
  const int64_t n = static_cast<int64_t>(rho.size());
  std::vector<float> mu(rho.size());
  for (size_t i = 0; i < mu.size(); ++i) mu[i] = std::sin(0.37f * static_cast<float>(i));
  std::vector<float> sigma(rho.size()), slope(rho.size());
  kernels::cpu::softplus_and_slope<float>(rho.data(), sigma.data(), slope.data(), n);

  auto device_copy = [n](const std::vector<float>& v) { return Tensor::from_vector(v, {n}, Device::cuda()); };
  Tensor rho_d = device_copy(rho), mu_d = device_copy(mu);
  Tensor sigma_d = Tensor::empty({n}, DType::f32, Device::cuda());
  Tensor slope_d = Tensor::empty({n}, DType::f32, Device::cuda());
  kernels::cuda::softplus_and_slope<float>(rho_d.data<float>(), sigma_d.data<float>(), slope_d.data<float>(), n);
  CHECK(bit_differences(as_double(sigma), sigma_d.to_vector()) == 0);
  CHECK(bit_differences(as_double(slope), slope_d.to_vector()) == 0);

  const double prior_sigma = 0.1;
  const float g = 0.75f;
  std::vector<float> dmu(rho.size()), drho(rho.size());
  kernels::cpu::gaussian_kl_backward<float>(kernels::GaussianScale::rho, mu.data(), sigma.data(), rho.data(),
                                            slope.data(), &g, dmu.data(), drho.data(), n, prior_sigma);
  Tensor g_d = Tensor::from_vector(std::vector<float>{g}, {1}, Device::cuda());
  Tensor dmu_d = Tensor::empty({n}, DType::f32, Device::cuda());
  Tensor drho_d = Tensor::empty({n}, DType::f32, Device::cuda());
  kernels::cuda::gaussian_kl_backward<float>(kernels::GaussianScale::rho, mu_d.data<float>(),
                                             sigma_d.data<float>(), rho_d.data<float>(), slope_d.data<float>(),
                                             g_d.data<float>(), dmu_d.data<float>(), drho_d.data<float>(), n,
                                             prior_sigma);
  CHECK(bit_differences(as_double(dmu), dmu_d.to_vector()) == 0);
  CHECK(bit_differences(as_double(drho), drho_d.to_vector()) == 0);
}
#endif
