#include "r2g2/kernels/cpu/reduce.h"

#include <algorithm>
#include <cstddef>
#include <vector>

namespace r2g2::kernels::cpu {

template <class T>
void reduce_sum(const T* x, T* y, int64_t outer, int64_t r, int64_t inner) {
  // Accumulating in double makes float32 sums accurate and independent of blocking.
  std::vector<double> acc(static_cast<size_t>(inner));
  for (int64_t o = 0; o < outer; ++o) {
    std::fill(acc.begin(), acc.end(), 0.0);
    const T* base = x + o * r * inner;
    for (int64_t j = 0; j < r; ++j)
      for (int64_t i = 0; i < inner; ++i) acc[i] += base[j * inner + i];
    for (int64_t i = 0; i < inner; ++i) y[o * inner + i] = static_cast<T>(acc[i]);
  }
}

template <class T>
void reduce_max(const T* x, T* y, int32_t* arg, int64_t outer, int64_t r, int64_t inner) {
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i = 0; i < inner; ++i) {
      const T* base = x + o * r * inner + i;
      T best = base[0];
      int32_t best_j = 0;
      for (int64_t j = 1; j < r; ++j)
        if (base[j * inner] > best) {
          best = base[j * inner];
          best_j = static_cast<int32_t>(j);
        }
      y[o * inner + i] = best;
      arg[o * inner + i] = best_j;
    }
}

template <class T>
void reduce_max_backward(const T* gy, const int32_t* arg, T* gx, int64_t outer, int64_t r, int64_t inner) {
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i = 0; i < inner; ++i) gx[(o * r + arg[o * inner + i]) * inner + i] += gy[o * inner + i];
}

template void reduce_sum<float>(const float*, float*, int64_t, int64_t, int64_t);
template void reduce_sum<double>(const double*, double*, int64_t, int64_t, int64_t);
template void reduce_max<float>(const float*, float*, int32_t*, int64_t, int64_t, int64_t);
template void reduce_max<double>(const double*, double*, int32_t*, int64_t, int64_t, int64_t);
template void reduce_max_backward<float>(const float*, const int32_t*, float*, int64_t, int64_t, int64_t);
template void reduce_max_backward<double>(const double*, const int32_t*, double*, int64_t, int64_t, int64_t);

}  // namespace r2g2::kernels::cpu
