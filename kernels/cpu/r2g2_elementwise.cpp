#include "r2g2/kernels/cpu/r2g2_elementwise.h"

#include <cmath>

#include "r2g2/kernels/runtime/thread_pool.h"

namespace r2g2::kernels::cpu {

using runtime::kCheapElementGrain;
using runtime::kCostlyElementGrain;
using runtime::parallel_for;

template <class T>
void lrt_sample(const T* mean, const T* v, const T* xi, T* h, T* q, int64_t n) {
  parallel_for(0, n, kCostlyElementGrain, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) {
      if (v[i] > T(0)) {
        T sd = std::sqrt(v[i]);
        h[i] = mean[i] + sd * xi[i];
        q[i] = xi[i] / sd;
      } else {
        h[i] = mean[i];
        q[i] = T(0);
      }
    }
  });
}

template <class T>
void r2g2_ratio(const T* r, const T* v, T* beta, int64_t n, double paper_abs_tol, int paper_max_iters) {
  const bool paper = paper_abs_tol >= 0;
  parallel_for(0, n, kCostlyElementGrain, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) {
      if (!(v[i] > T(0))) {
        beta[i] = T(0);  // K = 0: K^+ = 0, eps* = 0
        continue;
      }
      if (paper) {
        // x0 = rhs; the residual of the start point decides whether any iteration runs.
        double res = static_cast<double>(r[i]) - static_cast<double>(v[i]) * static_cast<double>(r[i]);
        if (paper_max_iters <= 0 || std::abs(res) < paper_abs_tol) {
          beta[i] = r[i];
          continue;
        }
      }
      beta[i] = r[i] / v[i];
    }
  });
}

template <class T>
void sign_of(const T* x, T* s, int64_t n) {
  parallel_for(0, n, kCheapElementGrain, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) s[i] = x[i] >= T(0) ? T(1) : T(-1);
  });
}

template <class T>
void mask_by_positive(const T* eps, const T* sigma, T* out, int64_t n) {
  parallel_for(0, n, kCheapElementGrain, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) out[i] = sigma[i] > T(0) ? eps[i] : T(0);
  });
}

#define R2G2_INSTANTIATE(T)                                                   \
  template void lrt_sample<T>(const T*, const T*, const T*, T*, T*, int64_t); \
  template void r2g2_ratio<T>(const T*, const T*, T*, int64_t, double, int);  \
  template void sign_of<T>(const T*, T*, int64_t);                            \
  template void mask_by_positive<T>(const T*, const T*, T*, int64_t);
R2G2_INSTANTIATE(float)
R2G2_INSTANTIATE(double)
#undef R2G2_INSTANTIATE

}  // namespace r2g2::kernels::cpu
