// Fused optimizer updates: one pass over each parameter buffer, split across the CPU
// thread pool (each element's update is independent of the others).
#include "r2g2/kernels/cpu/optim.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include <algorithm>
#include <type_traits>
#include <vector>

#include "r2g2/kernels/optim_math.h"
#include "r2g2/kernels/runtime/error.h"
#include "r2g2/kernels/runtime/thread_pool.h"

namespace r2g2::kernels::cpu {

namespace {

#if defined(__SSE2__)
// adam_update on four floats at once. The compiler leaves the scalar loop alone: without
// -fno-math-errno its sqrt must be able to set errno. Each lane runs adam_update's
// operations in its order, and SSE's sqrt and division are correctly rounded like the
// scalar ones, so every element gets the same bits.
void adam_update4(float* p, const float* g, float* m, float* v, float lr, float beta1, float beta2, float eps,
                  float weight_decay, float bias1, float bias2) {
  const __m128 pi = _mm_loadu_ps(p);
  const __m128 gi = _mm_add_ps(_mm_loadu_ps(g), _mm_mul_ps(_mm_set1_ps(weight_decay), pi));
  const __m128 mi = _mm_add_ps(_mm_mul_ps(_mm_set1_ps(beta1), _mm_loadu_ps(m)),
                               _mm_mul_ps(_mm_set1_ps(1.0f - beta1), gi));
  const __m128 vi = _mm_add_ps(_mm_mul_ps(_mm_set1_ps(beta2), _mm_loadu_ps(v)),
                               _mm_mul_ps(_mm_mul_ps(_mm_set1_ps(1.0f - beta2), gi), gi));
  _mm_storeu_ps(m, mi);
  _mm_storeu_ps(v, vi);
  const __m128 step = _mm_mul_ps(_mm_set1_ps(lr), _mm_div_ps(mi, _mm_set1_ps(bias1)));
  const __m128 denom = _mm_add_ps(_mm_sqrt_ps(_mm_div_ps(vi, _mm_set1_ps(bias2))), _mm_set1_ps(eps));
  _mm_storeu_ps(p, _mm_sub_ps(pi, _mm_div_ps(step, denom)));
}
#endif

template <class T>
void adam_range(T* p, const T* g, T* m, T* v, int64_t lo, int64_t hi, T lr, T beta1, T beta2, T eps,
                T weight_decay, const AdamBias<T>& bias) {
  int64_t i = lo;
#if defined(__SSE2__)
  if constexpr (std::is_same_v<T, float>)
    for (; i + 4 <= hi; i += 4)
      adam_update4(p + i, g + i, m + i, v + i, lr, beta1, beta2, eps, weight_decay, bias.bias1, bias.bias2);
#endif
  for (; i < hi; ++i)
    adam_update(p[i], g[i], m[i], v[i], lr, beta1, beta2, eps, weight_decay, bias.bias1, bias.bias2);
}

}  // namespace

template <class T>
void adam_step(T* p, const T* g, T* m, T* v, int64_t n, T lr, T beta1, T beta2, T eps, T weight_decay,
               int64_t step) {
  const AdamBias<T> bias = adam_bias(beta1, beta2, step);
  runtime::parallel_for(0, n, runtime::kCheapElementGrain, [&](int64_t lo, int64_t hi) {
    adam_range(p, g, m, v, lo, hi, lr, beta1, beta2, eps, weight_decay, bias);
  });
}

template <class T>
void adam_step_many(const AdamTensor<T>* tensors, int count, T lr, T beta1, T beta2, T eps, T weight_decay,
                    int64_t step) {
  const AdamBias<T> bias = adam_bias(beta1, beta2, step);
  check_adam_tensors(tensors, count);
  // first[k]: the flat index of tensor k's first element in the concatenation of all of them.
  std::vector<int64_t> first(static_cast<size_t>(count) + 1, 0);
  for (int k = 0; k < count; ++k) first[k + 1] = first[k] + std::max<int64_t>(tensors[k].n, 0);
  // One range of the concatenation may span several tensors: each piece is updated as
  // adam_step would update it, so the split never changes a bit.
  runtime::parallel_for(0, first[count], runtime::kCheapElementGrain, [&](int64_t lo, int64_t hi) {
    int k = static_cast<int>(std::upper_bound(first.begin(), first.end(), lo) - first.begin()) - 1;
    for (; k < count && first[k] < hi; ++k) {
      const AdamTensor<T>& t = tensors[k];
      const int64_t begin = std::max(lo, first[k]) - first[k], end = std::min(hi, first[k + 1]) - first[k];
      adam_range(t.p, t.g, t.m, t.v, begin, end, lr, beta1, beta2, eps, weight_decay, bias);
    }
  });
}

template <class T>
void sgd_step(T* p, const T* g, T* buf, int64_t n, T lr, T momentum, T weight_decay, bool first) {
  // Quietly falling back to plain SGD would train a different model than asked for.
  R2G2_CHECK(momentum == T(0) || n <= 0 || buf != nullptr, "sgd_step: momentum is ", momentum,
             " but the momentum buffer is null; pass a buffer of ", n, " elements, or momentum 0");
  // Without momentum no buffer is needed (buf may be null).
  runtime::parallel_for(0, n, runtime::kCheapElementGrain, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i)
      sgd_update(p[i], g[i], momentum != T(0) ? buf + i : nullptr, lr, momentum, weight_decay, first);
  });
}

#define R2G2_INSTANTIATE(T)                                                          \
  template void adam_step<T>(T*, const T*, T*, T*, int64_t, T, T, T, T, T, int64_t); \
  template void adam_step_many<T>(const AdamTensor<T>*, int, T, T, T, T, T, int64_t); \
  template void sgd_step<T>(T*, const T*, T*, int64_t, T, T, T, bool);
R2G2_INSTANTIATE(float)
R2G2_INSTANTIATE(double)
#undef R2G2_INSTANTIATE

}  // namespace r2g2::kernels::cpu
