// Reductions over the middle axis of [outer, r, inner]. Sums are deterministic two-pass
// trees in double (sum_impl.cuh); max keeps the CPU reference's tie and NaN rules. Device
// code is in reduce_kernels.cuh.
#include "r2g2/kernels/cuda/reduce.h"
#include "r2g2/kernels/cuda/reduce_kernels.cuh"
#include "r2g2/kernels/cuda/sum_impl.cuh"

namespace r2g2::kernels::cuda {

using namespace reduce_detail;

template <class T>
void reduce_sum(const T* x, T* y, int64_t outer, int64_t r, int64_t inner) {
  if (inner == 1)
    row_sum<T, T>(x, y, outer, r);
  else
    col_sum<T, T>(x, y, outer, r, inner);
}

template <class T>
void reduce_max(const T* x, T* y, int32_t* arg, int64_t outer, int64_t r, int64_t inner) {
  if (outer <= 0 || inner <= 0) return;
  R2G2_CHECK(r > 0, "reduce_max: the reduced axis is empty (outer ", outer, ", inner ", inner, ")");
  R2G2_CHECK(r <= INT32_MAX, "reduce_max: axis of length ", r, " does not fit the int32 argmax");
  if (inner == 1 && r > kShortRow)
    R2G2_LAUNCH((max_rows_kernel<kThreads, T>), blocks_for(outer, 1), kThreads, x, y, arg, outer, r);
  else if (inner == 1 && r > 64)
    R2G2_LAUNCH((max_rows_kernel<kWarp, T>), blocks_for(outer, kThreads / kWarp), kThreads, x, y, arg, outer,
                r);
  else
    R2G2_LAUNCH(max_scan_kernel<T>, blocks_for(outer * inner), kThreads, x, y, arg, outer, r, inner);
}

template <class T>
void reduce_max_backward(const T* gy, const int32_t* arg, T* gx, int64_t outer, int64_t r, int64_t inner) {
  if (outer <= 0 || inner <= 0 || r <= 0) return;
  R2G2_LAUNCH(max_backward_kernel<T>, blocks_for(outer * inner), kThreads, gy, arg, gx, outer, r, inner);
}

template void reduce_sum<float>(const float*, float*, int64_t, int64_t, int64_t);
template void reduce_sum<double>(const double*, double*, int64_t, int64_t, int64_t);
template void reduce_max<float>(const float*, float*, int32_t*, int64_t, int64_t, int64_t);
template void reduce_max<double>(const double*, double*, int32_t*, int64_t, int64_t, int64_t);
template void reduce_max_backward<float>(const float*, const int32_t*, float*, int64_t, int64_t, int64_t);
template void reduce_max_backward<double>(const double*, const int32_t*, double*, int64_t, int64_t, int64_t);

}  // namespace r2g2::kernels::cuda
