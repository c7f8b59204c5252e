// The CUDA R2-G2 conv solve and estimator against the CPU reference, for the same
// inputs and the same noise (the generator is identical on both devices). Without a
// usable CUDA device the GPU suite reports itself skipped;
// on a GPU machine they cover each kernel path: X_n in shared memory or read from
// global memory, the D x D form, the paper's truncated CG, the direct solve (explicit K
// by cuBLAS, one warp per system), and the backward.
#include <doctest/doctest.h>

#include <cmath>
#include <string>

#include "r2g2/core/autograd.h"
#include "r2g2/core/device.h"
#include "r2g2/estimators/conv/conv_estimators.h"
#include "r2g2/estimators/conv/r2g2_conv_solve.h"
#include "estimators/test_conv_util.h"
#include "test_util.h"

using namespace r2g2;
using namespace r2g2::conv_est;
using r2g2::test::closeness;
using r2g2::test::conv::make_problem;
using r2g2::test::conv::max_system_rel_err;
using r2g2::test::conv::Problem;

namespace {

bool no_gpu() {
  if (cuda_available()) return false;
  r2g2::test::skip_suite("no usable CUDA device: the CUDA conv estimator comparisons did not run");
  return true;
}

Tensor solve_dense(const Problem& pr, Device d, const R2G2Options& o, R2G2Diagnostics* diag) {
  Tensor cols = pr.cols.to(d), sigma = pr.sigma.to(d), eps = pr.eps.to(d);
  return eps_star_dense(solve_eps_star(cols, sigma, eps, o, diag), cols, sigma).to(Device::cpu());
}

}  // namespace

TEST_CASE("conv cuda: the solve matches the CPU on every kernel path") {
  if (no_gpu()) return;
  struct Case {
    const char* name;
    int64_t n, c, hw, o;
    int k;
    Conv2dParams p;
    int64_t zero_outside;
  };
  const Case cases[] = {
      {"P x P, X in shared memory", 2, 3, 5, 4, 3, {1, 0}, 0},      // D = 27, P = 9
      {"D x D, zero patches", 2, 2, 7, 3, 3, {1, 0}, 3},            // D = 18, P = 25
      {"P x P, X from global memory", 2, 512, 4, 3, 3, {1, 1}, 0},  // D = 4608, P = 16
      {"VGG 2x2 layer", 2, 512, 2, 3, 3, {1, 1}, 0},                // D = 4608, P = 4
      {"D x D, Gram in shared memory", 2, 2, 8, 3, 3, {1, 1}, 0},   // D = 18, P = 64
  };
  for (const auto& cs : cases)
    for (DType dt : {DType::f64, DType::f32}) {
      const std::string case_name = cs.name, dtype = dtype_name(dt);
      CAPTURE(case_name);
      CAPTURE(dtype);
      Problem pr = make_problem(cs.n, cs.c, cs.hw, cs.o, cs.k, cs.p, 31, dt, cs.zero_outside);
      Tensor oracle = eps_star_projection_f64(pr.cols, pr.sigma, pr.eps);
      R2G2Options o;
      o.solver = R2G2Solver::cg;  // the direct solve: the next test case
      R2G2Diagnostics cpu_diag, gpu_diag;
      Tensor cpu = solve_dense(pr, Device::cpu(), o, &cpu_diag);
      Tensor gpu = solve_dense(pr, Device::cuda(), o, &gpu_diag);
      CHECK(max_system_rel_err(gpu, oracle) < 1e-5);
      CHECK(max_system_rel_err(gpu, cpu) < 1e-5);
      CHECK(gpu_diag.systems == cpu_diag.systems);
      CHECK(gpu_diag.max_iterations <= std::min(pr.p, pr.d));
      CHECK(gpu_diag.noise_removed == doctest::Approx(cpu_diag.noise_removed).epsilon(1e-5));
      CHECK(gpu_diag.method == cpu_diag.method);
      // The paper's truncated CG takes the same steps on both devices.
      o.solver = R2G2Solver::paper;
      o.max_iters = 2;
      CHECK(max_system_rel_err(solve_dense(pr, Device::cuda(), o, nullptr),
                               solve_dense(pr, Device::cpu(), o, nullptr)) < 1e-4);
    }
}

TEST_CASE("conv cuda: the direct solve matches the projection and the CPU, singular K included") {
  if (no_gpu()) return;
  struct Case {
    const char* name;
    int64_t n, c, hw, o, zero_outside;
  };
  const Case cases[] = {
      {"P = 16, dense", 2, 8, 4, 5, 0},                    // D = 72
      {"P = 16, dead positions", 2, 8, 4, 5, 2},           // only a 2x2 corner of each image is non-zero
      {"VGG 4x4 layer", 2, 512, 4, 6, 0},                  // D = 4608, P = 16
      {"VGG 2x2 layer, sparse patches", 2, 512, 2, 6, 1},  // D = 4608, P = 4, one pixel per channel
  };
  for (const auto& cs : cases)
    for (DType dt : {DType::f64, DType::f32}) {
      const std::string case_name = cs.name, dtype = dtype_name(dt);
      CAPTURE(case_name);
      CAPTURE(dtype);
      Problem pr = make_problem(cs.n, cs.c, cs.hw, cs.o, 3, {1, 1}, 37, dt, cs.zero_outside);
      auto sv = pr.sigma.to_vector();  // the last channel without noise: eps* = 0 there
      for (int64_t i = 0; i < pr.d; ++i) sv[(pr.o - 1) * pr.d + i] = 0;
      pr.sigma = Tensor::from_vector(sv, pr.sigma.shape(), dt);
      Tensor oracle = eps_star_projection_f64(pr.cols, pr.sigma, pr.eps);
      R2G2Options o;  // cheapest: the cost model picks the direct solve on both devices
      R2G2Diagnostics cpu_diag, gpu_diag;
      Tensor cpu = solve_dense(pr, Device::cpu(), o, &cpu_diag);
      Tensor gpu = solve_dense(pr, Device::cuda(), o, &gpu_diag);
      CHECK(gpu_diag.method == "explicit K + pivoted Cholesky (P x P)");
      CHECK(gpu_diag.method == cpu_diag.method);
      CHECK(gpu_diag.max_iterations == 0);
      CHECK(gpu_diag.max_relative_residual <= 1e-9);
      CHECK(max_system_rel_err(gpu, oracle) < 1e-5);
      CHECK(max_system_rel_err(gpu, cpu) < 1e-5);
      CHECK(gpu_diag.noise_removed == doctest::Approx(cpu_diag.noise_removed).epsilon(1e-9));
      // And CG, asked for by name, reaches the same eps*.
      R2G2Options cg;
      cg.solver = R2G2Solver::cg;
      R2G2Diagnostics cg_diag;
      CHECK(max_system_rel_err(solve_dense(pr, Device::cuda(), cg, &cg_diag), gpu) < 1e-4);
      CHECK(cg_diag.method == "cg (P x P)");
    }
}

TEST_CASE("conv cuda: large P x P systems run without the residual basis and stay finite") {
  if (no_gpu()) return;
  // P = 196: the residual basis (197 x 196 doubles) exceeds shared memory, so the kernel
  // runs plain CG, still capped at the rank bound.
  Problem pr = make_problem(1, 32, 14, 2, 3, {1, 1}, 23, DType::f32);
  R2G2Diagnostics diag;
  Tensor gpu = solve_dense(pr, Device::cuda(), {}, &diag);
  for (double v : gpu.to_vector()) REQUIRE(std::isfinite(v));
  CHECK(diag.max_iterations <= 196);
  MESSAGE("plain CG at P = 196: max relative residual ", diag.max_relative_residual, ", error vs projection ",
          max_system_rel_err(gpu, eps_star_projection_f64(pr.cols, pr.sigma, pr.eps)));
}

TEST_CASE("conv cuda: r2g2 forward and gradients match the CPU for the same noise") {
  if (no_gpu()) return;
  for (DType dt : {DType::f64, DType::f32}) {
    const std::string dtype = dtype_name(dt);
    CAPTURE(dtype);
    Tensor x = r2g2::test::uniform({2, 3, 6, 6}, 1, -1, 1, dt);
    Tensor mu = r2g2::test::uniform({4, 3, 3, 3}, 2, -0.5, 0.5, dt);
    Tensor sigma = r2g2::test::uniform({4, 3, 3, 3}, 3, 0.3, 1.2, dt);
    Tensor g = r2g2::test::uniform({2, 4, 3, 3}, 4, -1, 1, dt);
    Tensor grads[2][4];
    for (int dev = 0; dev < 2; ++dev) {
      const Device d = dev ? Device::cuda() : Device::cpu();
      Tensor xl = x.to(d).requires_grad_(), ml = mu.to(d).requires_grad_(), sl = sigma.to(d).requires_grad_();
      Generator gen(9);
      Tensor h = conv_est::r2g2(xl, ml, sl, {2, 1}, gen, {}, nullptr);
      backward(h, g.to(d));
      grads[dev][0] = h.detach().to(Device::cpu());
      grads[dev][1] = xl.grad().to(Device::cpu());
      grads[dev][2] = ml.grad().to(Device::cpu());
      grads[dev][3] = sl.grad().to(Device::cpu());
    }
    const double tol = dt == DType::f64 ? 1e-9 : 1e-4;
    for (int i = 0; i < 4; ++i) CHECK(closeness(grads[1][i], grads[0][i], tol, tol) <= 1);
  }
}
