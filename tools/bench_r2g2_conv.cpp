// Kernel lab: the batched R2-G2 conv solves (kernels/{cpu,cuda}/r2g2_conv.h) over
// kernels/cases/r2g2_conv.h: one system per (image, output channel).
#include <cstdio>
#include <numeric>
#include <string>
#include <vector>

#include "r2g2/kernels/cases/r2g2_conv.h"
#include "r2g2/kernels/cpu/r2g2_conv.h"
#include "tools/kernel_lab.h"
#if R2G2_WITH_CUDA
#include "r2g2/kernels/cuda/r2g2_conv.h"
#endif

namespace {

using namespace r2g2;
using namespace r2g2::lab;
namespace kcpu = r2g2::kernels::cpu;
namespace cases = r2g2::kernels::cases;

template <class T>
void bench_conv_solve(Lab& lab, const cases::ConvSolveCase& c) {
  const bool d_space = c.d < c.p;  // the smaller system, as the estimator picks
  const kernels::ConvGeom g = kernels::im2col_matrices_geom(c.images, c.out_channels, c.d, c.p);
  const kernels::R2G2Options settings;
  const int64_t systems = c.images * c.out_channels, n_cols = c.images * c.d * c.p;
  const int64_t n_out = systems * (d_space ? c.d : c.p);
  auto cols = host_uniform<T>(n_cols, 50 + n_cols);
  const auto sigma = host_uniform<T>(c.out_channels * c.d, 51 + c.d, 0.05, 1.0),
             eps = host_uniform<T>(c.out_channels * c.d, 52 + c.d);
  std::vector<T> want(static_cast<size_t>(n_out));
  std::vector<double> gram(static_cast<size_t>(d_space ? c.images * c.d * c.d : 1));
  if (d_space)
    kcpu::r2g2_conv_solve_d<T>(cols.data(), sigma.data(), eps.data(), want.data(), gram.data(), {}, g,
                               settings);
  else
    kcpu::r2g2_conv_solve_m<T>(cols.data(), sigma.data(), eps.data(), want.data(), {}, g, settings);

  Tensor dcols = lab.upload(cols), dsigma = lab.upload(sigma), deps = lab.upload(eps),
         dout = lab.empty<T>(n_out);
  Tensor dgram = Tensor::empty({std::max<int64_t>(int64_t(gram.size()), 1)}, DType::f64, lab.device());
  Tensor diters = lab.empty<int32_t>(systems);
  kernels::R2G2SolveStats stats;
  stats.iterations = diters.data<int32_t>();
  const auto solve_d = R2G2_LAB_KERNEL(lab, r2g2_conv_solve_d<T>);
  const auto solve_m = R2G2_LAB_KERNEL(lab, r2g2_conv_solve_m<T>);
  auto run = [&] {
    if (d_space)
      solve_d(dcols.data<T>(), dsigma.data<T>(), deps.data<T>(), dout.data<T>(), dgram.data<double>(), stats,
              g, settings);
    else
      solve_m(dcols.data<T>(), dsigma.data<T>(), deps.data<T>(), dout.data<T>(), stats, g, settings);
  };
  run();
  // CG to a relative residual of 1e-6 in float64 on both sides, summing in other orders.
  const double err = scaled_error(lab.download(dout.data<T>(), n_out), want, 1e-4, 1e-4);
  const auto iters = lab.download(diters.data<int32_t>(), systems);
  const double mean_iters =
      iters.empty() ? 0 : std::accumulate(iters.begin(), iters.end(), 0.0) / iters.size();
  // Per iteration one product with K = X^T diag(s^2) X (4 d p) or M = diag(s) G diag(s) (2 d^2).
  const double per_iter = d_space ? 2.0 * c.d * c.d : 4.0 * c.d * c.p;
  char note[96];
  std::snprintf(note, sizeof note, "%s, %.1f iterations", d_space ? "D-space" : "m-space", mean_iters);
  lab.row(d_space ? "r2g2_conv_solve_d" : "r2g2_conv_solve_m", dtype_label<T>(),
          dims({c.images, c.out_channels}) + " d" + std::to_string(c.d) + " p" + std::to_string(c.p),
          lab.time_ms(run), 0, mean_iters * per_iter * double(systems), err, note);
}

// The direct solve (explicit K + pivoted Cholesky) beside CG on the same m-space systems,
// at the shapes of VGG-11's top four conv layers on 32x32 inputs (P = 16 at 4x4 with 256
// and 512 input channels, P = 4 at 2x2): batch 16 on the CPU, 128 on a device.
void bench_conv_direct(Lab& lab) {
  using T = float;
  const int64_t images = lab.on_cuda() ? 128 : 16;
  const cases::ConvSolveCase shapes[] = {
      {images, 512, 2304, 16}, {images, 512, 4608, 16}, {images, 512, 4608, 4}};
  for (const auto& c : shapes) {
    const kernels::ConvGeom g = kernels::im2col_matrices_geom(c.images, c.out_channels, c.d, c.p);
    const int64_t systems = c.images * c.out_channels, n_cols = c.images * c.d * c.p, n_beta = systems * c.p;
    const auto cols = host_uniform<T>(n_cols, 60 + n_cols);
    const auto sigma = host_uniform<T>(c.out_channels * c.d, 61 + c.d, 0.05, 1.0),
               eps = host_uniform<T>(c.out_channels * c.d, 62 + c.d);
    Tensor dcols = lab.upload(cols), dsigma = lab.upload(sigma), deps = lab.upload(eps);
    Tensor dcg = lab.empty<T>(n_beta), ddirect = lab.empty<T>(n_beta), diters = lab.empty<int32_t>(systems);
    kernels::R2G2SolveStats stats;
    stats.iterations = diters.data<int32_t>();
    const kernels::R2G2Options settings;
    const std::string size =
        dims({c.images, c.out_channels}) + " d" + std::to_string(c.d) + " p" + std::to_string(c.p);
    const auto solve_cg = R2G2_LAB_KERNEL(lab, r2g2_conv_solve_m<T>);
    const auto solve_direct = R2G2_LAB_KERNEL(lab, r2g2_conv_solve_m_direct<T>);
    const auto direct_fits = R2G2_LAB_KERNEL(lab, conv_explicit_k_fits);
    auto run_cg = [&] {
      solve_cg(dcols.data<T>(), dsigma.data<T>(), deps.data<T>(), dcg.data<T>(), stats, g, settings);
    };
    const double cg_ms = lab.time_ms(run_cg, 3);
    const auto iters = lab.download(diters.data<int32_t>(), systems);
    const double mean_iters = std::accumulate(iters.begin(), iters.end(), 0.0) / double(systems);
    char note[96];
    std::snprintf(note, sizeof note, "cg, %.1f iterations", mean_iters);
    lab.row("r2g2_conv_solve_m", dtype_label<T>(), size, cg_ms, 0,
            mean_iters * 4.0 * c.d * c.p * double(systems), -1, note);
    auto run_direct = [&] {
      solve_direct(dcols.data<T>(), dsigma.data<T>(), deps.data<T>(), ddirect.data<T>(), {}, g,
                   kernels::cpu::kDirectRelCut);
    };
    const double direct_ms = lab.time_ms(run_direct, 3);
    // Random dense patches: every K is non-singular, so beta is unique and CG's (relative
    // residual 1e-6) agrees with the direct one.
    const double err = scaled_error(lab.download(ddirect.data<T>(), n_beta),
                                    lab.download(dcg.data<T>(), n_beta), 1e-4, 1e-4);
    std::snprintf(note, sizeof note, "explicit K + Cholesky, %.1fx cg%s", cg_ms / direct_ms,
                  direct_fits(g) ? "" : " (cost model: cg)");
    lab.row("r2g2_conv_solve_m_direct", dtype_label<T>(), size, direct_ms, 0, kcpu::conv_explicit_k_flops(g),
            err, note);
  }
}

// The m-space backward (dmu, dsigma and the column gradient from beta) at the shapes of
// VGG-11's top four conv layers, batch 16; checked against the same kernel in double.
void bench_conv_backward(Lab& lab) {
  const cases::ConvSolveCase shapes[] = {{16, 512, 2304, 16}, {16, 512, 4608, 16}, {16, 512, 4608, 4}};
  for (const auto& c : shapes) {
    const kernels::ConvGeom g = kernels::im2col_matrices_geom(c.images, c.out_channels, c.d, c.p);
    const int64_t n_cols = c.images * c.d * c.p, n_g = c.images * c.out_channels * c.p,
                  n_w = c.out_channels * c.d;
    const auto cols = host_uniform<float>(n_cols, 70 + n_cols), grad = host_uniform<float>(n_g, 71),
               beta = host_uniform<float>(n_g, 72), mu = host_uniform<float>(n_w, 73),
               sigma = host_uniform<float>(n_w, 74, 0.05, 1.0);
    std::vector<float> dmu(n_w), dsigma(n_w), dcols(n_cols);
    auto run = [&] {
      kcpu::r2g2_conv_backward_m<float>(cols.data(), grad.data(), beta.data(), mu.data(), sigma.data(),
                                        dmu.data(), dsigma.data(), dcols.data(), g);
    };
    const double ms = lab.time_ms(run, 3);
    auto wide = [](const std::vector<float>& v) { return std::vector<double>(v.begin(), v.end()); };
    std::vector<double> dmu64(n_w), dsigma64(n_w), dcols64(n_cols);
    kcpu::r2g2_conv_backward_m<double>(wide(cols).data(), wide(grad).data(), wide(beta).data(),
                                       wide(mu).data(), wide(sigma).data(), dmu64.data(), dsigma64.data(),
                                       dcols64.data(), g);
    std::vector<double> got = wide(dmu), want = dmu64;
    got.insert(got.end(), dsigma.begin(), dsigma.end());
    want.insert(want.end(), dsigma64.begin(), dsigma64.end());
    got.insert(got.end(), dcols.begin(), dcols.end());
    want.insert(want.end(), dcols64.begin(), dcols64.end());
    const double flops = 2.0 * double(c.images * c.out_channels * c.d) * (3.0 * c.p + 3.0);
    lab.row("r2g2_conv_backward_m", dtype_label<float>(),
            dims({c.images, c.out_channels}) + " d" + std::to_string(c.d) + " p" + std::to_string(c.p), ms, 0,
            flops, scaled_error(got, want, 1e-4, 1e-3), "dmu, dsigma, dcols from beta");
  }
}

void run(Lab& lab) {
  if (lab.selected("r2g2_conv_solve")) {
    for (const auto& c : cases::perf_conv_solve_cases(!lab.on_cuda())) bench_conv_solve<float>(lab, c);
    bench_conv_direct(lab);
  }
  // CPU only: the CUDA backend has no r2g2_conv_backward_m (conv_est::r2g2 uses ops there).
  if (!lab.on_cuda() && lab.selected("r2g2_conv_backward_m")) bench_conv_backward(lab);
}

R2G2_BENCH("r2g2_conv",
           "r2g2_conv_solve_m, r2g2_conv_solve_d, r2g2_conv_solve_m_direct, r2g2_conv_backward_m",
           "R2-G2 and LRT: elementwise kernels, batched CG solves", 130, false, run);

}  // namespace
