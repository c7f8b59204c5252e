#pragma once
// CUDA implementation of kernels/cpu/gemm.h: the same signatures, device pointers,
// launched on r2g2's current stream (kernels/cuda/stream.h). Errors throw r2g2::Error.
// ---- The CPU reference's notes follow. ----
// Row-major GEMM: C = alpha * op(A) op(B) + beta * C, op(A) [m, k], op(B) [k, n].
// lda/ldb/ldc are row strides of the stored matrices. The batched form steps A, B
// and C by their batch strides (0 shares one matrix across the batch).
// ---- CUDA notes. ----
// `gemm` and `gemm_batched` call cuBLAS (float32 without TF32 unless kernels/cuda/tf32.h
// allows it). As in BLAS, beta == 0 means C is not read (it may hold garbage or NaN).
// As in the CPU reference, gemm_batched with stride_c == 0 applies the batch entries to
// the one C in order (each C = alpha op(A_i) op(B_i) + beta C); with k == 0 that is C
// scaled by beta once per entry.
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
// Picks a tile shape from the problem size (gemm_blocked_default_tile). With alpha == 0
// it reads neither A nor B, as BLAS.
template <class T>
void gemm_blocked(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, T alpha, const T* a,
                  int64_t lda, const T* b, int64_t ldb, T beta, T* c, int64_t ldc);

// ---- Tile shapes of gemm_blocked, for the kernel lab's sweep. ----
// A block of block_m*block_n/(thread_m*thread_n) threads computes a block_m x block_n tile
// of C, walking k in steps of block_k; each thread owns thread_m x thread_n outputs.
struct GemmTile {
  int block_m, block_n, block_k, thread_m, thread_n;
};
int gemm_blocked_tile_count();
GemmTile gemm_blocked_tile(int index);  // index in [0, gemm_blocked_tile_count())
int gemm_blocked_default_tile(int64_t m, int64_t n);
// gemm_blocked with an explicit tile shape.
template <class T>
void gemm_blocked_tiled(int tile, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, T alpha,
                        const T* a, int64_t lda, const T* b, int64_t ldb, T beta, T* c, int64_t ldc);

}  // namespace r2g2::kernels::cuda
