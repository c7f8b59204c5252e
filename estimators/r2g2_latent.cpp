#include "r2g2/estimators/r2g2_latent.h"

#include <algorithm>

#include "r2g2/core/autograd.h"
#include "r2g2/core/dispatch.h"
#include "r2g2/core/ops.h"
#include "r2g2/estimators/common.h"
#include "r2g2/kernels/cpu/r2g2_cg.h"
#include "r2g2/kernels/cpu/r2g2_exact.h"
#if R2G2_WITH_CUDA
#include "r2g2/kernels/cuda/r2g2_cg.h"
#endif

namespace r2g2 {

namespace {

// Systems whose CG stopped at the rank bound above tol get a direct float64 solve, on the
// host whatever the device: it is rare, and the point is that the answer is right.
void finish_unconverged(const kernels::LatentSolve& s, const Tensor& weight, const Tensor& sigma,
                        const Tensor& eps, LatentProjection* out) {
  const double tol = s.settings.tol;
  const Device dev = eps.device();
  Tensor res = dev.is_cpu() ? out->residual : out->residual.to(Device::cpu());
  const double* r = res.data<double>();
  std::vector<int64_t> which;
  for (int64_t n = 0; n < s.systems; ++n)
    if (!(r[n] <= tol)) which.push_back(n);
  out->direct_systems = static_cast<int64_t>(which.size());
  if (which.empty()) return;
  Tensor w = dev.is_cpu() ? weight : weight.to(Device::cpu());
  Tensor sg = dev.is_cpu() ? sigma : sigma.to(Device::cpu());
  Tensor e = dev.is_cpu() ? eps : eps.to(Device::cpu());
  Tensor es = dev.is_cpu() ? out->eps_star : out->eps_star.to(Device::cpu());
  dispatch_floating(eps.dtype(), "r2g2 direct", [&](auto tag) {
    using T = decltype(tag);
    kernels::cpu::r2g2_latent_direct<T>(s, w.data<T>(), sg.data<T>(), e.data<T>(), es.data<T>(), which.data(),
                                        static_cast<int64_t>(which.size()), res.data<double>());
  });
  if (dev.is_cuda()) {  // on the CPU, es and res are out's own storage
    out->eps_star.copy_(es);
    out->residual.copy_(res);
  }
  out->method += ", " + std::to_string(which.size()) + " of " + std::to_string(s.systems) +
                 " systems finished by a direct solve";
}

}  // namespace

LatentProjection r2g2_latent_project(const Tensor& sigma_in, const Tensor& eps_in, const Tensor& weight_in,
                                     const R2G2Options& opt) {
  NoGrad no_grad;
  R2G2_CHECK(sigma_in.dim() == 2 && eps_in.shape() == sigma_in.shape() && weight_in.dim() == 2 &&
                 weight_in.size(1) == sigma_in.size(1),
             "r2g2 latent projection: expected sigma, eps [N, D] and weight [m, D], got sigma ",
             shape_str(sigma_in.shape()), ", eps ", shape_str(eps_in.shape()), ", weight ",
             shape_str(weight_in.shape()));
  R2G2_CHECK(opt.tol > 0 && opt.max_iters >= 0 && opt.abs_tol >= 0,
             "r2g2: tol must be > 0, max_iters and abs_tol >= 0 (got tol ", opt.tol, ", max_iters ",
             opt.max_iters, ", abs_tol ", opt.abs_tol, ")");
  Tensor sigma = sigma_in.detach().contiguous(), eps = eps_in.detach().contiguous();
  Tensor weight = weight_in.detach().contiguous();
  const int64_t N = sigma.size(0);
  const int D = static_cast<int>(sigma.size(1)), m = static_cast<int>(weight.size(0));
  const Device dev = sigma.device();
  const DType dt = sigma.dtype();

  LatentProjection out;
  Tensor w_host = dev.is_cpu() ? weight : weight.to(Device::cpu());
  out.rank = dispatch_floating(dt, "r2g2 rank", [&](auto tag) {
    using T = decltype(tag);
    return kernels::cpu::gram_rank<T>(w_host.data<T>(), m, D);
  });

  if (opt.solver == R2G2Solver::exact) {
    out.method = "exact (float64 projection on the CPU)";
    Tensor s_host = sigma.to(Device::cpu()), e_host = eps.to(Device::cpu());
    Tensor es = Tensor::empty(eps.shape(), dt, Device::cpu());
    dispatch_floating(dt, "r2g2 exact", [&](auto tag) {
      using T = decltype(tag);
      kernels::cpu::r2g2_latent_exact<T>(N, m, D, w_host.data<T>(), s_host.data<T>(), e_host.data<T>(),
                                         es.data<T>());
    });
    out.eps_star = dev.is_cpu() ? es : es.to(dev);
    return out;
  }

  const bool paper = opt.solver == R2G2Solver::paper;
  if (!paper && out.rank == D) {
    // rank(A_n) = D: the row space of A_n is all of R^D and the projection is the identity.
    out.method = "identity (full column rank)";
    out.eps_star = est::mask_by_positive(eps, sigma);
    return out;
  }

  kernels::LatentSolve s;
  s.systems = N;
  s.m = m;
  s.D = D;
  s.d_space = !paper && D < m;
  s.rank_bound = out.rank;
  s.settings = opt;
  out.iteration_cap = kernels::iteration_cap(opt, out.rank);
  out.method =
      paper ? "paper (truncated CG, m-space, x0 = rhs)" : (s.d_space ? "cg (D-space)" : "cg (m-space)");
  out.eps_star = Tensor::empty(eps.shape(), dt, dev);
  out.iterations = Tensor::empty({N}, DType::i32, dev);
  out.residual = Tensor::empty({N}, DType::f64, dev);
  dispatch_floating(dt, "r2g2 cg", [&](auto tag) {
    using T = decltype(tag);
    R2G2_KERNEL(dev, r2g2_latent_cg<T>)(s, weight.data<T>(), sigma.data<T>(), eps.data<T>(),
                                        out.eps_star.data<T>(), out.iterations.data<int32_t>(),
                                        out.residual.data<double>());
  });
  if (!paper) finish_unconverged(s, weight, sigma, eps, &out);
  return out;
}

R2G2Diagnostics summarize(const LatentProjection& p, const Tensor& eps) {
  NoGrad no_grad;
  R2G2Diagnostics d;
  d.systems = p.eps_star.size(0);
  d.method = p.method;
  if (p.iterations.defined()) {
    auto it = p.iterations.to_int_vector();
    auto res = p.residual.to_vector();
    double total = 0;
    for (size_t i = 0; i < it.size(); ++i) {
      d.max_iterations = std::max(d.max_iterations, static_cast<int>(it[i]));
      total += it[i];
      d.max_relative_residual = std::max(d.max_relative_residual, res[i]);
    }
    d.mean_iterations = it.empty() ? 0 : total / static_cast<double>(it.size());
  }
  const double e2 = sum(square(eps)).item();
  const double s2 = sum(square(p.eps_star)).item();
  d.noise_removed = e2 > 0 ? 1.0 - s2 / e2 : 0.0;
  return d;
}

}  // namespace r2g2
