// Kernel lab: the fused mean-field Gaussian kernels (kernels/{cpu,cuda}/gaussian.h) over
// their case table (kernels/cases/gaussian.h): the KL to the prior (a sum), its one-pass
// backward, and the weight draw mu + sigma * eps. Fixed launch geometry, no knob to sweep.
#include <algorithm>
#include <string>
#include <vector>

#include "r2g2/kernels/cases/gaussian.h"
#include "r2g2/kernels/cpu/gaussian.h"
#include "r2g2/kernels/elementwise_math.h"
#include "tools/kernel_lab.h"
#if R2G2_WITH_CUDA
#include "r2g2/kernels/cuda/gaussian.h"
#endif

namespace {

using namespace r2g2;
using namespace r2g2::lab;
namespace kcpu = r2g2::kernels::cpu;
namespace cases = r2g2::kernels::cases;

// sigma for a case's scale parameters: softplus(rho), or the parameters themselves.
template <class T>
std::vector<T> sigmas(const cases::GaussianKlCase& c, const std::vector<T>& s) {
  std::vector<T> sigma(s);
  if (c.scale == kernels::GaussianScale::rho)
    for (auto& x : sigma) x = kernels::softplus_of(x);
  return sigma;
}

template <class T>
void bench_kl(Lab& lab, const cases::GaussianKlCase& c) {
  const std::string name = std::string("gaussian_kl ") + c.name;
  if (!lab.selected(name)) return;
  const auto kernel = R2G2_LAB_KERNEL(lab, gaussian_kl<T>);
  for (int64_t n : cases::perf_gaussian_sizes(lab.options().large)) {
    const auto mu = host_uniform<T>(n, 1 + n), scale = host_uniform<T>(n, 2 + n, c.lo, c.hi);
    const auto sigma = sigmas(c, scale);
    std::vector<T> want(1);
    kcpu::gaussian_kl<T>(c.scale, mu.data(), sigma.data(), scale.data(), want.data(), n, c.prior_sigma);
    Tensor dmu = lab.upload(mu), ds = lab.upload(sigma), dr = lab.upload(scale), dout = lab.empty<T>(1);
    auto run = [&] {
      kernel(c.scale, dmu.data<T>(), ds.data<T>(), dr.data<T>(), dout.data<T>(), n, c.prior_sigma);
    };
    run();
    const double err = scaled_error(lab.download(dout.data<T>(), 1), want, default_rtol<T>(), 1e-6);
    const double arrays = c.scale == kernels::GaussianScale::rho ? 3.0 : 2.0;
    lab.row(name, dtype_label<T>(), n_str(n), lab.time_ms(run), arrays * n * sizeof(T), 0, err);
  }
}

template <class T>
void bench_kl_backward(Lab& lab, const cases::GaussianKlCase& c) {
  const std::string name = std::string("gaussian_kl_backward ") + c.name;
  if (!lab.selected(name)) return;
  const auto kernel = R2G2_LAB_KERNEL(lab, gaussian_kl_backward<T>);
  for (int64_t n : cases::perf_gaussian_sizes(lab.options().large)) {
    const auto mu = host_uniform<T>(n, 3 + n), scale = host_uniform<T>(n, 4 + n, c.lo, c.hi);
    const auto sigma = sigmas(c, scale);
    const std::vector<T> g{T(0.75)};
    std::vector<T> want_mu(mu.size()), want_s(mu.size());
    kcpu::gaussian_kl_backward<T>(c.scale, mu.data(), sigma.data(), scale.data(), nullptr, g.data(),
                                  want_mu.data(), want_s.data(), n, c.prior_sigma);
    Tensor dmu = lab.upload(mu), ds = lab.upload(sigma), dr = lab.upload(scale), dg = lab.upload(g);
    Tensor gmu = lab.empty<T>(n), gs = lab.empty<T>(n);
    auto run = [&] {
      kernel(c.scale, dmu.data<T>(), ds.data<T>(), dr.data<T>(), nullptr, dg.data<T>(), gmu.data<T>(),
             gs.data<T>(), n, c.prior_sigma);
    };
    run();
    const double err =
        std::max(scaled_error(lab.download(gmu.data<T>(), n), want_mu, default_rtol<T>(), 1e-6),
                 scaled_error(lab.download(gs.data<T>(), n), want_s, default_rtol<T>(), 1e-6));
    lab.row(name, dtype_label<T>(), n_str(n), lab.time_ms(run), 5.0 * n * sizeof(T), 0, err,
            "(5 arrays counted)");
  }
}

template <class T>
void bench_sample(Lab& lab) {
  if (!lab.selected("gaussian_sample")) return;
  const auto kernel = R2G2_LAB_KERNEL(lab, gaussian_sample<T>);
  for (int64_t n : cases::perf_gaussian_sizes(lab.options().large)) {
    const auto mu = host_uniform<T>(n, 5 + n), sigma = host_uniform<T>(n, 6 + n, 0.001, 0.1),
               eps = host_uniform<T>(n, 7 + n, -3, 3);
    std::vector<T> want(mu.size());
    kcpu::gaussian_sample<T>(mu.data(), sigma.data(), eps.data(), want.data(), n);
    Tensor dmu = lab.upload(mu), ds = lab.upload(sigma), de = lab.upload(eps), dw = lab.empty<T>(n);
    auto run = [&] { kernel(dmu.data<T>(), ds.data<T>(), de.data<T>(), dw.data<T>(), n); };
    run();
    // The product is rounded on its own on both backends, so the draw matches exactly.
    const double err = scaled_error(lab.download(dw.data<T>(), n), want, 0.0, 0.0);
    lab.row("gaussian_sample (mu + sigma eps)", dtype_label<T>(), n_str(n), lab.time_ms(run),
            4.0 * n * sizeof(T), 0, err);
  }
}

template <class T>
void bench_softplus_and_slope(Lab& lab) {
  if (!lab.selected("softplus_and_slope")) return;
  const auto kernel = R2G2_LAB_KERNEL(lab, softplus_and_slope<T>);
  for (int64_t n : cases::perf_gaussian_sizes(lab.options().large)) {
    const auto rho = host_uniform<T>(n, 8 + n, -8, 2);
    std::vector<T> want_sigma(rho.size()), want_slope(rho.size());
    kcpu::softplus_and_slope<T>(rho.data(), want_sigma.data(), want_slope.data(), n);
    Tensor dr = lab.upload(rho), ds = lab.empty<T>(n), dslope = lab.empty<T>(n);
    auto run = [&] { kernel(dr.data<T>(), ds.data<T>(), dslope.data<T>(), n); };
    run();
    const double err = std::max(scaled_error(lab.download(ds.data<T>(), n), want_sigma, default_rtol<T>(), 1e-6),
                                scaled_error(lab.download(dslope.data<T>(), n), want_slope, default_rtol<T>(), 1e-6));
    lab.row("softplus_and_slope (sigma, sigmoid)", dtype_label<T>(), n_str(n), lab.time_ms(run),
            3.0 * n * sizeof(T), 0, err);
  }
}

void run(Lab& lab) {
  for (const auto& c : cases::gaussian_kl_cases()) bench_kl<float>(lab, c);
  for (const auto& c : cases::gaussian_kl_cases()) bench_kl_backward<float>(lab, c);
  bench_sample<float>(lab);
  bench_softplus_and_slope<float>(lab);
}

R2G2_BENCH("gaussian", "gaussian_kl, gaussian_kl_backward, gaussian_sample, softplus_and_slope",
           "fused Gaussian parameter kernels (on CUDA: a fixed 256 threads per block)", 15, false, run);

}  // namespace
