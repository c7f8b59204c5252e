// Conv estimators (rt, rt_per_example, flipout, r2g2): forward values against their
// definitions, gradients at fixed noise against finite differences (the pathwise
// estimators), and R2-G2's backward against the formulas of estimators/README.md evaluated
// densely in float64 from an explicit eps*.
#include <doctest/doctest.h>

#include <cmath>
#include <string>
#include <vector>

#include "r2g2/core/autograd.h"
#include "r2g2/estimators/conv/conv_estimators.h"
#include "r2g2/estimators/conv/r2g2_conv_solve.h"
#include "test_conv_util.h"

using namespace r2g2;
using r2g2::test::closeness;
using r2g2::test::error_of;
using r2g2::test::gradcheck;
using r2g2::test::uniform;

namespace {

struct Layer {
  Tensor x, mu, sigma;
  int64_t n, c, o, k;
  Conv2dParams p;
};

// sigma in [0.3, 1.2): a problem where the noise matters.
Layer make_layer(int64_t n, int64_t c, int64_t hw, int64_t o, int64_t k, Conv2dParams p, uint64_t seed,
                 double sigma_lo = 0.3, double sigma_hi = 1.2, DType dt = DType::f64) {
  Layer l{uniform({n, c, hw, hw}, seed, -1, 1, dt),
          uniform({o, c, k, k}, seed + 1, -0.5, 0.5, dt),
          uniform({o, c, k, k}, seed + 2, sigma_lo, sigma_hi, dt),
          n,
          c,
          o,
          k,
          p};
  return l;
}

struct Grads {
  Tensor h, x, mu, sigma;
};

using ConvFn = std::function<Tensor(const Tensor&, const Tensor&, const Tensor&, Conv2dParams, Generator&)>;

// Runs `f` on fresh leaves with the generator at (seed, 0) and back-propagates `seed_grad`.
Grads run(const ConvFn& f, const Layer& l, uint64_t seed, const Tensor& seed_grad = {}) {
  Tensor x = l.x.clone().requires_grad_(), mu = l.mu.clone().requires_grad_(),
         sigma = l.sigma.clone().requires_grad_();
  Generator gen(seed);
  Tensor h = f(x, mu, sigma, l.p, gen);
  Tensor g = seed_grad.defined() ? seed_grad : uniform(h.shape(), 77, -1, 1, h.dtype());
  backward(h, g);
  return {h.detach(), x.grad(), mu.grad(), sigma.grad()};
}

ConvFn r2g2_with(R2G2Solver solver, R2G2Diagnostics* diag = nullptr) {
  return
      [solver, diag](const Tensor& x, const Tensor& mu, const Tensor& sigma, Conv2dParams p, Generator& gen) {
        R2G2Options o;
        o.solver = solver;
        return conv_est::r2g2(x, mu, sigma, p, gen, o, diag);
      };
}

// The R2-G2 gradients of estimators/README.md, dense in float64, from eps* of the oracle:
//   dmu_c = Σ_n X_n g_nc, dsigma_c = Σ_n (X_n g_nc) ⊙ eps*_nc,
//   dX_n = Σ_c (mu_c + sigma_c ⊙ eps*_nc) g_ncᵀ, dx = col2im(dX) (im2col's backward).
Grads dense_r2g2(const Layer& l, uint64_t seed, const Tensor& g) {
  NoGrad no_grad;
  const int k = static_cast<int>(l.k);
  Tensor x = l.x.to(DType::f64), mu = l.mu.to(DType::f64), sigma = l.sigma.to(DType::f64);
  Tensor eps = Tensor::randn(l.mu.shape(), seed, 0, l.mu.dtype()).to(DType::f64);  // what the estimator drew
  Tensor cols = im2col(x, k, k, l.p);
  const int64_t N = l.n, O = l.o, D = cols.shape()[1], P = cols.shape()[2];
  Tensor mu2 = reshape(mu, {O, D}), s2 = reshape(sigma, {O, D});
  Tensor es = conv_est::eps_star_projection_f64(cols, s2, reshape(eps, {O, D}));  // [N, O, D]
  Tensor g3 = reshape(g.to(DType::f64), {N, O, P});
  Tensor xg = matmul(g3, cols.transpose(1, 2));  // [N, O, D]
  Grads out;
  out.mu = reshape(sum(xg, {0}), l.mu.shape());
  out.sigma = reshape(sum(mul(xg, es), {0}), l.mu.shape());
  Tensor w_star = add(reshape(mu2, {1, O, D}), mul(reshape(s2, {1, O, D}), es));
  Tensor dcols = matmul(w_star.transpose(1, 2), g3);  // [N, D, P]
  {
    set_grad_enabled(true);
    Tensor xl = x.clone().requires_grad_();
    backward(im2col(xl, k, k, l.p), dcols);
    out.x = xl.grad();
    set_grad_enabled(false);
  }
  return out;
}

}  // namespace

TEST_CASE("conv r2g2: the forward value is rt's for the same noise, bit for bit") {
  for (DType dt : {DType::f64, DType::f32})
    for (Conv2dParams p : {Conv2dParams{1, 0}, Conv2dParams{2, 1}}) {
      Layer l = make_layer(2, 3, 6, 4, 3, p, 5, 0.3, 1.2, dt);
      Grads a = run(conv_est::rt, l, 11), b = run(r2g2_with(R2G2Solver::cg), l, 11);
      CHECK(a.h.shape() == b.h.shape());
      CHECK(a.h.to_vector() == b.h.to_vector());
      // R2-G2 changes only gradients: the mean gradient of mu is rt's exactly (Σ_n X_n g_nc).
      CHECK(closeness(b.mu, a.mu, 1e-6, 1e-6) <= 1);
    }
}

TEST_CASE("conv rt, rt_per_example, flipout: at fixed noise the gradient is the sample's exact gradient") {
  // With the generator reset on every call the estimator is a deterministic function of
  // (x, mu, sigma), and a pathwise estimator must then be its derivative.
  Layer l = make_layer(2, 2, 5, 3, 3, {2, 1}, 8);
  for (const auto& named :
       std::vector<std::pair<std::string, ConvFn>>{{"rt", conv_est::rt},
                                                   {"rt_per_example", conv_est::rt_per_example},
                                                   {"flipout", conv_est::flipout}}) {
    const std::string& name = named.first;
    const ConvFn& f = named.second;
    CAPTURE(name);
    double worst = gradcheck(
        [&, fn = f](const std::vector<Tensor>& in) {
          Generator gen(3);
          return fn(in[0], in[1], in[2], l.p, gen);
        },
        {l.x.clone(), l.mu.clone(), l.sigma.clone()});
    CHECK(worst <= 1);
  }
}

TEST_CASE("conv rt_per_example and flipout: forward values match their definitions") {
  Layer l = make_layer(3, 2, 5, 4, 3, {1, 1}, 12);
  NoGrad no_grad;
  {
    Generator gen(21);
    Tensor h = conv_est::rt_per_example(l.x, l.mu, l.sigma, l.p, gen);
    CHECK(gen.offset == static_cast<uint64_t>(3 * 4 * 2 * 9));
    Tensor eps = Tensor::randn({3, 4, 2, 3, 3}, 21, 0, DType::f64);
    for (int64_t n = 0; n < 3; ++n) {
      Tensor w = add(l.mu, mul(l.sigma, reshape(slice(eps, 0, n, n + 1), {4, 2, 3, 3})));
      Tensor expect = conv2d(slice(l.x, 0, n, n + 1), w, {}, l.p);
      CHECK(closeness(slice(h, 0, n, n + 1), expect, 1e-12, 1e-12) <= 1);
    }
  }
  {
    Generator gen(22);
    Tensor h = conv_est::flipout(l.x, l.mu, l.sigma, l.p, gen);
    // Draw order: E [O, C, kh, kw], then r [N, C], then s [N, O].
    Tensor e = Tensor::randn(l.mu.shape(), 22, 0, DType::f64);
    auto rv = Tensor::randn({3, 2}, 22, 72, DType::f64).to_vector();
    auto sv = Tensor::randn({3, 4}, 22, 78, DType::f64).to_vector();
    for (int64_t n = 0; n < 3; ++n) {
      // diag(s_n) (sigma ⊙ E) diag(r_n): the example's own perturbation.
      std::vector<double> flip(4 * 2 * 9);
      for (int64_t o = 0; o < 4; ++o)
        for (int64_t c = 0; c < 2; ++c)
          for (int64_t i = 0; i < 9; ++i)
            flip[(o * 2 + c) * 9 + i] = (sv[n * 4 + o] < 0 ? -1 : 1) * (rv[n * 2 + c] < 0 ? -1 : 1);
      Tensor w = add(l.mu, mul(mul(l.sigma, e), Tensor::from_vector(flip, l.mu.shape(), DType::f64)));
      Tensor expect = conv2d(slice(l.x, 0, n, n + 1), w, {}, l.p);
      CHECK(closeness(slice(h, 0, n, n + 1), expect, 1e-12, 1e-12) <= 1);
    }
  }
}

TEST_CASE("conv r2g2: gradients equal the float64 formulas from an explicit eps*") {
  struct Case {
    const char* name;
    int64_t n, c, hw, o, k;
    Conv2dParams p;
  };
  const Case cases[] = {
      {"P < D", 2, 3, 5, 4, 3, {1, 0}},          // D = 27, P = 9: P x P solves
      {"P > D", 2, 1, 6, 3, 2, {1, 0}},          // D = 4, P = 25: D x D solves, eps* = eps
      {"P > D, padded", 2, 2, 5, 3, 3, {1, 2}},  // D = 18, P = 49, zero border patches
      {"stride 2", 3, 2, 7, 3, 3, {2, 1}},       // D = 18, P = 16
  };
  for (const auto& cs : cases)
    for (R2G2Solver solver : {R2G2Solver::cg, R2G2Solver::exact}) {
      const std::string case_name = cs.name;
      CAPTURE(case_name);
      CAPTURE(static_cast<int>(solver));
      Layer l = make_layer(cs.n, cs.c, cs.hw, cs.o, cs.k, cs.p, 40);
      R2G2Diagnostics diag;
      Grads got = run(r2g2_with(solver, &diag), l, 9);
      Tensor g = uniform(got.h.shape(), 77, -1, 1, got.h.dtype());
      Grads want = dense_r2g2(l, 9, g);
      CHECK(closeness(got.mu, want.mu, 1e-9, 1e-9) <= 1);
      CHECK(closeness(got.sigma, want.sigma, 1e-6, 1e-7) <= 1);
      CHECK(closeness(got.x, want.x, 1e-6, 1e-7) <= 1);
      CHECK(diag.systems == cs.n * cs.o);
    }
}

TEST_CASE("conv r2g2: float32 gradients follow the float64 formulas") {
  Layer l = make_layer(2, 3, 5, 4, 3, {1, 1}, 41, 0.3, 1.2, DType::f32);
  Grads got = run(r2g2_with(R2G2Solver::cg), l, 4);
  Grads want = dense_r2g2(l, 4, uniform(got.h.shape(), 77, -1, 1, DType::f32));
  CHECK(closeness(got.sigma, want.sigma, 1e-4, 1e-4) <= 1);
  CHECK(closeness(got.x, want.x, 1e-4, 1e-4) <= 1);
}

TEST_CASE("conv r2g2: with sigma tiny the gradients to mu and x are rt's") {
  Layer l = make_layer(2, 3, 5, 4, 3, {1, 1}, 42, 1e-7, 2e-7);
  Grads a = run(conv_est::rt, l, 6), b = run(r2g2_with(R2G2Solver::cg), l, 6);
  CHECK(closeness(b.mu, a.mu, 1e-9, 1e-12) <= 1);
  CHECK(closeness(b.x, a.x, 1e-5, 1e-9) <= 1);
  // The sigma gradients still differ (eps* is not eps when P < D): the check above is not vacuous
  // in the sense that the estimators are really different.
  CHECK(closeness(b.sigma, a.sigma, 1e-3, 1e-6) > 1);
}

TEST_CASE("conv r2g2: full column rank makes it rt") {
  Layer l = make_layer(2, 1, 7, 3, 2, {1, 0}, 43);  // D = 4, P = 36
  R2G2Diagnostics diag;
  Grads a = run(conv_est::rt, l, 2), b = run(r2g2_with(R2G2Solver::cg, &diag), l, 2);
  CHECK(closeness(b.sigma, a.sigma, 1e-8, 1e-10) <= 1);
  CHECK(closeness(b.x, a.x, 1e-8, 1e-10) <= 1);
  CHECK(diag.method.find("identity") != std::string::npos);
}

TEST_CASE("conv r2g2: the solve runs only when a gradient is recorded; partial gradients") {
  Layer l = make_layer(2, 3, 5, 4, 3, {1, 0}, 44);
  R2G2Diagnostics diag;
  R2G2Options o;
  {
    NoGrad no_grad;
    Generator gen(1);
    Tensor h = conv_est::r2g2(l.x, l.mu, l.sigma, l.p, gen, o, &diag);
    CHECK(diag.systems == 0);
    CHECK(gen.offset == static_cast<uint64_t>(4 * 27));  // the draw still happens
  }
  // The first layer of a network: x needs no gradient.
  Tensor mu = l.mu.clone().requires_grad_(), sigma = l.sigma.clone().requires_grad_();
  Generator gen(1);
  Tensor h = conv_est::r2g2(l.x, mu, sigma, l.p, gen, o, &diag);
  CHECK(diag.systems == 8);
  CHECK(diag.max_iterations <= 9);
  backward(sum(h));
  CHECK(mu.grad().defined());
  CHECK(sigma.grad().defined());
  // Frozen weights: only x.
  Tensor x = l.x.clone().requires_grad_();
  Generator gen2(1);
  backward(sum(conv_est::r2g2(x, l.mu, l.sigma, l.p, gen2, o, nullptr)));
  Layer copy = l;
  Grads full = run(r2g2_with(R2G2Solver::cg), copy, 1, Tensor::ones(h.shape(), DType::f64));
  CHECK(closeness(x.grad(), full.x, 1e-12, 1e-12) <= 1);
  CHECK(closeness(mu.grad(), full.mu, 1e-12, 1e-12) <= 1);
  CHECK(closeness(sigma.grad(), full.sigma, 1e-12, 1e-12) <= 1);
}

TEST_CASE("conv estimators: bad shapes name them") {
  Layer l = make_layer(2, 3, 5, 4, 3, {1, 0}, 45);
  Generator gen(0);
  Tensor bad_sigma = Tensor::ones({4, 3, 2, 2}, DType::f64);
  for (const auto& f : std::vector<ConvFn>{conv_est::rt, conv_est::rt_per_example, conv_est::flipout,
                                           r2g2_with(R2G2Solver::cg)}) {
    std::string msg = error_of([&] { f(l.x, l.mu, bad_sigma, l.p, gen); });
    CHECK(msg.find("[4, 3, 2, 2]") != std::string::npos);
    CHECK(msg.find("[4, 3, 3, 3]") != std::string::npos);
    msg = error_of([&] { f(Tensor::ones({2, 2, 5, 5}, DType::f64), l.mu, l.sigma, l.p, gen); });
    CHECK(msg.find("channels") != std::string::npos);
    msg = error_of([&] { f(Tensor::ones({2, 3, 2, 2}, DType::f64), l.mu, l.sigma, l.p, gen); });
    CHECK(msg.find("output size") != std::string::npos);
  }
}
