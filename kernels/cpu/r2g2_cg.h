#pragma once
// The batched R2-G2 latent solve, CPU reference (declarations: kernels/r2g2_cg.inc), and
// the float64 host helpers around it, which have no CUDA counterpart (the CUDA path calls
// them on host copies). The oracle is kernels/cpu/r2g2_exact.h.
#include <cstdint>

#include "r2g2/kernels/r2g2_solve.h"

namespace r2g2::kernels::cpu {
#include "r2g2/kernels/r2g2_cg.inc"

// A direct float64 solve of the systems listed in `which` (count of them; null: all
// systems), for systems CG could not finish within the rank bound (ill-conditioned K
// needs more than rank(K) iterations in finite precision). Pivoted Cholesky of the
// system's Gram matrix with pivots at or below rel_cut * (largest diagonal entry)
// dropped, then (m-space, s.d_space false) a basic solution of K beta = A eps and
// eps* = A^T beta, or (D-space) the projection onto range(A^T A) = range(P L):
// eps* = P L (L^T L)^-1 L^T P^T eps. residual[n] (may be null) gets the relative residual
// of the result in the chosen space. Uses s.m, s.D, s.d_space.
template <class T>
void r2g2_latent_direct(const LatentSolve& s, const T* W, const T* sigma, const T* eps, T* eps_star,
                        const int64_t* which, int64_t count, double* residual, double rel_cut = 1e-12);

// Pivoted Cholesky of a symmetric positive semi-definite k x k matrix `a` (row-major,
// overwritten): on return perm[0..k) is the pivot order and, for the returned rank r,
// column c < r of the lower triangle holds L so that P^T a P ~= L L^T. Stops when the
// largest remaining pivot is <= rel_cut * (largest diagonal entry of the input).
int pivoted_cholesky(double* a, int k, int* perm, double rel_cut);

// Numerical rank of W [m, D]: pivoted Cholesky of the smaller Gram matrix in float64,
// stopping when the largest remaining pivot is <= rel_cut * (largest diagonal entry).
// The caller's rank bound of the latent CG (LatentSolve::rank_bound).
template <class T>
int gram_rank(const T* W, int m, int D, double rel_cut = 1e-12);

}  // namespace r2g2::kernels::cpu
