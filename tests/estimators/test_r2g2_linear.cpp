// R2-G2 on a Bayesian linear layer: the closed form against an explicit eps* oracle and
// the generic projection, equality with LRT (Theorem 4.3), forward equalities, and
// degenerate rows.
#include <doctest/doctest.h>

#include "estimators/estimator_test_util.h"
#include "r2g2/kernels/cpu/r2g2_exact.h"
#include "r2g2/layers/bayes_linear.h"

using namespace r2g2;

namespace {

struct Grads {
  Tensor h;
  std::vector<double> x, mu, sigma, bmu, bsigma;
};

Grads run(const std::string& name, const test::LinearProblem& p, const test::QuadraticLoss& loss,
          uint64_t seed) {
  auto est = make_estimator(name);
  Generator gen(seed);
  Grads g;
  g.h = test::linear_draw(*est, p, gen, loss);
  g.x = p.x.grad().to_vector();
  g.mu = p.mu.grad().to_vector();
  g.sigma = p.sigma.grad().to_vector();
  if (p.bias_mu.defined()) {
    g.bmu = p.bias_mu.grad().to_vector();
    g.bsigma = p.bias_sigma.grad().to_vector();
  }
  return g;
}

// RT's gradient formulas with the per-example noise eps*_n (estimators/README.md):
// dmu = g^T x, dsigma_ij = sum_n g_ni x_nj eps*_nij, dx_nj = sum_i g_ni (mu_ij + sigma_ij eps*_nij),
// bias: the column of ones with noise eps*_b.
Grads rt_formula_with(const test::LinearProblem& p, const std::vector<double>& g,
                      const std::vector<double>& es, const std::vector<double>& es_b, int64_t N, int64_t out,
                      int64_t in) {
  auto x = p.x.to_vector(), mu = p.mu.to_vector(), s = p.sigma.to_vector();
  Grads r;
  r.x.assign(N * in, 0.0);
  r.mu.assign(out * in, 0.0);
  r.sigma.assign(out * in, 0.0);
  r.bmu.assign(out, 0.0);
  r.bsigma.assign(out, 0.0);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t i = 0; i < out; ++i) {
      const double gi = g[n * out + i];
      for (int64_t j = 0; j < in; ++j) {
        const double e = es[(n * out + i) * in + j];
        r.mu[i * in + j] += gi * x[n * in + j];
        r.sigma[i * in + j] += gi * x[n * in + j] * e;
        r.x[n * in + j] += gi * (mu[i * in + j] + s[i * in + j] * e);
      }
      r.bmu[i] += gi;
      r.bsigma[i] += gi * es_b[n * out + i];
    }
  return r;
}

std::vector<double> dloss_dh(const test::QuadraticLoss& loss, const Tensor& h) {
  NoGrad ng;
  return add(mul(h, loss.c), loss.a).to_vector();
}

}  // namespace

TEST_CASE("r2g2 (LRT-style sampling) equals the RT formula with the closed-form eps*") {
  const int64_t N = 4, in = 6, out = 3;
  auto p = test::make_linear_problem(N, in, out, 31);
  auto loss = test::make_quadratic_loss(N, out, 32);
  Grads got = run("r2g2", p, loss, 5);
  // eps*_nij = sigma_ij x_nj r_ni / v_ni from the observed h, in float64.
  auto h = got.h.to_vector(), x = p.x.to_vector(), mu = p.mu.to_vector(), s = p.sigma.to_vector();
  auto bm = p.bias_mu.to_vector(), bs = p.bias_sigma.to_vector();
  std::vector<double> es(N * out * in), es_b(N * out);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t i = 0; i < out; ++i) {
      double mean = bm[i], v = bs[i] * bs[i];
      for (int64_t j = 0; j < in; ++j) {
        mean += mu[i * in + j] * x[n * in + j];
        v += s[i * in + j] * s[i * in + j] * x[n * in + j] * x[n * in + j];
      }
      const double r = h[n * out + i] - mean;
      for (int64_t j = 0; j < in; ++j) es[(n * out + i) * in + j] = s[i * in + j] * x[n * in + j] * r / v;
      es_b[n * out + i] = bs[i] * r / v;
    }
  Grads want = rt_formula_with(p, dloss_dh(loss, got.h), es, es_b, N, out, in);
  CHECK(test::rel_to_max(got.mu, want.mu) < 1e-10);
  CHECK(test::rel_to_max(got.sigma, want.sigma) < 1e-10);
  CHECK(test::rel_to_max(got.x, want.x) < 1e-10);
  CHECK(test::rel_to_max(got.bmu, want.bmu) < 1e-10);
  CHECK(test::rel_to_max(got.bsigma, want.bsigma) < 1e-10);
}

TEST_CASE("r2g2-shared equals the RT formula with the generic float64 projection of the shared eps") {
  const int64_t N = 3, in = 5, out = 4, D = in + 1;
  auto p = test::make_linear_problem(N, in, out, 41);
  auto loss = test::make_quadratic_loss(N, out, 42);
  const uint64_t seed = 8;
  Grads got = run("r2g2-shared", p, loss, seed);
  // The shared draw: E [out, in], then eb [out] (the layout rt uses).
  auto E = Tensor::randn({out, in}, seed, 0, DType::f64).to_vector();
  auto eb = Tensor::randn({out}, seed, out * in, DType::f64).to_vector();
  auto x = p.x.to_vector(), s = p.sigma.to_vector(), bs = p.bias_sigma.to_vector();
  // One system per (n, i): L = [x_n, 1] (1 x D), sigma = [sigma_i, bsigma_i], eps = [E_i, eb_i].
  std::vector<double> es(N * out * in), es_b(N * out);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t i = 0; i < out; ++i) {
      std::vector<double> L(D, 1.0), sg(D), e(D), star(D);
      for (int64_t j = 0; j < in; ++j) {
        L[j] = x[n * in + j];
        sg[j] = s[i * in + j];
        e[j] = E[i * in + j];
      }
      sg[in] = bs[i];
      e[in] = eb[i];
      kernels::cpu::r2g2_latent_exact<double>(1, 1, D, L.data(), sg.data(), e.data(), star.data());
      for (int64_t j = 0; j < in; ++j) es[(n * out + i) * in + j] = star[j];
      es_b[n * out + i] = star[in];
    }
  Grads want = rt_formula_with(p, dloss_dh(loss, got.h), es, es_b, N, out, in);
  CHECK(test::rel_to_max(got.mu, want.mu) < 1e-10);
  CHECK(test::rel_to_max(got.sigma, want.sigma) < 1e-10);
  CHECK(test::rel_to_max(got.x, want.x) < 1e-10);
  CHECK(test::rel_to_max(got.bsigma, want.bsigma) < 1e-10);
  // and the forward value is rt's, bit for bit, for the same noise
  Grads rt = run("rt", p, loss, seed);
  CHECK(rt.h.to_vector() == got.h.to_vector());
}

TEST_CASE("r2g2 equals lrt on a BayesLinear for the same pre-activations: h and every gradient") {
  for (DType dt : {DType::f32, DType::f64}) {
    CAPTURE(dtype_name(dt));
    BayesLinearOptions o;
    o.seed = 3;
    o.rho_init = -2.0;
    o.rho_init_std = 0.5;
    o.dtype = dt;
    BayesLinear a(20, 7, o), b(20, 7, o);
    a.set_estimator("lrt");
    b.set_estimator("r2g2");
    Tensor x = test::uniform({9, 20}, 5, -1.0, 1.0, dt);
    {
      // an all-zero input row: v = bias variance only, still finite
      NoGrad ng;
      x.slice(0, 2, 3).fill_(0.0);
    }
    Tensor xa = x.clone().detach().requires_grad_(true), xb = x.clone().detach().requires_grad_(true);
    Tensor w = test::uniform({9, 7}, 6, -1.0, 1.0, dt);
    Generator ga(99), gb(99);
    Tensor ha = a.forward(xa, ga), hb = b.forward(xb, gb);
    CHECK(test::rel_to_max(ha.to_vector(), hb.to_vector()) < 1e-6);
    backward(sum(mul(square(ha), w)));
    backward(sum(mul(square(hb), w)));
    const double tol = 1e-5;
    CHECK(test::rel_to_max(b.mu.grad().to_vector(), a.mu.grad().to_vector()) < tol);
    CHECK(test::rel_to_max(b.rho.grad().to_vector(), a.rho.grad().to_vector()) < tol);
    CHECK(test::rel_to_max(b.bias_mu.grad().to_vector(), a.bias_mu.grad().to_vector()) < tol);
    CHECK(test::rel_to_max(b.bias_rho.grad().to_vector(), a.bias_rho.grad().to_vector()) < tol);
    CHECK(test::rel_to_max(xb.grad().to_vector(), xa.grad().to_vector()) < tol);
  }
}

TEST_CASE("degenerate rows: v = 0 or sigma = 0 give eps* = 0 and finite gradients") {
  for (const char* name : {"r2g2", "r2g2-shared", "r2g2-paper", "lrt"}) {
    CAPTURE(name);
    auto p = test::make_linear_problem(3, 4, 3, 51, DType::f32, /*bias=*/false);
    {
      NoGrad ng;
      p.x.slice(0, 0, 1).fill_(0.0);      // example 0: all-zero input, v = 0 for every unit
      p.sigma.slice(0, 1, 2).fill_(0.0);  // unit 1: sigma = 0, v = 0 for every example
    }
    auto loss = test::make_quadratic_loss(3, 3, 52, DType::f32);
    auto est = make_estimator(name);
    Generator gen(4);
    Tensor h = test::linear_draw(*est, p, gen, loss);
    for (const auto& t : {h, p.x.grad(), p.mu.grad(), p.sigma.grad()})
      for (double v : t.to_vector()) CHECK(std::isfinite(v));
    // unit 1 has sigma = 0: no noise, so its sigma gradient (sigma . ...) is exactly 0
    auto gs = p.sigma.grad().to_vector();
    for (int j = 0; j < 4; ++j) CHECK(gs[1 * 4 + j] == 0.0);
    // example 0 (x = 0, v = 0): h_0 = 0, g_0 = a_0 and eps*_0 = 0, so dx_0 = a_0 mu exactly
    NoGrad ng;
    Tensor want = matmul(loss.a.slice(0, 0, 1), p.mu);
    CHECK(test::closeness(p.x.grad().slice(0, 0, 1), want, 1e-6, 1e-6) <= 1.0);
  }
}

TEST_CASE("r2g2 on linear reports closed-form diagnostics") {
  auto p = test::make_linear_problem(5, 8, 4, 61);
  auto loss = test::make_quadratic_loss(5, 4, 62);
  for (const char* name : {"r2g2", "r2g2-shared"}) {
    auto est = make_estimator(name);
    CHECK_FALSE(est->diagnostics().has_value());
    Generator gen(1);
    test::linear_draw(*est, p, gen, loss);
    auto d = est->diagnostics();
    REQUIRE(d.has_value());
    CHECK(d->systems == 5 * 4);
    CHECK(d->max_iterations == 0);
    CHECK(d->method.find("closed form") != std::string::npos);
    // one noise number survives per system out of D = 9: about 8/9 removed
    CHECK(d->noise_removed > 0.6);
    CHECK(d->noise_removed < 1.0);
  }
}
