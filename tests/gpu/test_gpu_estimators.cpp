// CUDA estimators against the CPU for the same noise: every estimator on a Bayesian
// linear layer and on a latent -> linear layer (forward values, every gradient, R2-G2
// diagnostics), the batched CG kernel on singular and large systems, and a Bayesian MLP
// training step. The counter-based generator gives the same normals on both devices.
#include <doctest/doctest.h>

#include "estimators/estimator_test_util.h"
#include "r2g2/estimators/r2g2_latent.h"
#include "gpu_test_util.h"
#include "r2g2/kernels/cpu/r2g2_cg.h"
#include "r2g2/models/bayes_mlp.h"
#if R2G2_WITH_CUDA
#include "r2g2/kernels/cuda/r2g2_cg.h"
#endif

using namespace r2g2;

namespace {

Tensor on(const Tensor& t, Device d, bool leaf = true) {
  if (!t.defined()) return {};
  Tensor c = t.detach().clone().to(d).detach();
  if (leaf) c.requires_grad_(true);
  return c;
}

struct Result {
  std::vector<double> h;
  std::vector<std::vector<double>> grads;
  std::optional<R2G2Diagnostics> diag;
};

Result linear_on(Device d, const std::string& name) {
  auto p0 = test::make_linear_problem(16, 50, 20, 5, DType::f32);
  auto L0 = test::make_quadratic_loss(16, 20, 6, DType::f32);
  test::LinearProblem p{on(p0.x, d), on(p0.mu, d), on(p0.sigma, d), on(p0.bias_mu, d), on(p0.bias_sigma, d)};
  test::QuadraticLoss L{on(L0.c, d, false), on(L0.a, d, false)};
  auto est = make_estimator(name);
  Generator gen(123, 456);
  Result r;
  r.h = test::linear_draw(*est, p, gen, L).to_vector();
  for (const auto& t : p.leaves()) r.grads.push_back(t.grad().to_vector());
  r.diag = est->diagnostics();
  return r;
}

Result latent_on(Device d, const std::string& name, const Tensor& W0, const EstimatorOptions& opt = {}) {
  const int64_t N = 12, D = W0.size(1);
  Tensor mu = on(test::uniform({N, D}, 1, -1, 1, DType::f32), d);
  Tensor sigma = on(test::uniform({N, D}, 2, 0.05, 1.5, DType::f32), d);
  Tensor W = on(W0, d), b = on(test::uniform({W0.size(0)}, 3, -1, 1, DType::f32), d);
  Tensor w = on(test::uniform({N, W0.size(0)}, 4, -1, 1, DType::f32), d, false);
  auto est = make_estimator(name, opt);
  Generator gen(77);
  Tensor h = est->latent_linear(mu, sigma, W, b, gen);
  Tensor loss = sum(mul(square(h), w));
  if (est->needs_surrogate()) {
    Tensor s = est->score_surrogate(loss);
    loss = add(loss, sub(s, s.detach()));
  }
  backward(loss);
  Result r;
  r.h = h.to_vector();
  for (const auto& t : {mu, sigma, W, b}) r.grads.push_back(t.grad().to_vector());
  r.diag = est->diagnostics();
  return r;
}

void compare(const Result& cpu, const Result& gpu, double tol) {
  CHECK(test::rel_to_max(gpu.h, cpu.h) < tol);
  REQUIRE(cpu.grads.size() == gpu.grads.size());
  for (size_t i = 0; i < cpu.grads.size(); ++i) {
    CAPTURE(i);
    CHECK(test::rel_to_max(gpu.grads[i], cpu.grads[i]) < tol);
  }
  CHECK(cpu.diag.has_value() == gpu.diag.has_value());
  if (cpu.diag && gpu.diag) {
    // the solve method; how many systems needed the direct finish may differ at the margin
    auto head = [](const std::string& m) { return m.substr(0, m.find(',')); };
    CHECK(head(cpu.diag->method) == head(gpu.diag->method));
    CHECK(cpu.diag->systems == gpu.diag->systems);
    CHECK(std::abs(cpu.diag->max_iterations - gpu.diag->max_iterations) <= 1);
    CHECK(std::abs(cpu.diag->noise_removed - gpu.diag->noise_removed) < 1e-4);
  }
}

Tensor low_rank(int m, int D, int r, uint64_t seed) {
  NoGrad ng;
  // small integers / 4: exactly representable, so the rank deficiency is exact
  auto U = test::uniform({m, r}, seed, -2.5, 2.5).to_vector(),
       V = test::uniform({r, D}, seed + 1, -2.5, 2.5).to_vector();
  for (auto& u : U) u = std::round(u);
  for (auto& v : V) v = std::round(v);
  return mul(matmul(Tensor::from_vector(U, {m, r}, DType::f32), Tensor::from_vector(V, {r, D}, DType::f32)),
             0.25);
}

}  // namespace

TEST_CASE("CUDA linear estimators match the CPU for the same noise") {
  R2G2_REQUIRE_CUDA();
  for (const char* name :
       {"rt", "rt-per-example", "lrt", "flipout", "score", "r2g2", "r2g2-shared", "r2g2-paper"}) {
    CAPTURE(name);
    // float32 GEMMs in different orders: 1e-4 of the largest entry
    compare(linear_on(Device::cpu(), name), linear_on(Device::cuda(), name), 1e-4);
  }
}

TEST_CASE("CUDA latent estimators match the CPU: identity, D-space, m-space, paper, score") {
  R2G2_REQUIRE_CUDA();
  struct Case {
    const char* what;
    Tensor W;
  } cases[] = {{"full column rank 32 x 8", test::uniform({32, 8}, 10, -1, 1, DType::f32)},
               {"rank 5, 24 x 10 (D-space)", low_rank(24, 10, 5, 11)},
               {"10 x 40 (m-space)", test::uniform({10, 40}, 12, -1, 1, DType::f32)},
               {"rank 20, 200 x 50 (VAE shape)", low_rank(200, 50, 20, 13)}};
  for (const auto& c : cases) {
    for (const char* name : {"rt", "r2g2", "r2g2-paper", "score"}) {
      CAPTURE(c.what);
      CAPTURE(name);
      compare(latent_on(Device::cpu(), name, c.W), latent_on(Device::cuda(), name, c.W), 1e-4);
    }
  }
  EstimatorOptions ex;  // the exact solver copies to the CPU and back
  ex.r2g2.solver = R2G2Solver::exact;
  compare(latent_on(Device::cpu(), "r2g2", cases[1].W, ex), latent_on(Device::cuda(), "r2g2", cases[1].W, ex),
          1e-5);
}

#if R2G2_WITH_CUDA
TEST_CASE("CUDA batched CG kernel: singular K at the rank bound, opt-in shared memory, host fallback") {
  R2G2_REQUIRE_CUDA();
  struct Case {
    int N, m, D, rank;
    bool d_space;
    int cap;
  } cases[] = {{6, 200, 50, 20, false, 50},  // singular 200 x 200 K, m-space, cap min(m, D)
               {6, 200, 50, 20, true, 50},   // the same in D-space
               {5, 30, 64, 30, false, 30},   // m < D, full rank
               {3, 3000, 40, 12, true, 12},  // ~50 KB of shared memory: needs the opt-in
               {2, 20000, 8, 8, true, 8}};   // ~320 KB: beyond any block, solved on the host
  for (const auto& c : cases) {
    CAPTURE(c.m);
    CAPTURE(c.D);
    CAPTURE(c.d_space);
    // Well-conditioned systems (sigma in 0.5..1.5; the full-rank case from a random W), which CG
    // finishes within the rank bound on both devices; see the next case for the others.
    Tensor W = c.rank == std::min(c.m, c.D) && c.m < c.D ? test::uniform({c.m, c.D}, 20, -1, 1, DType::f32)
                                                         : low_rank(c.m, c.D, c.rank, 20);
    Tensor sigma = test::uniform({c.N, c.D}, 21, 0.5, 1.5, DType::f32),
           eps = Tensor::randn({c.N, c.D}, 22, 0);
    kernels::LatentSolve s;
    s.systems = c.N;
    s.m = c.m;
    s.D = c.D;
    s.d_space = c.d_space;
    s.rank_bound = c.cap;
    Tensor want = Tensor::empty({c.N, c.D});
    std::vector<int32_t> it_cpu(c.N);
    std::vector<double> res_cpu(c.N);
    kernels::cpu::r2g2_latent_cg<float>(s, W.data<float>(), sigma.data<float>(), eps.data<float>(),
                                        want.data<float>(), it_cpu.data(), res_cpu.data());
    Device g = Device::cuda();
    Tensor Wg = W.to(g), sg = sigma.to(g), eg = eps.to(g), out = Tensor::empty({c.N, c.D}, DType::f32, g);
    Tensor it = Tensor::empty({c.N}, DType::i32, g), res = Tensor::empty({c.N}, DType::f64, g);
    kernels::cuda::r2g2_latent_cg<float>(s, Wg.data<float>(), sg.data<float>(), eg.data<float>(),
                                         out.data<float>(), it.data<int32_t>(), res.data<double>());
    auto itg = it.to_int_vector();
    auto resg = res.to_vector();
    CHECK(test::rel_to_max(out.to_vector(), want.to_vector()) < 1e-6);
    for (int n = 0; n < c.N; ++n) {
      CHECK(std::abs(itg[n] - it_cpu[n]) <= 1);
      CHECK(resg[n] <= 1e-6);
    }
  }
}
#endif

TEST_CASE("CUDA: systems CG cannot finish within the rank bound are finished directly, as on the CPU") {
  R2G2_REQUIRE_CUDA();
  const int N = 6;
  Tensor W = low_rank(40, 20, 16, 7);
  Tensor sigma = test::uniform({N, 20}, 8, 0.001, 2.0, DType::f32), eps = Tensor::randn({N, 20}, 9, 0);
  R2G2Options ex;
  ex.solver = R2G2Solver::exact;
  LatentProjection want = r2g2_latent_project(sigma, eps, W, ex);
  LatentProjection got =
      r2g2_latent_project(sigma.to(Device::cuda()), eps.to(Device::cuda()), W.to(Device::cuda()), {});
  CHECK(got.direct_systems > 0);
  CHECK(test::rel_to_max(got.eps_star.to_vector(), want.eps_star.to_vector()) < 1e-5);
  CHECK(summarize(got, eps.to(Device::cuda())).max_relative_residual <= 1e-6);
}

TEST_CASE("Bayesian MLP training steps on CUDA follow the CPU (r2g2, then rt by schedule)") {
  R2G2_REQUIRE_CUDA();
  BayesMLPConfig cfg;
  cfg.sizes = {784, 256, 256, 10};
  cfg.schedule = "r2g2:2,rt";
  cfg.adam.lr = 1e-3;
  cfg.rho_init = -3.0;
  BayesMLP cpu(cfg), gpu(cfg);
  gpu.to(Device::cuda());
  Tensor x = test::uniform({32, 784}, 5, 0.0, 1.0, DType::f32);
  Tensor y = test::labels(32, 10, 6);
  Tensor xg = x.to(Device::cuda()), yg = y.to(Device::cuda());
  for (int s = 0; s < 4; ++s) {
    auto a = cpu.step(x, y), b = gpu.step(xg, yg);
    CAPTURE(s);
    CHECK(a.estimator == b.estimator);
    CHECK(b.nll == doctest::Approx(a.nll).epsilon(1e-4));
    CHECK(b.kl == doctest::Approx(a.kl).epsilon(1e-5));
  }
  auto e_cpu = cpu.evaluate(x, y, 3), e_gpu = gpu.evaluate(xg, yg, 3);
  CHECK(e_gpu.test_ll == doctest::Approx(e_cpu.test_ll).epsilon(1e-4));
}
