// log_softmax, cross_entropy and binary_cross_entropy_with_logits: hand-computed
// values, stability at large logits, gradients, and label / shape errors.
#include <doctest/doctest.h>

#include <cmath>
#include <random>
#include <string>

#include "test_util.h"

using namespace r2g2;
using r2g2::test::closeness;
using r2g2::test::contains;
using r2g2::test::error_of;
using r2g2::test::gradcheck;
using r2g2::test::uniform;

namespace {

Tensor random_labels(int64_t n, int classes, unsigned seed) {
  std::mt19937 rng(seed);
  std::vector<int32_t> v(static_cast<size_t>(n));
  for (auto& x : v) x = static_cast<int32_t>(rng() % classes);
  return Tensor::from_vector(v, {n});
}

// log_softmax(x)[1, 2, 3] = x - log(e + e^2 + e^3).
const std::vector<double> kLogSoftmax123 = {-2.40760596444438, -1.40760596444438, -0.40760596444438};

}  // namespace

TEST_CASE("log_softmax: hand-computed values, shift invariance, large logits") {
  for (DType dt : {DType::f64, DType::f32}) {
    CAPTURE(std::string(dtype_name(dt)));
    double tol = dt == DType::f64 ? 1e-14 : 1e-6;
    Tensor x = Tensor::from_vector(std::vector<double>{1, 2, 3}, {1, 3}, dt);
    CHECK(closeness(log_softmax(x), Tensor::from_vector(kLogSoftmax123, {1, 3}, DType::f64), tol, tol) <= 1);
    // 1000 + x would overflow exp without the max shift; the result keeps the digits
    // that 1000 + x has (ulp(1000) = 1.1e-13 in float64).
    tol = dt == DType::f64 ? 1e-12 : 1e-6;
    Tensor big = Tensor::from_vector(std::vector<double>{1001, 1002, 1003}, {1, 3}, dt);
    CHECK(closeness(log_softmax(big), Tensor::from_vector(kLogSoftmax123, {1, 3}, DType::f64), tol, tol) <=
          1);
    Tensor small = Tensor::from_vector(std::vector<double>{-999, -998, -997}, {1, 3}, dt);
    CHECK(closeness(log_softmax(small), Tensor::from_vector(kLogSoftmax123, {1, 3}, DType::f64), tol, tol) <=
          1);
  }
  // Every row of exp(log_softmax) sums to 1, on each axis.
  Tensor x = uniform({3, 4, 5}, 1, -3, 3);
  for (int axis = 0; axis < 3; ++axis) {
    Tensor total = sum(exp(log_softmax(x, axis)), {axis});
    CHECK(closeness(total, Tensor::ones(total.shape(), DType::f64), 1e-14, 1e-14) <= 1);
    CHECK(log_softmax(x, axis).shape() == x.shape());
  }
  // A non-last axis equals the last-axis result of the transposed tensor.
  CHECK(closeness(log_softmax(x, 1), transpose(log_softmax(transpose(x, 1, 2), -1), 1, 2), 0, 1e-15) <= 1);
}

TEST_CASE("log_softmax: gradients on every axis and on strided inputs") {
  Shape shapes[] = {{5}, {3, 4}, {2, 3, 5}, {1, 1}, {4, 1}};
  uint64_t seed = 10;
  for (const Shape& s : shapes)
    for (int axis = -static_cast<int>(s.size()); axis < static_cast<int>(s.size()); ++axis) {
      CAPTURE(shape_str(s));
      CAPTURE(axis);
      CHECK(gradcheck([&](const std::vector<Tensor>& v) { return log_softmax(v[0], axis); },
                      {uniform(s, seed++, -2, 2)}) <= 1);
    }
  CHECK(gradcheck([](const std::vector<Tensor>& v) { return log_softmax(transpose(v[0], 0, 1)); },
                  {uniform({3, 4}, 77, -2, 2)}) <= 1);
}

TEST_CASE("cross_entropy: the 2x3 example by hand") {
  // Row 0: logits [1,2,3], label 2: -log_softmax = 0.40760596444438.
  // Row 1: logits [1,1,1], label 0: log 3 = 1.09861228866811. Mean 0.753109126556245.
  for (DType dt : {DType::f64, DType::f32}) {
    CAPTURE(std::string(dtype_name(dt)));
    double tol = dt == DType::f64 ? 1e-14 : 1e-6;
    Tensor logits = Tensor::from_vector(std::vector<double>{1, 2, 3, 1, 1, 1}, {2, 3}, dt).requires_grad_();
    Tensor labels = Tensor::from_vector(std::vector<int32_t>{2, 0}, {2});
    Tensor loss = cross_entropy(logits, labels);
    CHECK(loss.shape() == Shape{});
    CHECK(loss.dtype() == dt);
    CHECK(loss.item() == doctest::Approx(0.753109126556245).epsilon(tol));
    backward(loss);
    // (softmax - onehot) / N.
    Tensor expected = Tensor::from_vector(std::vector<double>{0.04501528658519024, 0.12236423552739885,
                                                              -0.167379522112589, -1.0 / 3, 1.0 / 6, 1.0 / 6},
                                          {2, 3}, DType::f64);
    CHECK(closeness(logits.grad(), expected, tol, tol) <= 1);
  }
}

TEST_CASE("cross_entropy: equals the composite -mean(log_softmax[label]) and is stable") {
  Tensor logits = uniform({6, 7}, 3, -4, 4);
  Tensor labels = random_labels(6, 7, 4);
  Tensor lp = log_softmax(logits);
  auto lpv = lp.to_vector();
  auto lab = labels.to_int_vector();
  double expected = 0;
  for (int r = 0; r < 6; ++r) expected -= lpv[r * 7 + lab[r]] / 6;
  CHECK(cross_entropy(logits, labels).item() == doctest::Approx(expected).epsilon(1e-14));
  // Adding 1e4 to every logit changes nothing, in float32 too.
  Tensor shifted = add(logits, 1e4).to(DType::f32);
  CHECK(cross_entropy(shifted, labels).item() == doctest::Approx(expected).epsilon(1e-3));
  CHECK(std::isfinite(cross_entropy(mul(logits, 1e3), labels).item()));
}

TEST_CASE("cross_entropy: gradients on random sizes") {
  int64_t sizes[][2] = {{1, 1}, {1, 4}, {5, 3}, {4, 10}, {7, 2}};
  unsigned seed = 1;
  for (const auto& size : sizes) {
    const int64_t n = size[0], c = size[1];
    CAPTURE(n);
    CAPTURE(c);
    Tensor labels = random_labels(n, static_cast<int>(c), seed);
    CHECK(gradcheck([&](const std::vector<Tensor>& v) { return cross_entropy(v[0], labels); },
                    {uniform({n, c}, seed++, -3, 3)}) <= 1);
  }
  // Through a strided view, and with a loss scale downstream (the seed is not 1).
  Tensor labels = random_labels(4, 3, 9);
  CHECK(gradcheck(
            [&](const std::vector<Tensor>& v) {
              return mul(cross_entropy(transpose(v[0], 0, 1), labels), 2.5);
            },
            {uniform({3, 4}, 8)}) <= 1);
}

TEST_CASE("cross_entropy: bad labels and shapes give clear errors") {
  Tensor logits = Tensor::zeros({3, 4});
  std::string msg = error_of([&] {
    cross_entropy(logits, Tensor::from_vector(std::vector<int32_t>{0, 3, 4}, {3}));
  });
  CHECK(contains(msg, "label 4"));
  CHECK(contains(msg, "row 2"));
  CHECK(contains(msg, "[0, 4)"));
  msg = error_of([&] { cross_entropy(logits, Tensor::from_vector(std::vector<int32_t>{0, -1, 1}, {3})); });
  CHECK(contains(msg, "label -1"));
  CHECK(contains(msg, "row 1"));
  msg = error_of([&] { cross_entropy(logits, Tensor::from_vector(std::vector<int32_t>{0, 1}, {2})); });
  CHECK(contains(msg, "[2]"));
  CHECK(contains(msg, "[3, 4]"));
  CHECK_THROWS_WITH_AS(cross_entropy(logits, Tensor::zeros({3})), doctest::Contains("int32"), Error);
  CHECK_THROWS_WITH_AS(cross_entropy(Tensor::zeros({3}), Tensor::zeros({3}, DType::i32)),
                       doctest::Contains("[3]"), Error);
  CHECK_THROWS_AS(cross_entropy(Tensor::zeros({0, 4}), Tensor::zeros({0}, DType::i32)), Error);
}

TEST_CASE("binary_cross_entropy_with_logits: hand-computed values and gradients") {
  // x = [0, 2, -1], t = [1, 0, 0.5]: terms log 2, 2 + log1p(e^-2), 0.5 + log1p(e^-1).
  for (DType dt : {DType::f64, DType::f32}) {
    CAPTURE(std::string(dtype_name(dt)));
    double tol = dt == DType::f64 ? 1e-14 : 1e-6;
    Tensor x = Tensor::from_vector(std::vector<double>{0, 2, -1}, {3}, dt).requires_grad_();
    Tensor t = Tensor::from_vector(std::vector<double>{1, 0, 0.5}, {3}, dt).requires_grad_();
    Tensor loss = binary_cross_entropy_with_logits(x, t);
    CHECK(loss.shape() == Shape{});
    CHECK(loss.item() == doctest::Approx(1.2111122930403804).epsilon(tol));
    backward(loss);
    // d/dx = (sigmoid(x) - t) / n, d/dt = -x / n.
    CHECK(closeness(
              x.grad(),
              Tensor::from_vector(std::vector<double>{-1.0 / 6, 0.29359902599262744, -0.07701952621000163},
                                  {3}, DType::f64),
              tol, tol) <= 1);
    CHECK(closeness(t.grad(), Tensor::from_vector(std::vector<double>{0, -2.0 / 3, 1.0 / 3}, {3}, DType::f64),
                    tol, tol) <= 1);
  }
}

TEST_CASE("binary_cross_entropy_with_logits: extreme logits stay finite") {
  for (DType dt : {DType::f32, DType::f64}) {
    Tensor x = Tensor::from_vector(std::vector<double>{-100, 100, -50, 50}, {4}, dt).requires_grad_();
    Tensor t = Tensor::from_vector(std::vector<double>{0, 1, 1, 0}, {4}, dt);
    Tensor loss = binary_cross_entropy_with_logits(x, t);
    // Terms ~0, ~0, 50, 50.
    CHECK(loss.item() == doctest::Approx(25.0).epsilon(1e-6));
    backward(loss);
    auto g = x.grad().to_vector();
    CHECK(g[0] == doctest::Approx(0).epsilon(1e-12));
    CHECK(g[2] == doctest::Approx(-0.25).epsilon(1e-6));
    CHECK(g[3] == doctest::Approx(0.25).epsilon(1e-6));
  }
}

TEST_CASE("binary_cross_entropy_with_logits: gradients to both inputs, random shapes") {
  Shape shapes[] = {{}, {1}, {3, 5}, {2, 1, 3}};
  uint64_t seed = 40;
  for (const Shape& s : shapes) {
    CAPTURE(shape_str(s));
    CHECK(gradcheck([](const std::vector<Tensor>& v) { return binary_cross_entropy_with_logits(v[0], v[1]); },
                    {uniform(s, seed, -3, 3), uniform(s, seed + 1, 0, 1)}) <= 1);
    seed += 2;
  }
  // Targets without a gradient: only the logits get one.
  Tensor t = uniform({4}, 5, 0, 1);
  CHECK(gradcheck([&](const std::vector<Tensor>& v) { return binary_cross_entropy_with_logits(v[0], t); },
                  {uniform({4}, 6, -3, 3)}) <= 1);
  CHECK_FALSE(t.grad().defined());
}

TEST_CASE("binary_cross_entropy_with_logits: errors name both shapes") {
  std::string msg = error_of([] {
    binary_cross_entropy_with_logits(Tensor::zeros({2, 3}), Tensor::zeros({3, 2}));
  });
  CHECK(contains(msg, "[2, 3]"));
  CHECK(contains(msg, "[3, 2]"));
  CHECK_THROWS_AS(binary_cross_entropy_with_logits(Tensor::zeros({2}), Tensor::zeros({2}, DType::f64)),
                  Error);
  CHECK_THROWS_AS(binary_cross_entropy_with_logits(Tensor::zeros({0}), Tensor::zeros({0})), Error);
}
