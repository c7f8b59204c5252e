#include "r2g2/kernels/cpu/gather.h"

#include <algorithm>

#include "r2g2/kernels/runtime/error.h"

namespace r2g2::kernels::cpu {

template <class T>
void gather_rows(const T* x, const int32_t* index, T* y, int64_t n_index, int64_t rows, int64_t row_len) {
  for (int64_t i = 0; i < n_index; ++i) {
    int32_t k = index[i];
    R2G2_CHECK(k >= 0 && k < rows, "gather_rows: index ", k, " at position ", i, " is outside [0, ", rows,
               ") for a tensor of ", rows, " rows");
    std::copy_n(x + static_cast<int64_t>(k) * row_len, row_len, y + i * row_len);
  }
}

template <class T>
void scatter_add_rows(const T* gy, const int32_t* index, T* gx, int64_t n_index, int64_t row_len) {
  // Sequential in i, so a row picked twice sums its gradients in a fixed order.
  for (int64_t i = 0; i < n_index; ++i) {
    T* dst = gx + static_cast<int64_t>(index[i]) * row_len;
    const T* src = gy + i * row_len;
    for (int64_t j = 0; j < row_len; ++j) dst[j] += src[j];
  }
}

template void gather_rows<float>(const float*, const int32_t*, float*, int64_t, int64_t, int64_t);
template void gather_rows<double>(const double*, const int32_t*, double*, int64_t, int64_t, int64_t);
template void gather_rows<int32_t>(const int32_t*, const int32_t*, int32_t*, int64_t, int64_t, int64_t);
template void scatter_add_rows<float>(const float*, const int32_t*, float*, int64_t, int64_t);
template void scatter_add_rows<double>(const double*, const int32_t*, double*, int64_t, int64_t);

}  // namespace r2g2::kernels::cpu
