#pragma once
// Settings and read-outs of the R2-G2 solve, shared by every layer shape.
#include <cstdint>
#include <string>

namespace r2g2 {

enum class R2G2Solver {
  cg,     // conjugate gradient, relative residual `tol`, capped at the rank bound min(m, D)
  exact,  // float64 direct solve (pseudo-inverse) on the CPU: the test oracle
  paper,  // the paper's truncated CG: x0 = rhs, stop when every |residual| < abs_tol or after max_iters
          // (never past the rank bound). Biased; offered to reproduce the paper, never the default.
};

struct R2G2Options {
  R2G2Solver solver = R2G2Solver::cg;
  double tol = 1e-6;       // cg: relative residual ||r|| / ||rhs||
  double abs_tol = 1e-3;   // paper: absolute residual per entry
  int max_iters = 10;      // paper: iteration budget
};

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
