// Integration: a deterministic MLP 784-1024-1024-10 (ReLU, cross-entropy, Adam) trained
// for 20 steps from the same initial weights and data on the GPU and on the CPU, written
// with the public ops only. The losses must agree to 1e-4 relative at every step.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <vector>

#include "r2g2/core/optim.h"
#include "gpu_test_util.h"

using namespace r2g2;

namespace {

struct Mlp {
  std::vector<Tensor> params;  // w1, b1, w2, b2, w3, b3

  // He-style initial weights from the shared generator, so both devices start equal.
  static Mlp init(uint64_t seed) {
    Mlp m;
    Generator gen(seed);
    const int64_t sizes[] = {784, 1024, 1024, 10};
    for (int l = 0; l < 3; ++l) {
      Tensor w = mul(gen.randn({sizes[l], sizes[l + 1]}), std::sqrt(2.0 / static_cast<double>(sizes[l])));
      Tensor b = mul(gen.randn({sizes[l + 1]}), 0.01);
      m.params.push_back(w);
      m.params.push_back(b);
    }
    return m;
  }
  // A copy on `d` (a fresh one on the CPU too, where to() would return the same storage
  // and the CPU run would train the initial weights in place).
  Mlp to(Device d) const {
    Mlp m;
    for (const Tensor& p : params) m.params.push_back(p.clone().to(d).detach());
    for (Tensor& p : m.params) p.requires_grad_(true);
    return m;
  }
  Tensor forward(const Tensor& x) const {
    Tensor h = relu(add(matmul(x, params[0]), params[1]));
    h = relu(add(matmul(h, params[2]), params[3]));
    return add(matmul(h, params[4]), params[5]);
  }
};

std::vector<double> train(const Mlp& init, const Tensor& x_cpu, const Tensor& y_cpu, Device d, int steps) {
  Mlp m = init.to(d);
  Tensor x = x_cpu.to(d), y = y_cpu.to(d);
  Adam opt(m.params, AdamOptions{.lr = 1e-4});
  std::vector<double> losses;
  for (int s = 0; s < steps; ++s) {
    opt.zero_grad();
    Tensor loss = cross_entropy(m.forward(x), y);
    backward(loss);
    opt.step();
    losses.push_back(loss.item());
  }
  return losses;
}

}  // namespace

TEST_CASE("slow: MLP 784-1024-1024-10 trains the same on GPU and CPU") {
  R2G2_REQUIRE_CUDA();
  const int steps = 20;
  const int64_t batch = 256;
  Mlp init = Mlp::init(2024);
  Tensor x = Tensor::randn({batch, 784}, 77, 0);
  Tensor y = r2g2::test::labels(batch, 10, 3);
  auto cpu = train(init, x, y, Device::cpu(), steps);
  auto gpu = train(init, x, y, Device::cuda(), steps);
  REQUIRE(cpu.size() == gpu.size());
  for (int s = 0; s < steps; ++s) {
    char line[128];
    std::snprintf(line, sizeof line, "step %2d: cpu %.9f gpu %.9f relative difference %.2e", s, cpu[s],
                  gpu[s], std::abs(gpu[s] - cpu[s]) / std::abs(cpu[s]));
    MESSAGE(line);
    CHECK(std::isfinite(gpu[s]));
    CHECK(std::abs(gpu[s] - cpu[s]) <= 1e-4 * std::abs(cpu[s]));
  }
  // It actually trained (so the comparison above is about a moving target).
  CHECK(cpu.back() < 0.8 * cpu.front());
}
