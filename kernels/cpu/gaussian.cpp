#include "r2g2/kernels/cpu/gaussian.h"

#include <algorithm>
#include <vector>

#include "r2g2/kernels/runtime/thread_pool.h"

namespace r2g2::kernels::cpu {

namespace {

using runtime::kCheapElementGrain;
using runtime::kCostlyElementGrain;
using runtime::parallel_for;

constexpr int64_t kKlChunk = kGaussianKlChunk;

template <GaussianScale S, class T>
double kl_sum(const T* mu, const T* sigma, const T* rho, int64_t n, double inv_p2) {
  const int64_t chunks = (n + kKlChunk - 1) / kKlChunk;
  std::vector<double> partial(static_cast<size_t>(chunks));
  parallel_for(0, chunks, 1, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      const int64_t end = std::min(n, (c + 1) * kKlChunk);
      double acc = 0;
      for (int64_t i = c * kKlChunk; i < end; ++i)
        acc += gaussian_kl_term<S>(mu[i], sigma[i], S == GaussianScale::rho ? rho[i] : T(0), inv_p2);
      partial[static_cast<size_t>(c)] = acc;
    }
  });
  double total = 0;
  for (double p : partial) total += p;
  return total;
}

template <GaussianScale S, class T>
void kl_backward(const T* mu, const T* sigma, const T* rho, const T* slope, T g, T* dmu, T* dscale, int64_t n,
                 double inv_p2) {
  const T g_inv_p2 = static_cast<T>(static_cast<double>(g) * inv_p2);
  parallel_for(0, n, kCostlyElementGrain, [&](int64_t lo, int64_t hi) {
    if (dmu)
      for (int64_t i = lo; i < hi; ++i) dmu[i] = gaussian_kl_grad_mu(mu[i], g_inv_p2);
    if (!dscale) return;
    if (S == GaussianScale::rho && slope)
      for (int64_t i = lo; i < hi; ++i)
        dscale[i] = gaussian_kl_grad_rho_given_slope(sigma[i], rho[i], slope[i], g, g_inv_p2);
    else
      for (int64_t i = lo; i < hi; ++i)
        dscale[i] = gaussian_kl_grad_scale<S>(sigma[i], S == GaussianScale::rho ? rho[i] : T(0), g, g_inv_p2);
  });
}

}  // namespace

template <class T>
void gaussian_kl(GaussianScale kind, const T* mu, const T* sigma, const T* rho, T* out, int64_t n,
                 double prior_sigma) {
  const GaussianPrior prior = gaussian_prior(prior_sigma);
  const double terms = kind == GaussianScale::rho
                           ? kl_sum<GaussianScale::rho>(mu, sigma, rho, n, prior.inv_p2)
                           : kl_sum<GaussianScale::sigma>(mu, sigma, rho, n, prior.inv_p2);
  out[0] = static_cast<T>(terms + static_cast<double>(n) * prior.per_element);
}

template <class T>
void gaussian_kl_backward(GaussianScale kind, const T* mu, const T* sigma, const T* rho, const T* slope,
                          const T* g, T* dmu, T* dscale, int64_t n, double prior_sigma) {
  const double inv_p2 = gaussian_prior(prior_sigma).inv_p2;
  if (kind == GaussianScale::rho)
    kl_backward<GaussianScale::rho>(mu, sigma, rho, slope, g[0], dmu, dscale, n, inv_p2);
  else
    kl_backward<GaussianScale::sigma>(mu, sigma, rho, slope, g[0], dmu, dscale, n, inv_p2);
}

template <class T>
void gaussian_sample(const T* mu, const T* sigma, const T* eps, T* w, int64_t n) {
  parallel_for(0, n, kCheapElementGrain, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) w[i] = gaussian_draw(mu[i], sigma[i], eps[i]);
  });
}

template <class T>
void softplus_and_slope(const T* rho, T* sigma, T* slope, int64_t n) {
  parallel_for(0, n, kCostlyElementGrain, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) softplus_and_sigmoid(rho[i], sigma[i], slope[i]);
  });
}

#define R2G2_INSTANTIATE(T)                                                                            \
  template void gaussian_kl<T>(GaussianScale, const T*, const T*, const T*, T*, int64_t, double);      \
  template void gaussian_kl_backward<T>(GaussianScale, const T*, const T*, const T*, const T*, const T*, \
                                        T*, T*, int64_t, double);                                      \
  template void gaussian_sample<T>(const T*, const T*, const T*, T*, int64_t);                          \
  template void softplus_and_slope<T>(const T*, T*, T*, int64_t);
R2G2_INSTANTIATE(float)
R2G2_INSTANTIATE(double)
#undef R2G2_INSTANTIATE

}  // namespace r2g2::kernels::cpu
