#pragma once
// Settings and read-outs of the R2-G2 solve, shared by every layer shape.
#include <cstdint>
#include <string>

#include "r2g2/kernels/r2g2_solve.h"

namespace r2g2 {

// The solver choice and its stopping rules, shared with the kernels (kernels/r2g2_solve.h):
// solver (cheapest, cg, exact, paper), tol (cg: relative residual), abs_tol and max_iters (paper).
using kernels::R2G2Options;
using kernels::R2G2Solver;

// What the last solve of one layer did, for people reading training logs.
struct R2G2Diagnostics {
  int64_t systems = 0;         // number of independent systems solved
  int max_iterations = 0;      // most CG iterations any system used (0 for closed forms)
  double mean_iterations = 0;
  double max_relative_residual = 0;
  double noise_removed = 0;    // 1 - ||eps*||^2 / ||eps||^2, over the whole layer
  std::string method;          // "closed-form", "cg", "exact", "d-space", "identity (full column rank)", ...
};

}  // namespace r2g2
