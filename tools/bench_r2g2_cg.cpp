// Kernel lab: the batched R2-G2 latent solve (kernels/{cpu,cuda}/r2g2_cg.h) over
// kernels/cases/r2g2_cg.h: one system per example, W [m, D] shared.
#include <algorithm>
#include <cstdio>
#include <numeric>
#include <string>
#include <vector>

#include "r2g2/kernels/cases/r2g2_cg.h"
#include "r2g2/kernels/cpu/r2g2_cg.h"
#include "tools/kernel_lab.h"
#if R2G2_WITH_CUDA
#include "r2g2/kernels/cuda/r2g2_cg.h"
#endif

namespace {

using namespace r2g2;
using namespace r2g2::lab;
namespace kcpu = r2g2::kernels::cpu;
namespace cases = r2g2::kernels::cases;

template <class T>
void bench_latent(Lab& lab, const cases::LatentCase& c) {
  kernels::LatentSolve s;
  s.systems = c.systems;
  s.m = c.m;
  s.D = c.D;
  s.d_space = c.d_space;
  s.rank_bound = std::min(c.m, c.D);  // a random W has full rank
  if (c.paper) s.settings.solver = kernels::R2G2Solver::paper;
  const auto kernel = R2G2_LAB_KERNEL(lab, r2g2_latent_cg<T>);
  const int64_t nd = c.systems * c.D;
  const auto W = host_uniform<T>(int64_t(c.m) * c.D, 40 + c.m),
             sigma = host_uniform<T>(nd, 41 + nd, 0.05, 1.0), eps = host_uniform<T>(nd, 42 + nd);
  std::vector<T> want(static_cast<size_t>(nd));
  kcpu::r2g2_latent_cg<T>(s, W.data(), sigma.data(), eps.data(), want.data(), nullptr, nullptr);
  Tensor dW = lab.upload(W), dsigma = lab.upload(sigma), deps = lab.upload(eps), dout = lab.empty<T>(nd);
  Tensor diters = lab.empty<int32_t>(c.systems);
  auto run = [&] {
    kernel(s, dW.data<T>(), dsigma.data<T>(), deps.data<T>(), dout.data<T>(), diters.data<int32_t>(),
           nullptr);
  };
  run();
  // CG to a relative residual of 1e-6 in float64 on both sides, summing in other orders;
  // the paper's solver stops on an absolute residual, so an order's rounding can move a
  // system across its threshold by one iteration.
  const double tol = c.paper ? 1e-2 : 1e-4;
  const double err = scaled_error(lab.download(dout.data<T>(), nd), want, tol, tol);
  const auto iters = lab.download(diters.data<int32_t>(), c.systems);
  const double mean_iters =
      iters.empty() ? 0 : std::accumulate(iters.begin(), iters.end(), 0.0) / iters.size();
  // Per iteration one product with K (m-space: W^T v, then W (.)) or A^T A: about 4 m D.
  const double flops = mean_iters * 4.0 * c.m * c.D * double(c.systems);
  char note[96];
  std::snprintf(note, sizeof note, "%s%s, %.1f iterations", c.d_space ? "D-space" : "m-space",
                c.paper ? " (paper's solver)" : "", mean_iters);
  lab.row("r2g2_latent_cg", dtype_label<T>(),
          std::to_string(c.systems) + " x " + dims({int64_t(c.m), int64_t(c.D)}), lab.time_ms(run), 0, flops,
          err, note);
}

void run(Lab& lab) {
  if (!lab.selected("r2g2_latent_cg")) return;
  for (const auto& c : cases::perf_latent_cases(!lab.on_cuda())) bench_latent<float>(lab, c);
}

R2G2_BENCH("r2g2_cg", "r2g2_latent_cg (m-space, D-space, the paper's solver)",
           "R2-G2 and LRT: elementwise kernels, batched CG solves", 120, false, run);

}  // namespace
