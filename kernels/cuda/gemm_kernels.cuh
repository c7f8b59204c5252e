#pragma once
// Device code of kernels/cuda/gemm.cu: the beta scaling that stands in for a product
// when k == 0 (cuBLAS does the rest). Kept apart from the launch code, which calls cuBLAS.
#include <cstdint>

#include "r2g2/kernels/cuda/launch.cuh"

namespace r2g2::kernels::cuda::gemm_detail {

// C[b] = beta^repeats * C[b] for every batch b, one thread per element, the product
// applied `repeats` times in sequence. repeats > 1 is a batch whose C matrices are all
// the same one (stride_c == 0): the CPU reference scales it once per batch entry, and
// doing those in one thread both matches its rounding and keeps the threads off each
// other's elements.
template <class T>
__global__ void scale_c_kernel(int64_t batch, int64_t m, int64_t n, T beta, T* c, int64_t ldc,
                               int64_t stride_c, int64_t repeats) {
  const int64_t total = batch * m * n;
  for (int64_t idx = global_thread(); idx < total; idx += grid_threads()) {
    const int64_t j = idx % n, i = (idx / n) % m, b = idx / (m * n);
    T* p = c + b * stride_c + i * ldc + j;
    if (beta == T(0)) {
      *p = T(0);  // C is not read: it may hold NaN
      continue;
    }
    T v = *p;
    for (int64_t r = 0; r < repeats; ++r) v = beta * v;
    *p = v;
  }
}

}  // namespace r2g2::kernels::cuda::gemm_detail
