#pragma once
// CUDA implementation of kernels/cpu/gemm.h: the same signatures, device pointers,
// launched on r2g2's current stream (kernels/cuda/stream.h). Errors throw r2g2::Error.
// ---- The CPU reference's notes follow. ----
// Row-major GEMM: C = alpha * op(A) op(B) + beta * C, op(A) [m, k], op(B) [k, n].
// lda/ldb/ldc are row strides of the stored matrices. The batched form steps A, B
// and C by their batch strides (0 shares one matrix across the batch).
#include <cstdint>

namespace r2g2::kernels::cuda {

template <class T>
void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, T alpha, const T* a, int64_t lda,
          const T* b, int64_t ldb, T beta, T* c, int64_t ldc);
template <class T>
void gemm_batched(int64_t batch, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, T alpha,
                  const T* a, int64_t lda, int64_t stride_a, const T* b, int64_t ldb, int64_t stride_b,
                  T beta, T* c, int64_t ldc, int64_t stride_c);
// The hand-written tiled shared-memory kernel (kernel lab and learners; `gemm` uses cuBLAS).
template <class T>
void gemm_blocked(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, T alpha, const T* a,
                  int64_t lda, const T* b, int64_t ldb, T beta, T* c, int64_t ldc);

}  // namespace r2g2::kernels::cuda
