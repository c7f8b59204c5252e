#pragma once
// The R2-G2 conv solve on its own, outside the tape: the conditional noise eps*_nc for
// every image n and output channel c (see conv_estimators.h and kernels/cpu/r2g2_conv.h).
// conv_est::r2g2 uses it; tests use it to compare solvers with the float64 oracle.
//
// Shapes: cols [N, D, P] (im2col of x), sigma and eps [O, D] (kernels flattened).
#include <vector>

#include "r2g2/core/tensor.h"
#include "r2g2/estimators/r2g2_options.h"

namespace r2g2::conv_est {

// eps* in the cheaper of two forms (exactly one is defined):
struct ConvEpsStar {
  Tensor beta;      // [N, O, P]: eps*_nc = sigma_c ⊙ (X_n beta_nc)  (P x P solves)
  Tensor eps_star;  // [N, O, D]: eps*_nc itself                     (D x D solves, exact)
};

// Runs the solver chosen by `opt` on the device of `cols`; fills `diag` when given.
ConvEpsStar solve_eps_star(const Tensor& cols, const Tensor& sigma, const Tensor& eps, const R2G2Options& opt,
                           R2G2Diagnostics* diag);

// eps* as an explicit [N, O, D] tensor, whichever form `e` holds.
Tensor eps_star_dense(const ConvEpsStar& e, const Tensor& cols, const Tensor& sigma);

// The oracle: eps*_nc = Q Qᵀ eps_c with Q an orthonormal basis of range(diag(sigma_c) X_n)
// (the row space of A_nc), in float64 on the CPU (kernels/cpu/r2g2_exact.h: pivoted
// Gram-Schmidt with re-orthogonalisation; columns whose remaining norm falls below 1e-10
// of the largest are dropped, the numerical rank). Returns float64 [N, O, D] on the CPU;
// `rank` [N*O], when given, receives each system's numerical rank.
Tensor eps_star_projection_f64(const Tensor& cols, const Tensor& sigma, const Tensor& eps,
                               std::vector<int>* rank = nullptr);

}  // namespace r2g2::conv_est
