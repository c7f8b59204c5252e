// gemm / gemm_batched through cuBLAS.
//
// cuBLAS is column-major; r2g2 is row-major. A row-major [r, c] matrix with row stride
// ld is, read column-major, its transpose [c, r] with leading dimension ld. So the
// row-major C = op(A) op(B) is computed as the column-major C^T = op(B)^T op(A)^T:
// swap the operands (and m with n) and keep each operand's own transpose flag.
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <climits>
#include <cstdint>

#include "kernels/cuda/check.h"
#include "kernels/cuda/cublas_handle.h"
#include "kernels/cuda/gemm.h"
#include "kernels/cuda/stream.h"

namespace r2g2::kernels::cuda {

namespace {

// C[b] = beta * C[b] for every batch, for k == 0 where there is no product to add (and
// BLAS implementations differ on whether k == 0 is legal).
template <class T>
__global__ void scale_c_kernel(int64_t batch, int64_t m, int64_t n, T beta, T* c, int64_t ldc,
                               int64_t stride_c) {
  const int64_t total = batch * m * n;
  for (int64_t idx = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; idx < total;
       idx += int64_t(gridDim.x) * blockDim.x) {
    const int64_t j = idx % n, i = (idx / n) % m, b = idx / (m * n);
    T* p = c + b * stride_c + i * ldc + j;
    *p = beta == T(0) ? T(0) : beta * *p;  // beta == 0 must not read C (it may be NaN)
  }
}

template <class T>
void scale_c(int64_t batch, int64_t m, int64_t n, T beta, T* c, int64_t ldc, int64_t stride_c) {
  const int64_t total = batch * m * n;
  if (total == 0) return;
  const int threads = 256;
  const int64_t blocks = std::min<int64_t>((total + threads - 1) / threads, 65536);
  scale_c_kernel<T>
      <<<static_cast<unsigned>(blocks), threads, 0, current_stream()>>>(batch, m, n, beta, c, ldc, stride_c);
  R2G2_CUDA_LAUNCH_CHECK();
}

// cuBLAS wants ld >= max(1, rows of the column-major view) = max(1, cols of the row-major
// matrix) even when that leading dimension is never stepped over (a single row), where
// r2g2 callers may pass anything. A real overlap is a caller error, reported by name.
int fix_ld(const char* name, int64_t rows, int64_t cols, int64_t ld) {
  if (rows <= 1) ld = std::max<int64_t>({ld, cols, 1});
  R2G2_CHECK(ld >= cols, "gemm: ", name, " = ", ld, " is smaller than the row length ", cols,
             " of a stored [", rows, ", ", cols, "] matrix");
  R2G2_CHECK(ld <= INT_MAX, "gemm: ", name, " = ", ld, " exceeds cuBLAS's 32-bit range");
  return static_cast<int>(ld);
}

struct Dims {
  int m, n, k, lda, ldb, ldc;
};

Dims check_dims(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, int64_t lda, int64_t ldb,
                int64_t ldc) {
  R2G2_CHECK(m >= 0 && n >= 0 && k >= 0, "gemm: negative size m=", m, " n=", n, " k=", k);
  R2G2_CHECK(m <= INT_MAX && n <= INT_MAX && k <= INT_MAX, "gemm: sizes m=", m, " n=", n, " k=", k,
             " exceed cuBLAS's 32-bit range");
  return {static_cast<int>(m),
          static_cast<int>(n),
          static_cast<int>(k),
          fix_ld("lda", trans_a ? k : m, trans_a ? m : k, lda),
          fix_ld("ldb", trans_b ? n : k, trans_b ? k : n, ldb),
          fix_ld("ldc", m, n, ldc)};
}

cublasOperation_t op(bool trans) { return trans ? CUBLAS_OP_T : CUBLAS_OP_N; }

// One overload per type keeps the templates below free of if-constexpr chains.
cublasStatus_t gemm_call(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                         const float* alpha, const float* a, int lda, const float* b, int ldb,
                         const float* beta, float* c, int ldc) {
  return cublasSgemm(h, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}
cublasStatus_t gemm_call(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                         const double* alpha, const double* a, int lda, const double* b, int ldb,
                         const double* beta, double* c, int ldc) {
  return cublasDgemm(h, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}
cublasStatus_t gemm_strided_call(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n,
                                 int k, const float* alpha, const float* a, int lda, long long sa,
                                 const float* b, int ldb, long long sb, const float* beta, float* c, int ldc,
                                 long long sc, int batch) {
  return cublasSgemmStridedBatched(h, ta, tb, m, n, k, alpha, a, lda, sa, b, ldb, sb, beta, c, ldc, sc,
                                   batch);
}
cublasStatus_t gemm_strided_call(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n,
                                 int k, const double* alpha, const double* a, int lda, long long sa,
                                 const double* b, int ldb, long long sb, const double* beta, double* c,
                                 int ldc, long long sc, int batch) {
  return cublasDgemmStridedBatched(h, ta, tb, m, n, k, alpha, a, lda, sa, b, ldb, sb, beta, c, ldc, sc,
                                   batch);
}

}  // namespace

template <class T>
void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, T alpha, const T* a, int64_t lda,
          const T* b, int64_t ldb, T beta, T* c, int64_t ldc) {
  const Dims d = check_dims(trans_a, trans_b, m, n, k, lda, ldb, ldc);
  if (m == 0 || n == 0) return;
  if (k == 0) return scale_c<T>(1, m, n, beta, c, ldc, 0);
  // Column-major C^T [n, m] = op(B)^T [n, k] * op(A)^T [k, m]; alpha/beta live on the host.
  R2G2_CUBLAS_CHECK(gemm_call(cublas_handle(), op(trans_b), op(trans_a), d.n, d.m, d.k, &alpha, b, d.ldb, a,
                              d.lda, &beta, c, d.ldc));
}

template <class T>
void gemm_batched(int64_t batch, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, T alpha,
                  const T* a, int64_t lda, int64_t stride_a, const T* b, int64_t ldb, int64_t stride_b,
                  T beta, T* c, int64_t ldc, int64_t stride_c) {
  R2G2_CHECK(batch >= 0, "gemm_batched: negative batch ", batch);
  const Dims d = check_dims(trans_a, trans_b, m, n, k, lda, ldb, ldc);
  if (batch == 0 || m == 0 || n == 0) return;
  if (k == 0) return scale_c<T>(batch, m, n, beta, c, ldc, stride_c);
  if (stride_c == 0 && batch > 1) {
    // Every product lands on the same C: run them in order, as the CPU reference does
    // (a strided-batched call would race on C).
    for (int64_t i = 0; i < batch; ++i)
      gemm<T>(trans_a, trans_b, m, n, k, alpha, a + i * stride_a, lda, b + i * stride_b, ldb, beta, c, ldc);
    return;
  }
  // cuBLAS takes the batch count as an int and some versions limit it to the 65535 of
  // a grid dimension; chunking costs nothing at that size.
  constexpr int64_t kChunk = 65535;
  for (int64_t first = 0; first < batch; first += kChunk) {
    const int count = static_cast<int>(std::min(kChunk, batch - first));
    R2G2_CUBLAS_CHECK(gemm_strided_call(cublas_handle(), op(trans_b), op(trans_a), d.n, d.m, d.k, &alpha,
                                        b + first * stride_b, d.ldb, stride_b, a + first * stride_a, d.lda,
                                        stride_a, &beta, c + first * stride_c, d.ldc, stride_c, count));
  }
}

#define R2G2_INSTANTIATE(T)                                                                                \
  template void gemm<T>(bool, bool, int64_t, int64_t, int64_t, T, const T*, int64_t, const T*, int64_t, T, \
                        T*, int64_t);                                                                      \
  template void gemm_batched<T>(int64_t, bool, bool, int64_t, int64_t, int64_t, T, const T*, int64_t,      \
                                int64_t, const T*, int64_t, int64_t, T, T*, int64_t, int64_t);
R2G2_INSTANTIATE(float)
R2G2_INSTANTIATE(double)
#undef R2G2_INSTANTIATE

}  // namespace r2g2::kernels::cuda
