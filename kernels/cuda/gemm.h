#pragma once
// CUDA GEMM (declared in kernels/gemm.inc): device pointers, launched on r2g2's current
// stream (kernels/cuda/stream.h); errors throw r2g2::Error.
// `gemm` and `gemm_batched` call cuBLAS (float32 without TF32 unless kernels/cuda/tf32.h
// allows it). As in BLAS, beta == 0 means C is not read (it may hold garbage or NaN).
// gemm_batched with stride_c == 0 and k == 0 scales C by beta once per entry.
// `gemm_blocked` is the tiled shared-memory kernel; it picks a tile shape from the problem
// size (gemm_blocked_default_tile) and, with alpha == 0, reads neither A nor B, as BLAS.
#include <cstdint>

namespace r2g2::kernels::cuda {
#include "r2g2/kernels/gemm.inc"

// ---- CUDA only: tile shapes of gemm_blocked, for the kernel lab's sweep. ----
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
