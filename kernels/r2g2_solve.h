#pragma once
// The settings and per-system read-outs of the R2-G2 solves, shared by the latent and conv
// kernels (kernels/r2g2_cg.inc, kernels/r2g2_conv.inc) and by the public options
// (estimators/r2g2_options.h names them r2g2::R2G2Options and r2g2::R2G2Solver).
#include <cstdint>

namespace r2g2::kernels {

enum class R2G2Solver {
  cheapest,  // the exact solution by the cheaper method: small conv m-space systems are formed
             // explicitly and solved by float64 pivoted Cholesky where the cost model says so
             // (kernels/r2g2_conv.inc: conv_explicit_k_fits; CPU and CUDA); everything else runs cg
  cg,        // conjugate gradient, relative residual `tol`, capped at the rank bound
  exact,     // float64 projection on the CPU: the test oracle (the kernels run cg for it)
  paper,     // the paper's truncated CG: x0 = rhs, stop when every |residual| < abs_tol or after
             // max_iters (never past the rank bound). Biased; offered to reproduce the paper.
};

struct R2G2Options {
  R2G2Solver solver = R2G2Solver::cheapest;
  double tol = 1e-6;      // cg (and cheapest where it runs cg): stop when ||r|| <= tol ||rhs||
  double abs_tol = 1e-3;  // paper: absolute residual per entry
  int max_iters = 10;     // paper: iteration budget
};

// Iterations one system may take. CG never runs past the rank bound: in exact arithmetic
// it has converged by then, and in floating point running past the rank of a singular
// system amplifies rounding (estimators/README.md, trap 1). constexpr so that device code
// calls it too.
constexpr int iteration_cap(const R2G2Options& s, int rank_bound) {
  const int cap = s.solver == R2G2Solver::paper && s.max_iters < rank_bound ? s.max_iters : rank_bound;
  return cap > 0 ? cap : 0;
}

// The batched latent systems of r2g2_latent_cg: one per example n, A_n = W diag(sigma_n)
// with W [m, D] shared.
struct LatentSolve {
  int64_t systems = 0;  // N: one per example
  int m = 0;            // rows of W (outputs of the linear map)
  int D = 0;            // latent size
  bool d_space = false;
  int rank_bound = 0;  // rank(W) <= min(m, D), from the caller (kernels/cpu/r2g2_cg.h: gram_rank)
  R2G2Options settings;
};

// Per-system read-outs of the conv solves (any pointer may be null), on the same device
// as the data.
struct R2G2SolveStats {
  int32_t* iterations = nullptr;   // [N*O]
  double* rel_residual = nullptr;  // [N*O] final ||r|| / ||rhs|| (0 when rhs = 0)
  double* eps_star_sq = nullptr;   // [N*O] ||eps*_nc||²
};

}  // namespace r2g2::kernels
