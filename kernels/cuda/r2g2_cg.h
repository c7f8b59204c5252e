#pragma once
// CUDA implementation of kernels/cpu/r2g2_cg.h (batched R2-G2 solves for a Gaussian
// latent followed by a shared linear map): the same signature, device pointers.
// One thread block per system (the grid is capped and blocks stride over the systems,
// so any int64 count works); the CG vectors live in shared memory in float64 and
// products with K (or A^T A) go through W, which every block reads from global memory
// (small and shared, so it stays in L2). Systems too large for one block's shared memory
// are solved by the CPU reference on host copies. See the CPU header for the contract.
#include <cstdint>

#include "r2g2/kernels/cpu/r2g2_cg.h"  // LatentSolve

namespace r2g2::kernels::cuda {

// iterations [systems] (int32) and residual [systems] (float64) are device pointers
// and may be null.
template <class T>
void r2g2_latent_cg(const LatentSolve& s, const T* W, const T* sigma, const T* eps, T* eps_star,
                    int32_t* iterations, double* residual);

}  // namespace r2g2::kernels::cuda
