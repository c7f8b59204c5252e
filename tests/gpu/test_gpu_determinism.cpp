// Determinism: reductions, losses and the gather backward give the same bits on every run
// (no float atomics anywhere in them), and the gather backward adds repeated rows in the
// CPU's order, so it matches the CPU bit for bit.
#include <doctest/doctest.h>

#include <vector>

#include "gpu_test_util.h"

using namespace r2g2;
using r2g2::test::same_values;
using r2g2::test::uniform;

TEST_CASE("determinism: reductions are bit-identical on two runs") {
  R2G2_REQUIRE_CUDA();
  const Device cuda = Device::cuda();
  const int64_t big = r2g2::test::under_sanitizer() ? 50021 : 3000017;
  Tensor v = uniform({big}, 1, -1, 1, DType::f32).to(cuda);
  Tensor rows = uniform({64, 20011}, 2, -1, 1, DType::f32).to(cuda);
  Tensor cols = uniform({20011, 5}, 3, -1, 1, DType::f32).to(cuda);
  Tensor logits = uniform({512, 1000}, 4, -3, 3, DType::f32).to(cuda);
  Tensor y = r2g2::test::labels(512, 1000, 8, cuda);
  Tensor t = uniform({big}, 5, 0, 1, DType::f32).to(cuda);
  auto run = [&] {
    return std::vector<Tensor>{sum(v),
                               sum(rows, {1}),
                               sum(cols, {0}),
                               mean(v),
                               log_softmax(logits),
                               cross_entropy(logits, y),
                               binary_cross_entropy_with_logits(v, t),
                               argmax(rows, 1)};
  };
  auto first = run(), second = run();
  for (size_t i = 0; i < first.size(); ++i) {
    CAPTURE(i);
    CHECK(same_values(first[i], second[i]));
  }
}

TEST_CASE("determinism: gradients of reductions and losses are bit-identical on two runs") {
  R2G2_REQUIRE_CUDA();
  const Device cuda = Device::cuda();
  auto grads = [&] {
    Tensor x = uniform({300, 1000}, 6, -2, 2, DType::f32).to(cuda);
    x.requires_grad_(true);
    Tensor loss = add(cross_entropy(x, r2g2::test::labels(300, 1000, 9, cuda)), mean(square(sum(x, {0}))));
    backward(loss);
    return std::vector<Tensor>{loss, x.grad()};
  };
  auto a = grads(), b = grads();
  CHECK(same_values(a[0], b[0]));
  CHECK(same_values(a[1], b[1]));
}

TEST_CASE("determinism: gather backward adds repeated rows in order, matching the CPU bit for bit") {
  R2G2_REQUIRE_CUDA();
  // 20000 picks of 7 rows: each row's gradient is a sum of ~2900 float terms whose value
  // depends on the order of addition.
  const int64_t rows = 7, picks = 20000, width = 33;
  Tensor index_cpu = r2g2::test::labels(picks, rows, 21);
  Tensor x_cpu = uniform({rows, width}, 7, -1, 1, DType::f32);
  Tensor gy_cpu = uniform({picks, width}, 8, -1, 1, DType::f32);
  auto grad_on = [&](Device d) {
    Tensor x = x_cpu.to(d).detach();  // on the CPU, to() returns x_cpu itself: keep it a plain leaf
    x.requires_grad_(true);
    Tensor y = gather_rows(x, index_cpu.to(d));
    backward(y, gy_cpu.to(d));
    return x.grad();
  };
  Tensor g_cpu = grad_on(Device::cpu());
  Tensor g1 = grad_on(Device::cuda()), g2 = grad_on(Device::cuda());
  CHECK(same_values(g1, g2));
  CHECK(same_values(g1, g_cpu));
}
