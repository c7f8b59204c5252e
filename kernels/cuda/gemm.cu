// gemm / gemm_batched through cuBLAS.
//
// cuBLAS is column-major; r2g2 is row-major. A row-major [r, c] matrix with row stride
// ld is, read column-major, its transpose [c, r] with leading dimension ld. So the
// row-major C = op(A) op(B) is computed as the column-major C^T = op(B)^T op(A)^T:
// swap the operands (and m with n) and keep each operand's own transpose flag.
//
// Under the host emulator (tests/emulator) there is no cuBLAS: the two column-major
// calls below are served by the CPU reference GEMM instead, with cuBLAS's argument
// checks, so everything around them (the operand swap, the leading-dimension fixes,
// the k == 0 kernel, batching) runs as it does on a device.
#include <algorithm>
#include <climits>
#include <cstdint>

#include "r2g2/kernels/cuda/check.h"
#include "r2g2/kernels/cuda/gemm.h"
#include "r2g2/kernels/cuda/gemm_kernels.cuh"
#include "r2g2/kernels/cuda/launch.cuh"

#ifdef R2G2_CUDA_EMULATION
#include "r2g2/kernels/cpu/gemm.h"
#else
#include <cublas_v2.h>

#include "r2g2/kernels/cuda/cublas_handle.h"
#include "r2g2/kernels/cuda/cublas_library.h"
#endif

namespace r2g2::kernels::cuda {

namespace {

template <class T>
void scale_c(int64_t batch, int64_t m, int64_t n, T beta, T* c, int64_t ldc, int64_t stride_c,
             int64_t repeats) {
  const int64_t total = batch * m * n;
  if (total == 0) return;
  R2G2_LAUNCH(gemm_detail::scale_c_kernel<T>, blocks_for(total), kThreads, batch, m, n, beta, c, ldc,
              stride_c, repeats);
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

// ---- The two cuBLAS calls: column-major C = alpha op(A) op(B) + beta C, C [m, n] ----

#ifdef R2G2_CUDA_EMULATION

// cuBLAS's own argument checks (CUBLAS_STATUS_INVALID_VALUE), so that the emulated build
// rejects what a device would.
void check_blas_args(const char* call, bool ta, bool tb, int m, int n, int k, int lda, int ldb, int ldc,
                     int batch = 1) {
  const bool ok = m >= 0 && n >= 0 && k >= 0 && batch >= 0 && lda >= std::max(1, ta ? k : m) &&
                  ldb >= std::max(1, tb ? n : k) && ldc >= std::max(1, m);
  if (!ok)
    throw_cuda_error(call, __FILE__, __LINE__,
                     "cuBLAS CUBLAS_STATUS_INVALID_VALUE (emulated: an invalid numeric value was used as an "
                     "argument)");
}

// A column-major X with leading dimension ld is the row-major X^T with row stride ld, so
// column-major C = op(A) op(B) is the row-major C^T = op(B)^T op(A)^T.
template <class T>
void blas_gemm(bool ta, bool tb, int m, int n, int k, T alpha, const T* a, int lda, const T* b, int ldb,
               T beta, T* c, int ldc) {
  check_blas_args("cublas<t>gemm", ta, tb, m, n, k, lda, ldb, ldc);
  if (m == 0 || n == 0) return;
  cpu::gemm<T>(tb, ta, n, m, k, alpha, b, ldb, a, lda, beta, c, ldc);
}

template <class T>
void blas_gemm_strided(bool ta, bool tb, int m, int n, int k, T alpha, const T* a, int lda, long long sa,
                       const T* b, int ldb, long long sb, T beta, T* c, int ldc, long long sc, int batch) {
  check_blas_args("cublas<t>gemmStridedBatched", ta, tb, m, n, k, lda, ldb, ldc, batch);
  if (m == 0 || n == 0) return;
  for (int i = 0; i < batch; ++i)
    cpu::gemm<T>(tb, ta, n, m, k, alpha, b + i * sb, ldb, a + i * sa, lda, beta, c + i * sc, ldc);
}

#else

cublasOperation_t op(bool trans) { return trans ? CUBLAS_OP_T : CUBLAS_OP_N; }

// One overload per type keeps the templates below free of if-constexpr chains.
cublasStatus_t gemm_call(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                         const float* alpha, const float* a, int lda, const float* b, int ldb,
                         const float* beta, float* c, int ldc) {
  return cublas_library().sgemm(h, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}
cublasStatus_t gemm_call(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                         const double* alpha, const double* a, int lda, const double* b, int ldb,
                         const double* beta, double* c, int ldc) {
  return cublas_library().dgemm(h, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}
cublasStatus_t gemm_strided_call(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n,
                                 int k, const float* alpha, const float* a, int lda, long long sa,
                                 const float* b, int ldb, long long sb, const float* beta, float* c, int ldc,
                                 long long sc, int batch) {
  return cublas_library().sgemm_strided_batched(h, ta, tb, m, n, k, alpha, a, lda, sa, b, ldb, sb, beta, c, ldc, sc,
                                   batch);
}
cublasStatus_t gemm_strided_call(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n,
                                 int k, const double* alpha, const double* a, int lda, long long sa,
                                 const double* b, int ldb, long long sb, const double* beta, double* c,
                                 int ldc, long long sc, int batch) {
  return cublas_library().dgemm_strided_batched(h, ta, tb, m, n, k, alpha, a, lda, sa, b, ldb, sb, beta, c, ldc, sc,
                                   batch);
}

// alpha and beta live on the host (the handle's default pointer mode).
template <class T>
void blas_gemm(bool ta, bool tb, int m, int n, int k, T alpha, const T* a, int lda, const T* b, int ldb,
               T beta, T* c, int ldc) {
  R2G2_CUBLAS_CHECK(
      gemm_call(cublas_handle(), op(ta), op(tb), m, n, k, &alpha, a, lda, b, ldb, &beta, c, ldc));
}

template <class T>
void blas_gemm_strided(bool ta, bool tb, int m, int n, int k, T alpha, const T* a, int lda, long long sa,
                       const T* b, int ldb, long long sb, T beta, T* c, int ldc, long long sc, int batch) {
  R2G2_CUBLAS_CHECK(gemm_strided_call(cublas_handle(), op(ta), op(tb), m, n, k, &alpha, a, lda, sa, b, ldb,
                                      sb, &beta, c, ldc, sc, batch));
}

#endif

}  // namespace

template <class T>
void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, T alpha, const T* a, int64_t lda,
          const T* b, int64_t ldb, T beta, T* c, int64_t ldc) {
  const Dims d = check_dims(trans_a, trans_b, m, n, k, lda, ldb, ldc);
  if (m == 0 || n == 0) return;
  if (k == 0) return scale_c<T>(1, m, n, beta, c, ldc, 0, 1);
  // Column-major C^T [n, m] = op(B)^T [n, k] * op(A)^T [k, m].
  blas_gemm<T>(trans_b, trans_a, d.n, d.m, d.k, alpha, b, d.ldb, a, d.lda, beta, c, d.ldc);
}

template <class T>
void gemm_batched(int64_t batch, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, T alpha,
                  const T* a, int64_t lda, int64_t stride_a, const T* b, int64_t ldb, int64_t stride_b,
                  T beta, T* c, int64_t ldc, int64_t stride_c) {
  R2G2_CHECK(batch >= 0, "gemm_batched: negative batch ", batch);
  const Dims d = check_dims(trans_a, trans_b, m, n, k, lda, ldb, ldc);
  if (batch == 0 || m == 0 || n == 0) return;
  // With stride_c == 0 every batch entry updates the same C, one after another as in the
  // CPU reference: C = op(A_0) op(B_0) + beta C, then the next entry on that result.
  const bool shared_c = stride_c == 0 && batch > 1;
  if (k == 0) {
    if (shared_c) return scale_c<T>(1, m, n, beta, c, ldc, 0, batch);
    return scale_c<T>(batch, m, n, beta, c, ldc, stride_c, 1);
  }
  if (shared_c) {
    // A strided-batched call would race on C.
    for (int64_t i = 0; i < batch; ++i)
      gemm<T>(trans_a, trans_b, m, n, k, alpha, a + i * stride_a, lda, b + i * stride_b, ldb, beta, c, ldc);
    return;
  }
  // cuBLAS takes the batch count as an int and some versions limit it to the 65535 of
  // a grid dimension; chunking costs nothing at that size.
  constexpr int64_t kChunk = 65535;
  for (int64_t first = 0; first < batch; first += kChunk) {
    const int count = static_cast<int>(std::min(kChunk, batch - first));
    blas_gemm_strided<T>(trans_b, trans_a, d.n, d.m, d.k, alpha, b + first * stride_b, d.ldb, stride_b,
                         a + first * stride_a, d.lda, stride_a, beta, c + first * stride_c, d.ldc, stride_c,
                         count);
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
