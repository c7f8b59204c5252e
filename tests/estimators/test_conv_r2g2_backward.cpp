// The R2-G2 conv backward (estimators/conv/conv_r2g2_backward.h): the fused CPU kernel and
// the chunked ops form against the same sums in float64, from the same float32 beta, on
// shapes that take each of the kernel's paths (P = 4 and 16 with the rows in registers,
// P = 1 and 9 from memory; D = 27 and 45 end in a partial tile) and on rank-deficient
// patch matrices: all-zero patches (zero columns of X_n, dead positions), all-zero input
// channels (zero rows) and zero sigma entries.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "r2g2/core/autograd.h"
#include "r2g2/estimators/conv/conv_common.h"
#include "r2g2/estimators/conv/conv_r2g2_backward.h"
#include "r2g2/estimators/conv/r2g2_conv_solve.h"
#include "test_util.h"

using namespace r2g2;
using conv_est::ConvR2G2BackwardForm;
using conv_est::ConvR2G2Gradients;
using r2g2::test::closeness;
using r2g2::test::error_of;
using r2g2::test::uniform;

namespace {

struct Case {
  const char* name;
  int64_t n, c, hw, o;
  Conv2dParams p;
  int64_t live = 0;           // > 0: only the top-left live x live pixels of each image are non-zero
  bool zero_channel = false;  // input channel 0 all zero
};

struct Inputs {
  Tensor cols, grad, mu, sigma;
  conv_est::ConvEpsStar noise;
  kernels::ConvGeom geom;
};

Inputs make_inputs(const Case& cs, uint64_t seed) {
  NoGrad no_grad;
  auto xv = uniform({cs.n, cs.c, cs.hw, cs.hw}, seed, -1, 1).to_vector();
  for (int64_t i = 0; i < cs.n * cs.c; ++i)
    for (int64_t r = 0; r < cs.hw; ++r)
      for (int64_t s = 0; s < cs.hw; ++s) {
        const bool dead =
            (cs.live > 0 && (r >= cs.live || s >= cs.live)) || (cs.zero_channel && i % cs.c == 0);
        if (dead) xv[(i * cs.hw + r) * cs.hw + s] = 0;
      }
  Tensor x = Tensor::from_vector(xv, {cs.n, cs.c, cs.hw, cs.hw}, DType::f64).to(DType::f32);
  auto sv = uniform({cs.o, cs.c, 3, 3}, seed + 1, 0.2, 1.5).to_vector();
  for (size_t i = 0; i < sv.size(); i += 7) sv[i] = 0;  // zero sigma entries
  Tensor sigma = Tensor::from_vector(sv, {cs.o, cs.c, 3, 3}, DType::f64).to(DType::f32);
  Tensor mu = uniform({cs.o, cs.c, 3, 3}, seed + 2, -0.5, 0.5, DType::f32);
  Inputs in;
  in.geom = conv_est::detail::check_conv_args("test", x, mu, sigma, cs.p);
  const int64_t O = cs.o, D = in.geom.patch_size(), P = in.geom.positions();
  in.cols = im2col(x, 3, 3, cs.p).contiguous();
  in.mu = reshape(mu, {O, D});
  in.sigma = reshape(sigma, {O, D});
  Tensor eps = Tensor::randn({O, D}, seed + 3, 0, DType::f32);
  in.noise = conv_est::solve_eps_star(in.cols, in.sigma, eps, R2G2Options{}, nullptr);
  in.grad = uniform({cs.n, O, P}, seed + 4, -1, 1, DType::f32);
  return in;
}

ConvR2G2Gradients backward(const Inputs& in, ConvR2G2BackwardForm form, conv_est::ConvR2G2Needs needs = {}) {
  return conv_est::conv_r2g2_backward(in.cols, in.grad, in.noise, in.mu, in.sigma, in.geom, needs, form);
}

// The chunked form in float64 from the float32 inputs and beta: only the backward's own
// rounding separates the float32 results from it.
ConvR2G2Gradients reference_f64(const Inputs& in) {
  conv_est::ConvEpsStar noise64;
  noise64.beta = in.noise.beta.to(DType::f64);
  return conv_est::conv_r2g2_backward(in.cols.to(DType::f64), in.grad.to(DType::f64), noise64,
                                      in.mu.to(DType::f64), in.sigma.to(DType::f64), in.geom, {},
                                      ConvR2G2BackwardForm::chunked);
}

double max_abs(const Tensor& t) {
  double m = 0;
  for (double v : t.to_vector()) m = std::max(m, std::abs(v));
  return m;
}

// float32 sums of at most a few hundred products: within 1e-6 of the tensor's largest
// entry (about 17 unit roundoffs) plus 1e-5 relative. Measured: at most a tenth of that.
double f32_closeness(const Tensor& got, const Tensor& want) {
  return closeness(got, want, 1e-5, 1e-6 * std::max(max_abs(want), 1e-30));
}

const Case kCases[] = {
    {"P = 1", 3, 3, 3, 5, {1, 0}},                         // D = 27: one full tile and 11 lanes
    {"P = 1, one image all zero", 2, 3, 3, 4, {1, 0}, 0},  // the second image zeroed below
    {"P = 4, zero channel", 3, 5, 2, 6, {1, 1}, 0, true},  // D = 45
    {"P = 9, zero patches", 2, 3, 3, 5, {1, 1}, 1},        // 5 of 9 positions see no pixel
    {"P = 16, zero patches", 2, 2, 4, 7, {1, 1}, 1},       // 12 of 16 positions dead, D = 18
    {"P = 16", 2, 4, 4, 3, {1, 1}},
};

}  // namespace

TEST_CASE(
    "conv r2g2 backward: fused kernel and chunked ops equal the float64 sums, rank-deficient X included") {
  for (const Case& cs : kCases) {
    const std::string case_name = cs.name;
    CAPTURE(case_name);
    Inputs in = make_inputs(cs, 300 + cs.hw);
    if (case_name == "P = 1, one image all zero") {
      NoGrad no_grad;
      auto v = in.cols.to_vector();
      const int64_t per_image = in.cols.numel() / cs.n;
      std::fill(v.begin() + per_image, v.begin() + 2 * per_image, 0.0);
      in.cols = Tensor::from_vector(v, in.cols.shape(), DType::f64).to(DType::f32);
      in.noise = conv_est::solve_eps_star(
          in.cols, in.sigma, Tensor::randn(in.sigma.shape(), 9, 0, DType::f32), R2G2Options{}, nullptr);
    }
    REQUIRE(in.noise.beta.defined());  // P <= D: the m-space form the fused kernel takes
    const ConvR2G2Gradients want = reference_f64(in);
    for (ConvR2G2BackwardForm form : {ConvR2G2BackwardForm::fused, ConvR2G2BackwardForm::chunked}) {
      CAPTURE(static_cast<int>(form));
      const ConvR2G2Gradients got = backward(in, form);
      CHECK(f32_closeness(got.dx, want.dx) <= 1);
      CHECK(f32_closeness(got.dmu, want.dmu) <= 1);
      CHECK(f32_closeness(got.dsigma, want.dsigma) <= 1);
    }
    // Not vacuous: the sigma gradient differs from rt's (eps* is not eps).
    CHECK(max_abs(want.dsigma) > 0);
  }
}

TEST_CASE("conv r2g2 backward: the fused kernel in float64 matches the chunked form to float64 rounding") {
  for (const Case& cs : {kCases[3], kCases[4]}) {
    Inputs in = make_inputs(cs, 41);
    Inputs in64 = in;
    in64.cols = in.cols.to(DType::f64);
    in64.grad = in.grad.to(DType::f64);
    in64.mu = in.mu.to(DType::f64);
    in64.sigma = in.sigma.to(DType::f64);
    in64.noise.beta = in.noise.beta.to(DType::f64);
    const ConvR2G2Gradients a = backward(in64, ConvR2G2BackwardForm::fused);
    const ConvR2G2Gradients b = backward(in64, ConvR2G2BackwardForm::chunked);
    CHECK(closeness(a.dx, b.dx, 1e-12, 1e-12 * max_abs(b.dx)) <= 1);
    CHECK(closeness(a.dmu, b.dmu, 1e-12, 1e-12 * max_abs(b.dmu)) <= 1);
    CHECK(closeness(a.dsigma, b.dsigma, 1e-12, 1e-12 * max_abs(b.dsigma)) <= 1);
  }
}

TEST_CASE("conv r2g2 backward: partial gradients are the full ones, bit for bit") {
  Inputs in = make_inputs(kCases[5], 42);
  const ConvR2G2Gradients full = backward(in, ConvR2G2BackwardForm::fused);
  const ConvR2G2Gradients x_only = backward(in, ConvR2G2BackwardForm::fused, {true, false, false});
  const ConvR2G2Gradients sigma_only = backward(in, ConvR2G2BackwardForm::fused, {false, false, true});
  CHECK(!x_only.dmu.defined());
  CHECK(!x_only.dsigma.defined());
  CHECK(!sigma_only.dx.defined());
  CHECK(closeness(x_only.dx, full.dx, 0, 0) == 0);
  CHECK(closeness(sigma_only.dsigma, full.dsigma, 0, 0) == 0);
}

TEST_CASE("conv r2g2 backward: bad arguments name what is wrong") {
  Inputs in = make_inputs(kCases[0], 43);
  Tensor bad_grad = Tensor::zeros({3, 5, 2}, DType::f32);
  CHECK(error_of([&] {
          conv_est::conv_r2g2_backward(in.cols, bad_grad, in.noise, in.mu, in.sigma, in.geom, {},
                                       ConvR2G2BackwardForm::automatic);
        }).find("grad [3, 5, 2]") != std::string::npos);
  conv_est::ConvEpsStar dense;
  dense.eps_star = conv_est::eps_star_dense(in.noise, in.cols, in.sigma);
  CHECK(error_of([&] {
          conv_est::conv_r2g2_backward(in.cols, in.grad, dense, in.mu, in.sigma, in.geom, {},
                                       ConvR2G2BackwardForm::fused);
        }).find("fused form needs eps* as beta") != std::string::npos);
}
