// R2-G2 for a Gaussian latent followed by a linear map: eps* against the float64
// projection on every shape class (m < D, m > D, m = D; full rank and rank-deficient),
// the identity case, CG on singular systems, degenerate inputs, diagnostics.
#include <doctest/doctest.h>

#include "estimators/estimator_test_util.h"
#include "r2g2/estimators/r2g2_latent.h"
#include "r2g2/kernels/cpu/r2g2_cg.h"
#include "r2g2/kernels/cpu/r2g2_exact.h"
#include "r2g2/kernels/runtime/hash.h"

using namespace r2g2;

namespace {

// W [m, D] of exact rank r: small integers (U V^T with entries in {-2..2}) times 1/4, so
// float32 holds it exactly and the rank deficiency is exact, not up to rounding.
Tensor low_rank(int m, int D, int r, uint64_t seed, DType dt) {
  std::vector<double> U(m * r), V(r * D), W(m * D, 0.0);
  auto stream = Xorshift64::from_state(seed * 2654435761u + 7);
  auto next = [&]() { return static_cast<double>(static_cast<int>(stream.next() % 5) - 2); };
  for (auto& u : U) u = next();
  for (auto& v : V) v = next();
  for (int i = 0; i < m; ++i)
    for (int d = 0; d < D; ++d)
      for (int k = 0; k < r; ++k) W[i * D + d] += 0.25 * U[i * r + k] * V[k * D + d];
  return Tensor::from_vector(W, {m, D}, dt);
}

struct Case {
  const char* what;
  int N, m, D, rank;  // rank < 0: random (full rank)
  const char* method;
};

// Largest over systems of max_d |a_nd - b_nd| / max_d |b_nd|.
double per_system_rel(const Tensor& a, const Tensor& b) {
  auto va = a.to_vector(), vb = b.to_vector();
  const int64_t N = a.size(0), D = a.size(1);
  double worst = 0;
  for (int64_t n = 0; n < N; ++n) {
    std::vector<double> ra(va.begin() + n * D, va.begin() + (n + 1) * D),
        rb(vb.begin() + n * D, vb.begin() + (n + 1) * D);
    worst = std::max(worst, test::rel_to_max(ra, rb));
  }
  return worst;
}

}  // namespace

TEST_CASE("eps* equals the float64 projection A^T K^+ A eps on every shape class") {
  const Case cases[] = {
      {"m < D, full rank (m-space CG)", 6, 6, 20, -1, "cg (m-space)"},
      {"m < D, rank deficient (m-space CG on singular K)", 5, 12, 30, 5, "cg (m-space)"},
      {"m = D, full rank (identity)", 4, 10, 10, -1, "identity (full column rank)"},
      {"m = D, rank deficient", 4, 10, 10, 6, "cg (m-space)"},
      {"m > D, full rank (identity)", 5, 32, 8, -1, "identity (full column rank)"},
      {"m > D, rank deficient (D-space CG)", 6, 24, 10, 4, "cg (D-space)"},
      {"VAE shape m = 200, D = 50, rank 20", 3, 200, 50, 20, "cg (D-space)"},
  };
  for (DType dt : {DType::f32, DType::f64}) {
    for (const Case& c : cases) {
      CAPTURE(c.what);
      CAPTURE(dtype_name(dt));
      Tensor W = c.rank < 0 ? test::uniform({c.m, c.D}, 3, -1, 1, dt) : low_rank(c.m, c.D, c.rank, 3, dt);
      Tensor sigma = test::uniform({c.N, c.D}, 4, 0.05, 1.5, dt);
      Tensor eps = Tensor::randn({c.N, c.D}, 5, 0, dt);
      R2G2Options cg;
      R2G2Options exact;
      exact.solver = R2G2Solver::exact;
      LatentProjection got = r2g2_latent_project(sigma, eps, W, cg);
      LatentProjection want = r2g2_latent_project(sigma, eps, W, exact);
      CHECK(got.method == c.method);
      CHECK(got.rank == (c.rank < 0 ? std::min(c.m, c.D) : c.rank));
      CHECK(per_system_rel(got.eps_star, want.eps_star) < 1e-5);
      // The oracle is a projection onto the row space of A: same h (A eps* = A eps)...
      NoGrad ng;
      auto A_times = [&](const Tensor& e) { return matmul(mul(sigma, e), W.t()); };
      CHECK(test::rel_to_max(A_times(want.eps_star).to_vector(), A_times(eps).to_vector()) <
            (dt == DType::f64 ? 1e-10 : 1e-5));
      // ...and idempotent: projecting eps* again changes nothing.
      LatentProjection again = r2g2_latent_project(sigma, want.eps_star, W, exact);
      CHECK(per_system_rel(again.eps_star, want.eps_star) < (dt == DType::f64 ? 1e-10 : 1e-5));
      // A rank-deficient projection removes noise; a full-rank one removes none.
      double removed = summarize(got, eps).noise_removed;
      if (c.method == std::string("identity (full column rank)"))
        CHECK(removed == 0.0);
      else
        CHECK(removed > 0.05);
    }
  }
}

TEST_CASE("CG on a singular K stops at the rank and does not drift (m = 200, D = 50, rank 20, float32)") {
  const int N = 4, m = 200, D = 50;
  Tensor W = low_rank(m, D, 20, 9, DType::f32);
  Tensor sigma = test::uniform({N, D}, 10, 0.05, 1.5, DType::f32);
  Tensor eps = Tensor::randn({N, D}, 11, 0, DType::f32);
  Tensor want = Tensor::empty({N, D}, DType::f32), got = Tensor::empty({N, D}, DType::f32);
  kernels::cpu::r2g2_latent_exact<float>(N, m, D, W.data<float>(), sigma.data<float>(), eps.data<float>(),
                                         want.data<float>());
  // m-space on purpose (the singular 200 x 200 K), capped at the rank bound min(m, D) = 50,
  // not at the detected rank 20: the relative residual must end it near 20.
  kernels::LatentSolve s;
  s.systems = N;
  s.m = m;
  s.D = D;
  s.d_space = false;
  s.rank_bound = 50;
  std::vector<int32_t> iters(N);
  std::vector<double> res(N);
  kernels::cpu::r2g2_latent_cg<float>(s, W.data<float>(), sigma.data<float>(), eps.data<float>(),
                                      got.data<float>(), iters.data(), res.data());
  CHECK(per_system_rel(got, want) < 1e-5);
  for (int n = 0; n < N; ++n) {
    CHECK(iters[n] <= 21);
    CHECK(res[n] <= 1e-6);
  }
  // The same through the D-space form.
  s.d_space = true;
  kernels::cpu::r2g2_latent_cg<float>(s, W.data<float>(), sigma.data<float>(), eps.data<float>(),
                                      got.data<float>(), iters.data(), res.data());
  CHECK(per_system_rel(got, want) < 1e-5);
  for (int n = 0; n < N; ++n) CHECK(iters[n] <= 21);
}

TEST_CASE("the rank-bound cap is honoured and a truncated solve is reported by its residual") {
  Tensor W = test::uniform({30, 40}, 1, -1, 1, DType::f64);
  Tensor sigma = test::uniform({2, 40}, 2, 0.01, 2.0, DType::f64),
         eps = Tensor::randn({2, 40}, 3, 0, DType::f64);
  kernels::LatentSolve s;
  s.systems = 2;
  s.m = 30;
  s.D = 40;
  s.rank_bound = 3;
  std::vector<int32_t> it(2);
  std::vector<double> res(2);
  Tensor out = Tensor::empty({2, 40}, DType::f64);
  kernels::cpu::r2g2_latent_cg<double>(s, W.data<double>(), sigma.data<double>(), eps.data<double>(),
                                       out.data<double>(), it.data(), res.data());
  CHECK(it[0] == 3);
  CHECK(res[0] > 1e-3);  // far from converged after 3 of up to 30 iterations
}

TEST_CASE("degenerate latents: sigma = 0, eps = 0, W = 0 give eps* = 0 and finite gradients") {
  const int N = 3, m = 6, D = 9;
  Tensor W = test::uniform({m, D}, 1, -1, 1, DType::f32);
  Tensor sigma = test::uniform({N, D}, 2, 0.1, 1.0, DType::f32),
         eps = Tensor::randn({N, D}, 3, 0, DType::f32);
  {
    NoGrad ng;
    sigma.slice(0, 0, 1).fill_(0.0);  // example 0: no noise at all, K = 0
    eps.slice(0, 1, 2).fill_(0.0);    // example 1: rhs = 0
  }
  for (R2G2Solver solver : {R2G2Solver::cg, R2G2Solver::exact, R2G2Solver::paper}) {
    R2G2Options o;
    o.solver = solver;
    LatentProjection p = r2g2_latent_project(sigma, eps, W, o);
    auto v = p.eps_star.to_vector();
    for (double e : v) CHECK(std::isfinite(e));
    for (int d = 0; d < 2 * D; ++d) CHECK(v[d] == 0.0);
  }
  Tensor Wz = Tensor::zeros({m, D});
  LatentProjection pz = r2g2_latent_project(sigma, eps, Wz, {});
  CHECK(pz.rank == 0);
  for (double e : pz.eps_star.to_vector()) CHECK(e == 0.0);
  // Full column rank but one sigma exactly 0: that coordinate of eps is independent of h.
  Tensor Wt = test::uniform({20, 4}, 5, -1, 1, DType::f32),
         st = test::uniform({1, 4}, 6, 0.5, 1.0, DType::f32);
  Tensor et = Tensor::randn({1, 4}, 7, 0, DType::f32);
  {
    NoGrad ng;
    st.slice(1, 2, 3).fill_(0.0);
  }
  auto es = r2g2_latent_project(st, et, Wt, {}).eps_star.to_vector();
  auto ev = et.to_vector();
  CHECK(es[2] == 0.0);
  CHECK(es[0] == ev[0]);
  // and through the estimator: finite gradients everywhere
  Tensor mu = test::uniform({N, D}, 8, -1, 1, DType::f32).requires_grad_(true);
  Tensor sl = sigma.clone().detach().requires_grad_(true);
  Tensor Wl = W.clone().detach().requires_grad_(true);
  Generator gen(2);
  Tensor h = make_estimator("r2g2")->latent_linear(mu, sl, Wl, Tensor(), gen);
  backward(sum(square(h)));
  for (const auto& t : {mu.grad(), sl.grad(), Wl.grad()})
    for (double v : t.to_vector()) CHECK(std::isfinite(v));
}

TEST_CASE("full column rank (latent 8 -> linear 32): r2g2 equals rt exactly") {
  Tensor W0 = test::uniform({32, 8}, 1, -1, 1, DType::f32), b0 = test::uniform({32}, 2, -1, 1, DType::f32);
  Tensor mu0 = test::uniform({5, 8}, 3, -1, 1, DType::f32),
         s0 = test::uniform({5, 8}, 4, 0.1, 1.0, DType::f32);
  Tensor wgt = test::uniform({5, 32}, 5, -1, 1, DType::f32);
  std::vector<std::vector<double>> grads[2];
  std::vector<double> hs[2];
  const char* names[2] = {"rt", "r2g2"};
  std::unique_ptr<Estimator> keep;
  for (int k = 0; k < 2; ++k) {
    Tensor mu = mu0.clone().detach().requires_grad_(true), s = s0.clone().detach().requires_grad_(true);
    Tensor W = W0.clone().detach().requires_grad_(true), b = b0.clone().detach().requires_grad_(true);
    auto est = make_estimator(names[k]);
    Generator gen(17);
    Tensor h = est->latent_linear(mu, s, W, b, gen);
    hs[k] = h.to_vector();
    backward(sum(mul(square(h), wgt)));
    for (const auto& t : {mu, s, W, b}) grads[k].push_back(t.grad().to_vector());
    if (k == 1) keep = std::move(est);
  }
  CHECK(hs[0] == hs[1]);  // the forward value is rt's for the same noise
  for (int i = 0; i < 4; ++i) CHECK(grads[0][i] == grads[1][i]);
  auto d = keep->diagnostics();
  REQUIRE(d.has_value());
  CHECK(d->method == "identity (full column rank)");
  CHECK(d->noise_removed == 0.0);
  CHECK(d->systems == 5);
}

TEST_CASE("rank-deficient latent: r2g2 changes the gradient, keeps the forward, fills diagnostics") {
  Tensor W = low_rank(16, 8, 3, 4, DType::f64).requires_grad_(true);
  Tensor mu = test::uniform({4, 8}, 1).requires_grad_(true),
         s = test::uniform({4, 8}, 2, 0.2, 1.0).requires_grad_(true);
  Generator g1(5), g2(5);
  Tensor h_rt = make_estimator("rt")->latent_linear(mu, s, W, Tensor(), g1);
  auto est = make_estimator("r2g2");
  Tensor h = est->latent_linear(mu, s, W, Tensor(), g2);
  CHECK(h.to_vector() == h_rt.to_vector());
  backward(sum(square(h)));
  auto d = est->diagnostics();
  REQUIRE(d.has_value());
  CHECK(d->method == "cg (D-space)");
  CHECK(d->max_iterations >= 1);
  CHECK(d->max_iterations <= 3);
  CHECK(d->max_relative_residual <= 1e-6);
  CHECK(d->noise_removed > 0.3);  // rank 3 of 8: about 5/8 of the noise is removed
  // dsigma = (g W) . eps*: check against the exact projection of the same eps
  Tensor eps = Tensor::randn({4, 8}, 5, 0, DType::f64);
  R2G2Options ex;
  ex.solver = R2G2Solver::exact;
  NoGrad ng;
  Tensor es = r2g2_latent_project(s, eps, W, ex).eps_star;
  Tensor want = mul(matmul(mul(h, 2.0), W), es);
  CHECK(test::rel_to_max(s.grad().to_vector(), want.to_vector()) < 1e-9);
}

TEST_CASE("exact and cg solvers agree through the estimator, paper differs") {
  Tensor W = test::uniform({10, 25}, 1, -1, 1, DType::f64);
  Tensor mu = test::uniform({3, 25}, 2), s = test::uniform({3, 25}, 3, 0.1, 1.0);
  std::vector<double> g[3];
  int k = 0;
  for (R2G2Solver solver : {R2G2Solver::cg, R2G2Solver::exact, R2G2Solver::paper}) {
    EstimatorOptions o;
    o.r2g2.solver = solver;
    o.r2g2.max_iters = 2;  // paper: only 2 of up to 10 iterations
    auto est = make_estimator("r2g2", o);
    Tensor sl = s.clone().detach().requires_grad_(true), ml = mu.clone().detach().requires_grad_(true);
    Generator gen(3);
    backward(sum(square(est->latent_linear(ml, sl, W, Tensor(), gen))));
    g[k++] = sl.grad().to_vector();
  }
  CHECK(test::rel_to_max(g[0], g[1]) < 1e-8);
  CHECK(test::rel_to_max(g[2], g[1]) > 1e-3);
}

TEST_CASE("pivoted Cholesky: P^T A P = L L^T and the rank of exactly low-rank matrices") {
  for (int r : {2, 5, 8}) {
    CAPTURE(r);
    Tensor B = low_rank(8, 12, r, 31, DType::f64);  // 8 x 12 of rank r
    NoGrad ng;
    auto a = matmul(B, B.t()).to_vector();  // 8 x 8 PSD of rank r
    auto a0 = a;
    std::vector<int> perm(8);
    const int rank = kernels::cpu::pivoted_cholesky(a.data(), 8, perm.data(), 1e-12);
    CHECK(rank == r);
    double worst = 0, scale = 0;
    for (double v : a0) scale = std::max(scale, std::abs(v));
    for (int i = 0; i < 8; ++i)
      for (int j = 0; j < 8; ++j) {
        double llt = 0;
        for (int c = 0; c < std::min({i, j, rank - 1}) + 1; ++c) llt += a[i * 8 + c] * a[j * 8 + c];
        worst = std::max(worst, std::abs(llt - a0[perm[i] * 8 + perm[j]]));
      }
    CHECK(worst < 1e-12 * scale);
  }
}

TEST_CASE("direct float64 solve equals the projection oracle in both spaces, incl. rank-deficient systems") {
  struct Case {
    int m, D, rank;
    bool d_space;
  } cases[] = {
      {6, 20, -1, false}, {12, 30, 5, false}, {24, 10, 4, true}, {200, 50, 20, true}, {10, 10, 6, false}};
  for (const auto& c : cases) {
    CAPTURE(c.m);
    CAPTURE(c.D);
    const int N = 4;
    Tensor W = c.rank < 0 ? test::uniform({c.m, c.D}, 3, -1, 1, DType::f64)
                          : low_rank(c.m, c.D, c.rank, 3, DType::f64);
    Tensor sigma = test::uniform({N, c.D}, 4, 0.001, 2.0), eps = Tensor::randn({N, c.D}, 5, 0, DType::f64);
    Tensor want = Tensor::empty({N, c.D}, DType::f64), got = Tensor::empty({N, c.D}, DType::f64);
    kernels::cpu::r2g2_latent_exact<double>(N, c.m, c.D, W.data<double>(), sigma.data<double>(),
                                            eps.data<double>(), want.data<double>());
    kernels::LatentSolve s;
    s.systems = N;
    s.m = c.m;
    s.D = c.D;
    s.d_space = c.d_space;
    std::vector<double> res(N);
    kernels::cpu::r2g2_latent_direct<double>(s, W.data<double>(), sigma.data<double>(), eps.data<double>(),
                                             got.data<double>(), nullptr, 0, res.data());
    CHECK(per_system_rel(got, want) < 1e-7);
    for (double r : res) CHECK(r < 1e-8);
  }
}

TEST_CASE("ill-conditioned systems CG cannot finish within the rank bound are finished directly") {
  // sigma over 0.001..2 makes K badly conditioned: in finite precision CG needs more than
  // rank(K) iterations, and stopping at the rank bound would leave a truncated, biased eps*.
  struct Case {
    int m, D, rank;
    const char* space;
  } cases[] = {{30, 64, -1, "m-space"}, {40, 20, 16, "D-space"}};
  for (const auto& c : cases) {
    CAPTURE(std::string(c.space));
    const int N = 6;
    Tensor W = c.rank < 0 ? test::uniform({c.m, c.D}, 7, -1, 1, DType::f32)
                          : low_rank(c.m, c.D, c.rank, 7, DType::f32);
    Tensor sigma = test::uniform({N, c.D}, 8, 0.001, 2.0, DType::f32),
           eps = Tensor::randn({N, c.D}, 9, 0, DType::f32);
    // Plain CG at the cap: not converged for at least one system.
    kernels::LatentSolve s;
    s.systems = N;
    s.m = c.m;
    s.D = c.D;
    s.d_space = std::string(c.space) == "D-space";
    s.rank_bound = c.rank < 0 ? std::min(c.m, c.D) : c.rank;
    std::vector<int32_t> it(N);
    std::vector<double> res(N);
    Tensor raw = Tensor::empty({N, c.D});
    kernels::cpu::r2g2_latent_cg<float>(s, W.data<float>(), sigma.data<float>(), eps.data<float>(),
                                        raw.data<float>(), it.data(), res.data());
    CHECK(*std::max_element(res.begin(), res.end()) > 1e-6);
    // Through the projection: finished directly, equal to the oracle, residual below tol.
    R2G2Options ex;
    ex.solver = R2G2Solver::exact;
    LatentProjection got = r2g2_latent_project(sigma, eps, W, {});
    LatentProjection want = r2g2_latent_project(sigma, eps, W, ex);
    CHECK(got.direct_systems > 0);
    CHECK(got.method.find("finished by a direct solve") != std::string::npos);
    CHECK(per_system_rel(got.eps_star, want.eps_star) < 1e-5);
    CHECK(per_system_rel(raw, want.eps_star) > 1e-5);  // what plain CG at the cap would have given
    R2G2Diagnostics d = summarize(got, eps);
    CHECK(d.max_relative_residual <= 1e-6);
    CHECK(d.max_iterations <= s.rank_bound);
  }
}
