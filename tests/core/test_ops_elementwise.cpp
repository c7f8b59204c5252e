// Elementwise ops: forward values, float64 finite-difference gradients on random
// shapes (broadcasting both ways, size-1 and rank-0 operands), non-contiguous inputs,
// extreme arguments, and error messages.
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

using Fn = std::function<Tensor(const std::vector<Tensor>&)>;
using Unary = Tensor (*)(const Tensor&);

// Rank 0..3, sizes 1..5: size-1 axes and odd sizes come up often.
Shape random_shape(std::mt19937& rng, int min_rank = 0, int max_rank = 3) {
  Shape s(std::uniform_int_distribution<int>(min_rank, max_rank)(rng));
  for (auto& d : s) d = std::uniform_int_distribution<int>(1, 5)(rng);
  return s;
}

// A shape that broadcasts against `s`: leading axes dropped and some axes set to 1.
Shape broadcast_partner(std::mt19937& rng, const Shape& s) {
  size_t drop = std::uniform_int_distribution<size_t>(0, s.size())(rng);
  Shape p(s.begin() + static_cast<long>(drop), s.end());
  for (auto& d : p)
    if (rng() % 2) d = 1;
  return p;
}

// Values in [lo, hi) with a random sign, so |x| >= lo: away from the kinks at 0.
Tensor away_from_zero(const Shape& shape, uint64_t seed, double lo = 0.1, double hi = 1.0) {
  auto v = uniform(shape, seed, lo, hi).to_vector();
  std::mt19937 rng(static_cast<unsigned>(seed));
  for (auto& x : v)
    if (rng() % 2) x = -x;
  return Tensor::from_vector(v, shape, DType::f64);
}

}  // namespace

TEST_CASE("binary ops: forward values with broadcasting") {
  Tensor a = Tensor::from_vector(std::vector<double>{1, 2, 3, 4, 5, 6}, {2, 3}, DType::f64);
  Tensor b = Tensor::from_vector(std::vector<double>{10, 20, 30}, {3}, DType::f64);
  Tensor c = Tensor::from_vector(std::vector<double>{2, 4}, {2, 1}, DType::f64);
  CHECK(add(a, b).to_vector() == std::vector<double>{11, 22, 33, 14, 25, 36});
  CHECK(sub(b, a).to_vector() == std::vector<double>{9, 18, 27, 6, 15, 24});
  CHECK(mul(a, c).to_vector() == std::vector<double>{2, 4, 6, 16, 20, 24});
  CHECK(div(a, c).to_vector() == std::vector<double>{0.5, 1, 1.5, 1, 1.25, 1.5});
  // [2,1] with [3] gives [2,3]: both operands expand.
  Tensor outer = add(c, b);
  CHECK(outer.shape() == Shape{2, 3});
  CHECK(outer.to_vector() == std::vector<double>{12, 22, 32, 14, 24, 34});
  // Rank 0 with anything, and rank 0 with rank 0.
  Tensor s = Tensor::scalar(0.5, DType::f64);
  CHECK(mul(s, a).to_vector() == std::vector<double>{0.5, 1, 1.5, 2, 2.5, 3});
  CHECK(add(s, s).shape() == Shape{});
  CHECK(add(s, s).item() == 1.0);
  // Scalar overloads.
  CHECK((a + 1.0).to_vector() == std::vector<double>{2, 3, 4, 5, 6, 7});
  CHECK((a - 1.0).to_vector() == std::vector<double>{0, 1, 2, 3, 4, 5});
  CHECK((2.0 * a).to_vector() == std::vector<double>{2, 4, 6, 8, 10, 12});
  CHECK((a / 2.0).to_vector() == std::vector<double>{0.5, 1, 1.5, 2, 2.5, 3});
  CHECK((-a).to_vector() == std::vector<double>{-1, -2, -3, -4, -5, -6});
}

TEST_CASE("binary ops: reading a transposed and a sliced operand") {
  Tensor base = Tensor::from_vector(std::vector<double>{1, 2, 3, 4, 5, 6}, {2, 3}, DType::f64);
  Tensor t = base.t();  // [3, 2] = [[1,4],[2,5],[3,6]]
  Tensor ones = Tensor::ones({3, 2}, DType::f64);
  CHECK(add(t, ones).to_vector() == std::vector<double>{2, 5, 3, 6, 4, 7});
  Tensor col = base.slice(1, 1, 2);  // [[2],[5]], offset 1
  CHECK(mul(col, Tensor::full({2, 3}, 2.0, DType::f64)).to_vector() ==
        std::vector<double>{4, 4, 4, 10, 10, 10});
}

TEST_CASE("binary ops: gradients on random broadcast shapes") {
  std::mt19937 rng(7);
  for (int trial = 0; trial < 12; ++trial) {
    Shape sa = random_shape(rng);
    Shape sb = broadcast_partner(rng, sa);
    if (trial % 2) std::swap(sa, sb);  // broadcasting both ways
    CAPTURE(shape_str(sa));
    CAPTURE(shape_str(sb));
    uint64_t seed = 100 + trial;
    CHECK(gradcheck([](const std::vector<Tensor>& v) { return add(v[0], v[1]); },
                    {uniform(sa, seed), uniform(sb, seed + 50)}) <= 1);
    CHECK(gradcheck([](const std::vector<Tensor>& v) { return sub(v[0], v[1]); },
                    {uniform(sa, seed), uniform(sb, seed + 50)}) <= 1);
    CHECK(gradcheck([](const std::vector<Tensor>& v) { return mul(v[0], v[1]); },
                    {uniform(sa, seed), uniform(sb, seed + 50)}) <= 1);
    CHECK(gradcheck([](const std::vector<Tensor>& v) { return div(v[0], v[1]); },
                    {uniform(sa, seed), away_from_zero(sb, seed + 50, 0.5, 1.5)}) <= 1);
  }
}

TEST_CASE("binary ops: gradients where both operands expand, and rank 0") {
  Fn f = [](const std::vector<Tensor>& v) { return mul(add(v[0], v[1]), v[1]); };
  CHECK(gradcheck(f, {uniform({3, 1}, 1), uniform({1, 4}, 2)}) <= 1);
  CHECK(gradcheck(f, {uniform({2, 1, 3}, 3), uniform({5, 1}, 4)}) <= 1);
  CHECK(gradcheck(f, {uniform({}, 5), uniform({2, 3}, 6)}) <= 1);
  CHECK(gradcheck(f, {uniform({2, 3}, 7), uniform({}, 8)}) <= 1);
  CHECK(gradcheck(f, {uniform({}, 9), uniform({}, 10)}) <= 1);
  CHECK(gradcheck([](const std::vector<Tensor>& v) { return div(v[0], v[1]); },
                  {uniform({4, 1}, 11), uniform({}, 12, 0.5, 1.5)}) <= 1);
}

TEST_CASE("binary ops: the gradient of a broadcast operand sums over the expanded axes") {
  Tensor a = Tensor::ones({2, 3}, DType::f64).requires_grad_();
  Tensor b = Tensor::from_vector(std::vector<double>{1, 2, 3}, {3}, DType::f64).requires_grad_();
  Tensor s = Tensor::scalar(2.0, DType::f64).requires_grad_();
  backward(sum(mul(mul(a, b), s)));
  CHECK(b.grad().shape() == Shape{3});
  CHECK(b.grad().to_vector() == std::vector<double>{4, 4, 4});  // 2 rows * s
  CHECK(s.grad().shape() == Shape{});
  CHECK(s.grad().item() == 12.0);  // sum of a*b
  CHECK(a.grad().to_vector() == std::vector<double>{2, 4, 6, 2, 4, 6});
}

TEST_CASE("scalar ops: gradients") {
  CHECK(gradcheck([](const std::vector<Tensor>& v) { return add(v[0], 2.5); }, {uniform({3, 2}, 1)}) <= 1);
  CHECK(gradcheck([](const std::vector<Tensor>& v) { return mul(v[0], -1.5); }, {uniform({3, 2}, 2)}) <= 1);
  CHECK(gradcheck([](const std::vector<Tensor>& v) { return v[0] / 3.0 - 1.0; }, {uniform({5}, 3)}) <= 1);
  CHECK(gradcheck([](const std::vector<Tensor>& v) { return 2.0 * v[0]; }, {uniform({}, 4)}) <= 1);
}

TEST_CASE("unary ops: forward values") {
  auto values = [](const Tensor& t) { return t.to_vector(); };
  Tensor x = Tensor::from_vector(std::vector<double>{-2, 0, 1, 4}, {4}, DType::f64);
  CHECK(values(neg(x)) == std::vector<double>{2, 0, -1, -4});
  CHECK(values(square(x)) == std::vector<double>{4, 0, 1, 16});
  CHECK(values(relu(x)) == std::vector<double>{0, 0, 1, 4});
  CHECK(values(sqrt(Tensor::from_vector(std::vector<double>{0, 4, 9}, {3}, DType::f64))) ==
        std::vector<double>{0, 2, 3});
  auto e = values(exp(x));
  CHECK(e[1] == 1.0);
  CHECK(e[2] == doctest::Approx(2.718281828459045).epsilon(1e-15));
  CHECK(values(log(Tensor::scalar(std::exp(2.0), DType::f64)))[0] == doctest::Approx(2.0).epsilon(1e-15));
  CHECK(values(log1p(Tensor::scalar(1e-10, DType::f64)))[0] == doctest::Approx(1e-10).epsilon(1e-12));
  CHECK(values(sigmoid(x))[1] == 0.5);
  CHECK(values(sigmoid(x))[0] == doctest::Approx(0.11920292202211755).epsilon(1e-14));
  CHECK(values(tanh(x))[2] == doctest::Approx(0.7615941559557649).epsilon(1e-14));
  CHECK(values(softplus(x))[1] == doctest::Approx(0.6931471805599453).epsilon(1e-15));
  CHECK(values(softplus(x))[3] == doctest::Approx(4.0181499279178094).epsilon(1e-14));
}

TEST_CASE("unary ops: float32 agrees with float64") {
  Tensor x64 = uniform({7, 3}, 21, 0.2, 2.0);
  Tensor x32 = x64.to(DType::f32);
  for (Unary op :
       std::initializer_list<Unary>{exp, log, log1p, sqrt, square, softplus, sigmoid, tanh, relu}) {
    Tensor y32 = op(x32);
    CHECK(y32.dtype() == DType::f32);
    CHECK(closeness(y32, op(x64), 1e-6, 1e-7) <= 1);
  }
}

TEST_CASE("unary ops: gradients away from kinks") {
  Shape shapes[] = {{}, {1}, {3, 5}, {2, 1, 3}};
  for (const Shape& s : shapes) {
    CAPTURE(shape_str(s));
    Tensor any = uniform(s, 3, -2, 2);
    Tensor positive = uniform(s, 4, 0.2, 2.0);
    for (Unary op : std::initializer_list<Unary>{neg, exp, square, softplus, sigmoid, tanh, log_softplus})
      CHECK(gradcheck([op](const std::vector<Tensor>& v) { return op(v[0]); }, {any.clone()}) <= 1);
    for (Unary op : std::initializer_list<Unary>{log, sqrt})
      CHECK(gradcheck([op](const std::vector<Tensor>& v) { return op(v[0]); }, {positive.clone()}) <= 1);
    CHECK(gradcheck([](const std::vector<Tensor>& v) { return log1p(v[0]); }, {uniform(s, 5, -0.5, 2.0)}) <=
          1);
    CHECK(gradcheck([](const std::vector<Tensor>& v) { return relu(v[0]); }, {away_from_zero(s, 6)}) <= 1);
  }
}

TEST_CASE("relu: gradient is the step function") {
  Tensor x = Tensor::from_vector(std::vector<double>{-1.5, -0.1, 0.1, 2.0}, {4}, DType::f64).requires_grad_();
  backward(sum(relu(x)));
  CHECK(x.grad().to_vector() == std::vector<double>{0, 0, 1, 1});
}

TEST_CASE("unary ops: non-contiguous inputs (transposed, sliced)") {
  Tensor base = uniform({3, 4}, 8, 0.2, 2.0);
  Tensor t = base.t();
  REQUIRE_FALSE(t.is_contiguous());
  // A strided read must match the same op on a contiguous copy of the view.
  CHECK(closeness(exp(t), exp(t.contiguous()), 0, 0) <= 1);
  CHECK(exp(t).shape() == Shape{4, 3});
  Tensor s = base.slice(1, 1, 3);
  CHECK(closeness(log(s), log(s.contiguous()), 0, 0) <= 1);
  CHECK(gradcheck([](const std::vector<Tensor>& v) { return tanh(transpose(v[0], 0, 1)); },
                  {uniform({3, 4}, 9)}) <= 1);
  CHECK(gradcheck([](const std::vector<Tensor>& v) { return sqrt(slice(v[0], 0, 1, 3)); },
                  {uniform({4, 3}, 10, 0.2, 2.0)}) <= 1);
  CHECK(
      gradcheck([](const std::vector<Tensor>& v) { return mul(slice(v[0], 1, 1, 3), transpose(v[1], 0, 1)); },
                {uniform({2, 4}, 11), uniform({2, 2}, 12)}) <= 1);
}

TEST_CASE("log_softplus: equals log(softplus) where that is finite, and stays finite beyond") {
  Tensor x = Tensor::from_vector(std::vector<double>{-30, -20.5, -19.5, -1, 0, 3, 40}, {7}, DType::f64);
  CHECK(closeness(log_softplus(x), log(softplus(x)), 1e-14, 0) <= 1);
  // Both branches of the piecewise form, and the switch at -20, against finite differences.
  CHECK(gradcheck([](const std::vector<Tensor>& v) { return log_softplus(v[0]); }, {x.clone()}) <= 1);
  for (DType dt : {DType::f32, DType::f64}) {
    CAPTURE(std::string(dtype_name(dt)));
    // softplus(-800) is 0 in both dtypes: log(softplus) would be -inf with a NaN gradient.
    Tensor rho = Tensor::from_vector(std::vector<double>{-800, -1000}, {2}, dt).requires_grad_();
    REQUIRE(softplus(rho.detach()).to_vector()[0] == 0.0);
    Tensor y = log_softplus(rho);
    CHECK(y.to_vector() == std::vector<double>{-800, -1000});
    backward(sum(y));
    CHECK(rho.grad().to_vector() == std::vector<double>{1, 1});
  }
}

TEST_CASE("softplus, sigmoid and tanh at |x| = 50 and beyond: finite values and gradients") {
  for (DType dt : {DType::f32, DType::f64}) {
    CAPTURE(std::string(dtype_name(dt)));
    Tensor x = Tensor::from_vector(std::vector<double>{-100, -50, 50, 100}, {4}, dt).requires_grad_();
    Tensor sp = softplus(x);
    auto v = sp.to_vector();
    CHECK(v[0] >= 0);
    CHECK(v[0] < 1e-40);
    CHECK(v[1] == doctest::Approx(1.9287498479639178e-22).epsilon(1e-5));
    CHECK(v[2] == 50.0);
    CHECK(v[3] == 100.0);
    backward(sum(sp));
    auto g = x.grad().to_vector();
    for (double gi : g) CHECK(std::isfinite(gi));
    CHECK(g[1] == doctest::Approx(1.9287498479639178e-22).epsilon(1e-5));
    CHECK(g[2] == 1.0);
    auto s = sigmoid(x).to_vector();
    for (double si : s) CHECK(std::isfinite(si));
    CHECK(s[1] == doctest::Approx(1.9287498479639178e-22).epsilon(1e-5));
    CHECK(s[3] == 1.0);
    auto th = tanh(x).to_vector();
    CHECK(th[0] == -1.0);
    CHECK(th[3] == 1.0);
  }
}

TEST_CASE("elementwise errors name both shapes, dtypes") {
  Tensor a = Tensor::zeros({2, 3});
  Tensor b = Tensor::zeros({4});
  CHECK_THROWS_WITH_AS(add(a, b), doctest::Contains("[2, 3]"), Error);
  std::string msg = error_of([&] { mul(a, b); });
  CHECK(contains(msg, "mul"));
  CHECK(contains(msg, "[2, 3]"));
  CHECK(contains(msg, "[4]"));
  msg = error_of([&] { add(Tensor::zeros({3, 2}), Tensor::zeros({2, 3})); });
  CHECK(contains(msg, "[3, 2]"));
  CHECK(contains(msg, "[2, 3]"));
  msg = error_of([&] { add(Tensor::zeros({2}), Tensor::zeros({2}, DType::f64)); });
  CHECK(contains(msg, "float32"));
  CHECK(contains(msg, "float64"));
  CHECK_THROWS_WITH_AS(exp(Tensor::zeros({2}, DType::i32)), doctest::Contains("int32"), Error);
}

TEST_CASE("sum_to reduces a broadcast gradient to each operand's shape") {
  Tensor g = Tensor::ones({2, 3, 4}, DType::f64);
  CHECK(sum_to(g, {3, 4}).to_vector() == std::vector<double>(12, 2.0));
  CHECK(sum_to(g, {3, 1}).to_vector() == std::vector<double>(3, 8.0));
  CHECK(sum_to(g, {3, 1}).shape() == Shape{3, 1});
  CHECK(sum_to(g, {}).item() == 24.0);
  CHECK(sum_to(g, {1, 1, 1}).shape() == Shape{1, 1, 1});
  CHECK_THROWS_AS(sum_to(g, {5, 4}), Error);
  CHECK_THROWS_AS(sum_to(Tensor::ones({3}), {2, 3}), Error);
}
