#include "r2g2/kernels/cpu/gaussian.h"

#include <algorithm>
#include <type_traits>
#include <vector>

#include "r2g2/kernels/cpu/simd.h"
#include "r2g2/kernels/runtime/thread_pool.h"

namespace r2g2::kernels::cpu {

namespace {

using runtime::kCheapElementGrain;
using runtime::kCostlyElementGrain;
using runtime::parallel_for;

constexpr int64_t kKlChunk = kGaussianKlChunk;
constexpr int kKlLanes = kGaussianKlLanes;
// Terms computed per pass of the vectorised loop, before they join the lanes (the buffer
// stays in L1). A multiple of kKlLanes, so that term i of a chunk lands in lane i % kKlLanes.
constexpr int64_t kKlBlock = 512;
static_assert(kKlBlock % kKlLanes == 0 && kKlChunk % kKlBlock == 0);

// float runs the copy for `path` of kernels/cpu/simd.h; double calls libm, which does not
// vectorise, so it runs the plain loop.
template <class T, class Loop>
void run_loop(SimdPath path, const Loop& loop, int64_t lo, int64_t hi) {
  if constexpr (std::is_same_v<T, float>)
    run_simd_loop(path, loop, lo, hi);
  else
    loop(lo, hi);
}

// The sum of the KL terms [begin, end) of one chunk in the order kGaussianKlLanes states.
template <GaussianScale S, class T>
double kl_chunk_sum(SimdPath path, const T* mu, const T* sigma, const T* rho, int64_t begin, int64_t end,
                    double inv_p2) {
  double lane[kKlLanes] = {};
  double term[kKlBlock];
  for (int64_t block = begin; block < end; block += kKlBlock) {
    const int64_t len = std::min(kKlBlock, end - block);
    const T* block_mu = mu + block;
    const T* block_sigma = sigma + block;
    const T* block_rho = S == GaussianScale::rho ? rho + block : nullptr;
    run_loop<T>(
        path,
        [&](int64_t lo, int64_t hi) R2G2_SIMD_LOOP {
          for (int64_t i = lo; i < hi; ++i)
            term[i] = gaussian_kl_term<S>(block_mu[i], block_sigma[i],
                                          S == GaussianScale::rho ? block_rho[i] : T(0), inv_p2);
        },
        0, len);
    int64_t i = 0;
    for (; i + kKlLanes <= len; i += kKlLanes)
      for (int j = 0; j < kKlLanes; ++j) lane[j] += term[i + j];
    for (; i < len; ++i) lane[i % kKlLanes] += term[i];
  }
  return gaussian_kl_lane_total(lane);
}

template <GaussianScale S, class T>
double kl_sum(const T* mu, const T* sigma, const T* rho, int64_t n, double inv_p2) {
  const SimdPath path = active_simd_path();
  const int64_t chunks = (n + kKlChunk - 1) / kKlChunk;
  std::vector<double> partial(static_cast<size_t>(chunks));
  parallel_for(0, chunks, 1, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c)
      partial[static_cast<size_t>(c)] =
          kl_chunk_sum<S>(path, mu, sigma, rho, c * kKlChunk, std::min(n, (c + 1) * kKlChunk), inv_p2);
  });
  double total = 0;
  for (double p : partial) total += p;
  return total;
}

template <GaussianScale S, class T>
void kl_backward(const T* mu, const T* sigma, const T* rho, const T* slope, T g, T* dmu, T* dscale, int64_t n,
                 double inv_p2) {
  const T g_inv_p2 = static_cast<T>(static_cast<double>(g) * inv_p2);
  const SimdPath path = active_simd_path();
  parallel_for(0, n, kCostlyElementGrain, [&](int64_t lo, int64_t hi) {
    if (dmu)
      for (int64_t i = lo; i < hi; ++i) dmu[i] = gaussian_kl_grad_mu(mu[i], g_inv_p2);
    if (!dscale) return;
    if (S == GaussianScale::rho && slope)
      run_loop<T>(
          path,
          [&](int64_t a, int64_t b) R2G2_SIMD_LOOP {
            for (int64_t i = a; i < b; ++i)
              dscale[i] = gaussian_kl_grad_rho_given_slope(sigma[i], rho[i], slope[i], g, g_inv_p2);
          },
          lo, hi);
    else
      run_loop<T>(
          path,
          [&](int64_t a, int64_t b) R2G2_SIMD_LOOP {
            for (int64_t i = a; i < b; ++i)
              dscale[i] =
                  gaussian_kl_grad_scale<S>(sigma[i], S == GaussianScale::rho ? rho[i] : T(0), g, g_inv_p2);
          },
          lo, hi);
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
  const SimdPath path = active_simd_path();
  parallel_for(0, n, kCostlyElementGrain, [&](int64_t lo, int64_t hi) {
    run_loop<T>(
        path,
        [&](int64_t a, int64_t b) R2G2_SIMD_LOOP {
          for (int64_t i = a; i < b; ++i) softplus_and_sigmoid(rho[i], sigma[i], slope[i]);
        },
        lo, hi);
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
