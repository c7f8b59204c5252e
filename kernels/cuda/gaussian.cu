// Launchers of the fused mean-field Gaussian kernels (device code in gaussian_kernels.cuh).
// The KL is a deterministic two-pass sum (sum_impl.cuh) finished on the device, so that
// the loss needs no read-back.
#include "r2g2/kernels/cuda/gaussian.h"
#include "r2g2/kernels/cuda/gaussian_kernels.cuh"
#include "r2g2/kernels/cuda/scratch.cuh"
#include "r2g2/kernels/cuda/sum_impl.cuh"

namespace r2g2::kernels::cuda {

using namespace gaussian_detail;

template <class T>
void gaussian_kl(GaussianScale kind, const T* mu, const T* sigma, const T* rho, T* out, int64_t n,
                 double prior_sigma) {
  const GaussianPrior prior = gaussian_prior(prior_sigma);
  DeviceScratch<double> terms(1);
  if (kind == GaussianScale::rho)
    sum_terms(KlTerm<GaussianScale::rho, T>{mu, sigma, rho, prior.inv_p2}, n, terms.get());
  else
    sum_terms(KlTerm<GaussianScale::sigma, T>{mu, sigma, rho, prior.inv_p2}, n, terms.get());
  R2G2_LAUNCH(kl_finish_kernel<T>, 1, 1, terms.get(), static_cast<double>(n) * prior.per_element, out);
}

template <class T>
void gaussian_kl_backward(GaussianScale kind, const T* mu, const T* sigma, const T* rho, const T* slope,
                          const T* g, T* dmu, T* dscale, int64_t n, double prior_sigma) {
  if (n <= 0 || (!dmu && !dscale)) return;
  const double inv_p2 = gaussian_prior(prior_sigma).inv_p2;
  if (kind == GaussianScale::rho)
    R2G2_LAUNCH((kl_backward_kernel<GaussianScale::rho, T>), blocks_for(n), kThreads, mu, sigma, rho, slope, g,
                inv_p2, dmu, dscale, n);
  else
    R2G2_LAUNCH((kl_backward_kernel<GaussianScale::sigma, T>), blocks_for(n), kThreads, mu, sigma, rho,
                static_cast<const T*>(nullptr), g, inv_p2, dmu, dscale, n);
}

template <class T>
void gaussian_sample(const T* mu, const T* sigma, const T* eps, T* w, int64_t n) {
  if (n <= 0) return;
  R2G2_LAUNCH(sample_kernel<T>, blocks_for(n), kThreads, mu, sigma, eps, w, n);
}

template <class T>
void softplus_and_slope(const T* rho, T* sigma, T* slope, int64_t n) {
  if (n <= 0) return;
  R2G2_LAUNCH(softplus_and_slope_kernel<T>, blocks_for(n), kThreads, rho, sigma, slope, n);
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

}  // namespace r2g2::kernels::cuda
