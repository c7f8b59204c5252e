// Launchers of the R2-G2/LRT elementwise kernels (device code in r2g2_elementwise_kernels.cuh).
#include "r2g2/kernels/cuda/r2g2_elementwise.h"

#include "r2g2/kernels/cuda/r2g2_elementwise_kernels.cuh"

namespace r2g2::kernels::cuda {

using namespace r2g2_elementwise_detail;

template <class T>
void lrt_sample(const T* mean, const T* v, const T* xi, T* h, T* q, int64_t n) {
  if (n <= 0) return;
  R2G2_LAUNCH(lrt_sample_kernel<T>, blocks_for(n), kThreads, mean, v, xi, h, q, n);
}

template <class T>
void r2g2_ratio(const T* r, const T* v, T* beta, int64_t n, double paper_abs_tol, int paper_max_iters) {
  if (n <= 0) return;
  R2G2_LAUNCH(ratio_kernel<T>, blocks_for(n), kThreads, r, v, beta, n, paper_abs_tol, paper_max_iters);
}

template <class T>
void sign_of(const T* x, T* s, int64_t n) {
  if (n <= 0) return;
  R2G2_LAUNCH(sign_kernel<T>, blocks_for(n), kThreads, x, s, n);
}

template <class T>
void mask_by_positive(const T* eps, const T* sigma, T* out, int64_t n) {
  if (n <= 0) return;
  R2G2_LAUNCH(mask_kernel<T>, blocks_for(n), kThreads, eps, sigma, out, n);
}

#define R2G2_INSTANTIATE(T)                                                   \
  template void lrt_sample<T>(const T*, const T*, const T*, T*, T*, int64_t); \
  template void r2g2_ratio<T>(const T*, const T*, T*, int64_t, double, int);  \
  template void sign_of<T>(const T*, T*, int64_t);                            \
  template void mask_by_positive<T>(const T*, const T*, T*, int64_t);
R2G2_INSTANTIATE(float)
R2G2_INSTANTIATE(double)
#undef R2G2_INSTANTIATE

}  // namespace r2g2::kernels::cuda
