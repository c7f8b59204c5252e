#pragma once
// The batched R2-G2 conv solves on CUDA (declarations: kernels/r2g2_conv.inc).
//
// A thread block solves one (image, output channel) system at a time. The CG vectors, the
// residual basis used for re-orthogonalisation and all dot products are float64, in
// shared memory when they fit and otherwise in global scratch memory (one slot per
// block, so the grid shrinks and blocks take several systems in turn); large systems
// therefore run too, with the same arithmetic. X_n (or G_n) sits in shared memory next
// to them when it fits (the paper's upper VGG layers at P = 4, and smaller ones), else
// the block reads it from global memory, where the O blocks of one image share it
// through L2. Every system stops on its own.
//
// The direct m-space solve (r2g2_conv_solve_m_direct, kernels/cuda/r2g2_conv_direct.cu)
// forms K by a cuBLAS GEMM and solves one system per warp: P is limited to 32 there.
#include "r2g2/kernels/common.h"
#include "r2g2/kernels/r2g2_solve.h"

namespace r2g2::kernels::cuda {
#include "r2g2/kernels/r2g2_conv.inc"
}  // namespace r2g2::kernels::cuda
