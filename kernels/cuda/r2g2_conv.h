#pragma once
// CUDA implementation of kernels/cpu/r2g2_conv.h (batched R2-G2 conv solves): the same
// signatures, device pointers (stats too), launched on r2g2's current stream. See the
// CPU header for the contract.
//
// A thread block solves one (image, output channel) system at a time. The CG vectors, the
// residual basis used for re-orthogonalisation and all dot products are float64, in
// shared memory when they fit and otherwise in global scratch memory (one slot per
// block, so the grid shrinks and blocks take several systems in turn); large systems
// therefore run too, with the same arithmetic. X_n (or G_n) sits in shared memory next
// to them when it fits (the paper's upper VGG layers at P = 4, and smaller ones), else
// the block reads it from global memory, where the O blocks of one image share it
// through L2. Every system stops on its own.
#include <cstdint>

#include "r2g2/kernels/cpu/r2g2_conv.h"  // R2G2ConvGeom, R2G2CGSettings, R2G2SolveStats

namespace r2g2::kernels::cuda {

template <class T>
void r2g2_conv_solve_m(const T* cols, const T* sigma, const T* eps, T* beta, const R2G2SolveStats& stats,
                       const R2G2ConvGeom& g, const R2G2CGSettings& s);

template <class T>
void r2g2_conv_solve_d(const T* cols, const T* sigma, const T* eps, T* eps_star, double* gram,
                       const R2G2SolveStats& stats, const R2G2ConvGeom& g, const R2G2CGSettings& s);

}  // namespace r2g2::kernels::cuda
