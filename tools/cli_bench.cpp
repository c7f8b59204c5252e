// `r2g2 bench TARGET`: figures printed, never asserted. `cpu` is here; `kernels`
// (the CUDA kernel lab) and `estimators` live in their own files and are found by
// name in the command registry.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <iostream>
#include <vector>

#include "r2g2/core/autograd.h"
#include "r2g2/core/ops.h"
#include "r2g2/core/optim.h"
#include "r2g2/core/random.h"
#include "r2g2/kernels/cpu/gemm.h"
#include "r2g2/models/mlp.h"
#include "tools/cli.h"

#if R2G2_WITH_BLAS
#include <cblas.h>
#endif

namespace {

using Clock = std::chrono::steady_clock;

// Median seconds of `fn` over repetitions filling about `budget` seconds (at least 3).
double median_seconds(const std::function<void()>& fn, double budget = 0.5) {
  fn();  // warm-up: page in buffers, spin up BLAS threads
  std::vector<double> times;
  auto start = Clock::now();
  while (times.size() < 3 ||
         (std::chrono::duration<double>(Clock::now() - start).count() < budget && times.size() < 200)) {
    auto t0 = Clock::now();
    fn();
    times.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
  }
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

void bench_gemm(int64_t m, int64_t n, int64_t k) {
  std::vector<float> a(m * k), b(k * n), c(m * n);
  for (size_t i = 0; i < a.size(); ++i) a[i] = static_cast<float>((i * 7919 % 1000) / 1000.0 - 0.5);
  for (size_t i = 0; i < b.size(); ++i) b[i] = static_cast<float>((i * 104729 % 1000) / 1000.0 - 0.5);
  double flops = 2.0 * m * n * k;
  double t_hand = median_seconds([&] {
    r2g2::kernels::cpu::gemm_blocked<float>(false, false, m, n, k, 1.f, a.data(), k, b.data(), n, 0.f,
                                            c.data(), n);
  });
  std::printf("  sgemm %4ldx%4ldx%4ld  hand-written blocked: %8.2f GFLOP/s", static_cast<long>(m),
              static_cast<long>(k), static_cast<long>(n), flops / t_hand * 1e-9);
#if R2G2_WITH_BLAS
  double t_blas = median_seconds([&] {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k, 1.f, a.data(), k, b.data(), n, 0.f,
                c.data(), n);
  });
  std::printf("   OpenBLAS: %8.2f GFLOP/s   ratio %.2f\n", flops / t_blas * 1e-9, t_blas / t_hand);
#else
  std::printf("   (built without OpenBLAS: no comparison)\n");
#endif
}

void bench_mlp_step(int64_t batch) {
  using namespace r2g2;
  MLP model({784, 1024, 1024, 10}, 1);
  Adam opt(model.parameters(), {.lr = 1e-3});
  Generator gen(7);
  Tensor x = gen.randn({batch, 784});
  std::vector<int32_t> labels_host(batch);
  for (int64_t i = 0; i < batch; ++i) labels_host[i] = static_cast<int32_t>(i % 10);
  Tensor labels = Tensor::from_vector(labels_host, {batch});
  double t = median_seconds(
      [&] {
        Tensor loss = cross_entropy(model.forward(x), labels);
        opt.zero_grad();
        backward(loss);
        opt.step();
      },
      2.0);
  std::printf(
      "  MLP 784-1024-1024-10 training step (forward, loss, backward, Adam), batch %ld: %.2f ms"
      " (%.1f steps/s)\n",
      static_cast<long>(batch), t * 1e3, 1.0 / t);
}

int run_cpu() {
  std::printf("r2g2 bench cpu  (matmul behind ops: %s)\n",
              r2g2::kernels::cpu::gemm_uses_blas() ? "OpenBLAS" : "hand-written blocked kernel");
  bench_gemm(128, 1024, 784);
  bench_gemm(1024, 1024, 1024);
  bench_mlp_step(128);
  return 0;
}

int run_bench(const std::vector<std::string>& words) {
  std::string target = words.empty() || words[0].rfind("--", 0) == 0 ? "cpu" : words[0];
  if (target == "cpu") {
    r2g2::cli::Args args(std::vector<std::string>(words.begin() + (words.empty() ? 0 : 1), words.end()), {});
    if (!args.positional().empty())
      throw r2g2::cli::UsageError("unexpected argument '" + args.positional().front() + "' after bench cpu");
    return run_cpu();
  }
  auto& reg = r2g2::cli::registry();
  auto it = reg.find("bench-" + target);
  if (it == reg.end()) {
    std::string known = "cpu";
    for (auto& [name, cmd] : reg)
      if (name.rfind("bench-", 0) == 0) known += ", " + name.substr(6);
    throw r2g2::cli::UsageError("unknown target '" + target + "'; known: " + known);
  }
  return it->second.run(std::vector<std::string>(words.begin() + 1, words.end()));
}

}  // namespace

R2G2_COMMAND(
    "bench", "benchmarks: cpu (matmul, MLP step), kernels (kernel lab), estimators, models",
    "usage: r2g2 bench [cpu|kernels|estimators|models] [options]     r2g2 bench TARGET --help\n\n"
    "  cpu         GFLOP/s of the hand-written CPU matmul beside OpenBLAS sgemm at 128x784x1024 and\n"
    "              1024^3, and one training step of the MLP 784-1024-1024-10 at batch 128\n"
    "  kernels     the CUDA kernel lab (validate against the CPU reference, then time)\n"
    "  estimators  steps/s of each gradient estimator on the Bayesian MLP\n"
    "  models      ms/step of the paper's models per estimator (tools/bench-vs-torch.sh adds PyTorch)\n"
    "Build with the release preset for meaningful figures.",
    run_bench);
