// The R2-G2 conv solve: solver choice, kernel dispatch, diagnostics, and the float64
// projection that serves as the oracle.
#include "r2g2/estimators/conv/r2g2_conv_solve.h"

#include <algorithm>
#include <cstdint>
#include <utility>
#include <vector>

#include "r2g2/core/autograd.h"
#include "r2g2/core/dispatch.h"
#include "r2g2/core/ops.h"
#include "r2g2/kernels/cpu/r2g2_conv.h"
#include "r2g2/kernels/cpu/r2g2_exact.h"
#if R2G2_WITH_CUDA
#include "r2g2/kernels/cuda/r2g2_conv.h"
#endif

namespace r2g2::conv_est {

namespace {

kernels::ConvGeom check_solve_args(const Tensor& cols, const Tensor& sigma, const Tensor& eps,
                                   const char* op) {
  R2G2_CHECK(cols.dim() == 3, op, ": expected cols of shape [N, D, P], got ", shape_str(cols.shape()));
  R2G2_CHECK(sigma.dim() == 2 && sigma.shape()[1] == cols.shape()[1], op, ": sigma of shape ",
             shape_str(sigma.shape()), " does not match cols of shape ", shape_str(cols.shape()),
             " (expected [O, ", cols.shape()[1], "])");
  R2G2_CHECK(eps.shape() == sigma.shape(), op, ": eps of shape ", shape_str(eps.shape()),
             " differs from sigma of shape ", shape_str(sigma.shape()));
  R2G2_CHECK(cols.device() == sigma.device() && cols.device() == eps.device(), op,
             ": cols, sigma and eps must share a device (", cols.device().str(), ", ", sigma.device().str(),
             ", ", eps.device().str(), ")");
  R2G2_CHECK(cols.dtype() == sigma.dtype() && cols.dtype() == eps.dtype(), op,
             ": cols, sigma and eps must share a dtype (", dtype_name(cols.dtype()), ", ",
             dtype_name(sigma.dtype()), ", ", dtype_name(eps.dtype()), ")");
  R2G2_CHECK(cols.shape()[1] <= INT32_MAX && cols.shape()[2] <= INT32_MAX, op, ": cols of shape ",
             shape_str(cols.shape()), " has more than 2^31 - 1 rows or columns per image");
  return kernels::im2col_matrices_geom(cols.shape()[0], sigma.shape()[0], cols.shape()[1], cols.shape()[2]);
}

// Whether the direct solve is the cheaper one for g on `dev`.
bool explicit_k_fits(const kernels::ConvGeom& g, const Device& dev) {
#if R2G2_WITH_CUDA
  if (dev.is_cuda()) return kernels::cuda::conv_explicit_k_fits(g);
#endif
  return dev.is_cpu() && kernels::cpu::conv_explicit_k_fits(g);
}

// Shared by every solver: N * Σ_c |eps_c|² is what eps* would keep if nothing were removed.
// Summed where eps lies (contiguous, on the CPU): a float64 copy of its O D values, freshly
// allocated on every training step, cost more than the sum (its page faults alone took
// milliseconds at O D = 2.4M).
double total_noise_sq(const Tensor& eps_in, int64_t images) {
  const Tensor eps = eps_in.to(Device::cpu()).contiguous();
  double s = 0;
  dispatch_floating(eps.dtype(), "r2g2 conv solve", [&](auto tag) {
    using T = decltype(tag);
    const T* e = eps.data<T>();
    for (int64_t i = 0, n = eps.numel(); i < n; ++i)
      s += static_cast<double>(e[i]) * static_cast<double>(e[i]);
  });
  return s * static_cast<double>(images);
}

void fill_diag(R2G2Diagnostics* diag, const kernels::ConvGeom& g, const std::vector<int32_t>& iters,
               const std::vector<double>& rel_res, double star_sq, double noise_sq, std::string method) {
  diag->systems = g.images * g.out_channels;
  diag->max_iterations = 0;
  double sum_iters = 0;
  for (int32_t i : iters) {
    diag->max_iterations = std::max(diag->max_iterations, static_cast<int>(i));
    sum_iters += i;
  }
  diag->mean_iterations = iters.empty() ? 0.0 : sum_iters / static_cast<double>(iters.size());
  diag->max_relative_residual = 0;
  for (double r : rel_res) diag->max_relative_residual = std::max(diag->max_relative_residual, r);
  diag->noise_removed = noise_sq > 0 ? 1.0 - star_sq / noise_sq : 0.0;
  diag->method = std::move(method);
}

}  // namespace

ConvEpsStar solve_eps_star(const Tensor& cols_in, const Tensor& sigma_in, const Tensor& eps_in,
                           const R2G2Options& opt, R2G2Diagnostics* diag) {
  NoGrad no_grad;
  const auto g = check_solve_args(cols_in, sigma_in, eps_in, "r2g2 conv solve");
  R2G2_CHECK(opt.tol > 0, "r2g2 conv solve: tol must be > 0, got ", opt.tol);
  R2G2_CHECK(opt.solver != R2G2Solver::paper || (opt.max_iters >= 0 && opt.abs_tol > 0),
             "r2g2 conv solve: the paper solver needs max_iters >= 0 and abs_tol > 0, got ", opt.max_iters,
             " and ", opt.abs_tol);
  Tensor cols = cols_in.detach().contiguous();
  Tensor sigma = sigma_in.detach().contiguous();
  Tensor eps = eps_in.detach().contiguous();
  const Device dev = cols.device();
  const DType dt = cols.dtype();
  ConvEpsStar out;

  if (opt.solver == R2G2Solver::exact) {
    Tensor e64 = eps_star_projection_f64(cols, sigma, eps);
    if (diag) {
      double star_sq = 0;
      for (double v : e64.to_vector()) star_sq += v * v;
      fill_diag(diag, g, {}, {}, star_sq, total_noise_sq(eps, g.images), "exact (float64 projection)");
      diag->max_iterations = 0;
    }
    out.eps_star = e64.to(dt).to(dev).contiguous();
    return out;
  }

  const bool paper = opt.solver == R2G2Solver::paper;
  // The D x D form applies each matrix in D² instead of 2DP work when D < P (layers near the
  // input, where P is the whole image). The paper's solver is defined on the P x P system.
  const int64_t D = g.patch_size(), P = g.positions(), O = g.out_channels;
  const bool d_space = !paper && D < P;
  // Small P x P systems are formed explicitly and solved directly when that is cheaper than
  // CG (cost model: kernels/cpu/r2g2_conv.h, shared by both backends; each adds its limits).
  const bool direct = opt.solver == R2G2Solver::cheapest && !d_space && explicit_k_fits(g, dev);
  R2G2Options s = opt;

  const int64_t systems = g.images * O;
  Tensor iters, rel_res, star_sq;
  kernels::R2G2SolveStats st;
  if (diag) {
    iters = Tensor::zeros({systems}, DType::i32, dev);
    rel_res = Tensor::zeros({systems}, DType::f64, dev);
    star_sq = Tensor::zeros({systems}, DType::f64, dev);
    st.iterations = iters.data<int32_t>();
    st.rel_residual = rel_res.data<double>();
    st.eps_star_sq = star_sq.data<double>();
  }

  if (systems > 0 && D > 0 && P > 0) {
    if (d_space) {
      // y = eps* to within |r| / λ_min+(M); P x P solves reach the same accuracy of eps* at a
      // residual larger by sqrt(κ). Tightening here keeps both forms equally accurate at
      // the cost of a few cheap D x D iterations (never more than the rank bound).
      s.tol = std::max(opt.tol * 1e-3, 1e-14);
      Tensor gram = Tensor::empty({g.images, D, D}, DType::f64, dev);
      out.eps_star = Tensor::empty({g.images, O, D}, dt, dev);
      dispatch_floating(dt, "r2g2 conv solve", [&](auto tag) {
        using T = decltype(tag);
        R2G2_KERNEL(dev, r2g2_conv_solve_d<T>)(cols.data<T>(), sigma.data<T>(), eps.data<T>(),
                                               out.eps_star.data<T>(), gram.data<double>(), st, g, s);
      });
    } else if (direct) {
      out.beta = Tensor::empty({g.images, O, P}, dt, dev);
      dispatch_floating(dt, "r2g2 conv solve", [&](auto tag) {
        using T = decltype(tag);
        R2G2_KERNEL(dev, r2g2_conv_solve_m_direct<T>)(cols.data<T>(), sigma.data<T>(), eps.data<T>(),
                                                      out.beta.data<T>(), st, g, kernels::cpu::kDirectRelCut);
      });
    } else {
      out.beta = Tensor::empty({g.images, O, P}, dt, dev);
      dispatch_floating(dt, "r2g2 conv solve", [&](auto tag) {
        using T = decltype(tag);
        R2G2_KERNEL(dev, r2g2_conv_solve_m<T>)(cols.data<T>(), sigma.data<T>(), eps.data<T>(),
                                               out.beta.data<T>(), st, g, s);
      });
    }
  } else if (d_space) {
    out.eps_star = Tensor::zeros({g.images, O, D}, dt, dev);
  } else {
    out.beta = Tensor::zeros({g.images, O, P}, dt, dev);
  }

  if (diag) {
    double kept = 0;
    for (double v : star_sq.to_vector()) kept += v;
    const double noise = total_noise_sq(eps, g.images);
    std::string method = paper     ? "paper (truncated cg, P x P)"
                         : d_space ? "cg (D x D Gram)"
                         : direct  ? "explicit K + pivoted Cholesky (P x P)"
                                   : "cg (P x P)";
    // Full column rank of every A_nc makes eps* = eps: R2-G2 then equals RT.
    if (d_space && noise > 0 && 1.0 - kept / noise < 1e-6)
      method = "identity (full column rank), cg (D x D Gram)";
    fill_diag(diag, g, iters.to_int_vector(), rel_res.to_vector(), kept, noise, method);
  }
  return out;
}

Tensor eps_star_dense(const ConvEpsStar& e, const Tensor& cols, const Tensor& sigma) {
  if (e.eps_star.defined()) return e.eps_star;
  R2G2_CHECK(e.beta.defined(), "eps_star_dense: empty ConvEpsStar");
  NoGrad no_grad;
  // eps*_nc = sigma_c ⊙ (X_n beta_nc): [N, O, P] x [N, P, D] -> [N, O, D].
  Tensor xb = matmul(e.beta, cols.detach().transpose(1, 2));
  return mul(xb, reshape(sigma.detach(), {1, sigma.shape()[0], sigma.shape()[1]}));
}

Tensor eps_star_projection_f64(const Tensor& cols_in, const Tensor& sigma_in, const Tensor& eps_in,
                               std::vector<int>* rank_out) {
  NoGrad no_grad;
  const auto g = check_solve_args(cols_in, sigma_in, eps_in, "eps_star_projection_f64");
  const auto X = cols_in.detach().to(Device::cpu()).to_vector();
  const auto S = sigma_in.detach().to(Device::cpu()).to_vector();
  const auto E = eps_in.detach().to(Device::cpu()).to_vector();
  const int64_t systems = g.images * g.out_channels;
  std::vector<double> out(static_cast<size_t>(systems * g.patch_size()));
  std::vector<int> rank(static_cast<size_t>(systems));
  kernels::cpu::r2g2_conv_exact(X.data(), S.data(), E.data(), out.data(), rank.data(), g);
  if (rank_out) *rank_out = std::move(rank);
  return Tensor::from_vector(out, {g.images, g.out_channels, g.patch_size()}, DType::f64);
}

}  // namespace r2g2::conv_est
