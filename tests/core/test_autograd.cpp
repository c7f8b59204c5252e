// The tape: diamonds, retain_graph, a second backward without it, NoGrad, detach,
// zero_grad and accumulation, seeds, and the printed tape / backward trace.
#include <doctest/doctest.h>

#include <cmath>
#include <sstream>
#include <string>

#include "test_util.h"

using namespace r2g2;
using r2g2::test::closeness;
using r2g2::test::contains;
using r2g2::test::error_of;
using r2g2::test::gradcheck;
using r2g2::test::uniform;

namespace {

// y = x*x + x (x used twice), z = sum(y * tanh(y)) (y used twice).
Tensor diamond(const Tensor& x) {
  Tensor y = add(mul(x, x), x);
  return sum(mul(y, tanh(y)));
}

// dz/dx of diamond(), by hand.
std::vector<double> diamond_grad(const std::vector<double>& xs) {
  std::vector<double> g;
  for (double x : xs) {
    double y = x * x + x, t = std::tanh(y);
    g.push_back((t + y * (1 - t * t)) * (2 * x + 1));
  }
  return g;
}

}  // namespace

TEST_CASE("diamond graph: every path contributes once") {
  Tensor x = uniform({5}, 1).requires_grad_();
  backward(diamond(x));
  Tensor expected = Tensor::from_vector(diamond_grad(x.to_vector()), {5}, DType::f64);
  CHECK(closeness(x.grad(), expected, 1e-13, 1e-14) <= 1);
  CHECK(gradcheck([](const std::vector<Tensor>& v) { return diamond(v[0]); }, {uniform({2, 3}, 2)}) <= 1);
  // An input used twice in one op.
  Tensor a = Tensor::from_vector(std::vector<double>{3}, {1}, DType::f64).requires_grad_();
  backward(sum(mul(a, a)));
  CHECK(a.grad().item() == 6);
}

TEST_CASE("diamond through views: a tensor and its transpose both feed the loss") {
  Tensor x = uniform({3, 3}, 3).requires_grad_();
  Tensor s = add(x, transpose(x, 0, 1));
  backward(sum(s));
  CHECK(x.grad().to_vector() == std::vector<double>(9, 2.0));
}

TEST_CASE("retain_graph: a second backward accumulates (the gradient doubles)") {
  Tensor x = uniform({4}, 4).requires_grad_();
  Tensor z = diamond(x);
  backward(z, {.retain_graph = true});
  std::vector<double> once = x.grad().to_vector();
  backward(z, {.retain_graph = true});
  std::vector<double> twice = x.grad().to_vector();
  for (size_t i = 0; i < once.size(); ++i) CHECK(twice[i] == doctest::Approx(2 * once[i]).epsilon(1e-15));
  // The last backward may free the graph; a further one then fails.
  backward(z);
  CHECK(x.grad().to_vector()[0] == doctest::Approx(3 * once[0]).epsilon(1e-15));
  CHECK_THROWS_AS(backward(z), Error);
}

TEST_CASE("a second backward without retain_graph throws a clear error") {
  Tensor x = uniform({3}, 5).requires_grad_();
  Tensor z = sum(relu(mul(x, 2.0)));
  backward(z);
  std::vector<double> first = x.grad().to_vector();
  std::string msg = error_of([&] { backward(z); });
  CHECK(contains(msg, "retain_graph"));
  CHECK(contains(msg, "already freed"));
  CHECK(contains(msg, "sum"));           // names the node it hit
  CHECK(x.grad().to_vector() == first);  // and changed nothing
  // A new graph over the freed one fails too: its inputs' history is gone.
  CHECK_THROWS_WITH_AS(backward(mul(z, 3.0)), doctest::Contains("retain_graph"), Error);
}

TEST_CASE("NoGrad records nothing and restores the previous mode") {
  Tensor x = uniform({3}, 6).requires_grad_();
  CHECK(grad_enabled());
  {
    NoGrad no_grad;
    CHECK_FALSE(grad_enabled());
    Tensor y = exp(mul(x, 2.0));
    CHECK_FALSE(y.requires_grad());
    CHECK(y.is_leaf());
    CHECK_FALSE(y.grad_fn());
    {
      NoGrad nested;
      CHECK_FALSE(grad_enabled());
    }
    CHECK_FALSE(grad_enabled());  // the inner guard restores "off", not "on"
    CHECK_THROWS_WITH_AS(backward(sum(y)), doctest::Contains("does not require a gradient"), Error);
  }
  CHECK(grad_enabled());
  Tensor y = mul(x, 2.0);
  CHECK(y.requires_grad());
  CHECK_FALSE(y.is_leaf());
}

TEST_CASE("ops on tensors that need no gradient record nothing") {
  Tensor a = uniform({2}, 7), b = uniform({2}, 8);
  Tensor c = add(exp(a), b);
  CHECK_FALSE(c.requires_grad());
  CHECK_FALSE(c.grad_fn());
  // Only the input that needs a gradient gets one.
  Tensor w = uniform({2}, 9).requires_grad_();
  backward(sum(mul(c, w)));
  CHECK(w.grad().defined());
  CHECK_FALSE(a.grad().defined());
  CHECK_FALSE(c.grad().defined());
}

TEST_CASE("detach cuts the graph and shares storage") {
  Tensor x = Tensor::from_vector(std::vector<double>{1, 2}, {2}, DType::f64).requires_grad_();
  Tensor d = x.detach();
  CHECK_FALSE(d.requires_grad());
  CHECK(d.impl().storage == x.impl().storage);
  // z = 3 * stop(x) * x + x: only the non-detached paths count: dz/dx = 3 * x + 1.
  Tensor z = sum(add(mul(mul(d, 3.0), x), x));
  backward(z);
  CHECK(x.grad().to_vector() == std::vector<double>{4, 7});
  // Detaching an intermediate stops everything behind it.
  Tensor y = mul(x, 5.0);
  Tensor e = y.detach().requires_grad_();  // a new leaf
  backward(sum(mul(e, 2.0)));
  CHECK(e.grad().to_vector() == std::vector<double>{2, 2});
  CHECK(x.grad().to_vector() == std::vector<double>{4, 7});  // unchanged
}

TEST_CASE("gradients accumulate across graphs until zero_grad") {
  Tensor x = Tensor::from_vector(std::vector<double>{1, -2}, {2}, DType::f64).requires_grad_();
  backward(sum(mul(x, 3.0)));
  backward(sum(mul(x, 4.0)));
  CHECK(x.grad().to_vector() == std::vector<double>{7, 7});
  x.zero_grad();
  CHECK_FALSE(x.grad().defined());
  backward(sum(square(x)));
  CHECK(x.grad().to_vector() == std::vector<double>{2, -4});
  // The stored gradient is its own buffer: later accumulation does not write into a
  // tensor the graph handed out (here the seed).
  Tensor leaf = Tensor::zeros({2}, DType::f64).requires_grad_();
  Tensor seed = Tensor::from_vector(std::vector<double>{1, 1}, {2}, DType::f64);
  backward(leaf, seed);
  backward(leaf, seed);
  CHECK(leaf.grad().to_vector() == std::vector<double>{2, 2});
  CHECK(seed.to_vector() == std::vector<double>{1, 1});
}

TEST_CASE("a leaf's gradient buffer is updated in place by later backward passes") {
  Tensor x = Tensor::from_vector(std::vector<double>{1, -2}, {2}, DType::f64).requires_grad_();
  Tensor z = sum(mul(x, x));
  backward(z, {.retain_graph = true});
  const Tensor first = x.grad();
  backward(z, {.retain_graph = true});
  CHECK(x.grad().same(first));
  CHECK(first.to_vector() == std::vector<double>{4, -8});
  // A gradient arriving as a transposed (strided) view is accumulated through a copy.
  Tensor w = Tensor::from_vector(std::vector<double>{1, 2, 3, 4, 5, 6}, {2, 3}, DType::f64).requires_grad_();
  backward(sum(w.t()));
  backward(sum(mul(w.t(), 2.0)));
  CHECK(w.grad().to_vector() == std::vector<double>(6, 3.0));
  CHECK(w.grad().is_contiguous());
}

TEST_CASE("backward seeds: scalar losses, explicit seeds, and errors") {
  Tensor x = Tensor::from_vector(std::vector<double>{1, 2, 3}, {3}, DType::f64).requires_grad_();
  Tensor y = mul(x, x);
  std::string msg = error_of([&] { backward(y); });
  CHECK(contains(msg, "one element"));
  CHECK(contains(msg, "[3]"));
  Tensor seed = Tensor::from_vector(std::vector<double>{1, 0, -1}, {3}, DType::f64);
  backward(y, seed);
  CHECK(x.grad().to_vector() == std::vector<double>{2, 0, -6});
  msg = error_of([&] { backward(mul(x, 1.0), Tensor::ones({2}, DType::f64)); });
  CHECK(contains(msg, "[2]"));
  CHECK(contains(msg, "[3]"));
  // A one-element leaf: its gradient is 1.
  Tensor s = Tensor::scalar(4.0, DType::f64).requires_grad_();
  backward(s);
  CHECK(s.grad().item() == 1.0);
  // float32 graphs produce float32 gradients.
  Tensor f = Tensor::from_vector(std::vector<float>{1.5f, 2.5f}, {2}).requires_grad_();
  backward(sum(square(f)));
  CHECK(f.grad().dtype() == DType::f32);
  CHECK(f.grad().to_vector() == std::vector<double>{3, 5});
}

TEST_CASE("leaf rules") {
  Tensor x = uniform({2}, 10).requires_grad_();
  Tensor y = mul(x, 2.0);
  CHECK_THROWS_WITH_AS(y.requires_grad_(), doctest::Contains("mul_scalar"), Error);
  CHECK_THROWS_WITH_AS(Tensor::zeros({2}, DType::i32).requires_grad_(), doctest::Contains("int32"), Error);
  CHECK(x.is_leaf());
  CHECK_FALSE(y.is_leaf());
  CHECK(y.grad_fn()->name == "mul_scalar");
  CHECK(y.grad_fn()->output_shape == Shape{2});
}

TEST_CASE("print_tape and the backward trace name the nodes in order") {
  Tensor x = uniform({2, 3}, 11).requires_grad_();
  Tensor w = uniform({2, 3}, 12).requires_grad_();
  Tensor b = uniform({3}, 13).requires_grad_();
  Tensor loss = sum(add(relu(mul(x, w)), b));

  std::ostringstream tape;
  print_tape(tape, loss);
  std::string t = tape.str();
  size_t p_mul = t.find(" mul "), p_relu = t.find(" relu "), p_add = t.find(" add "), p_sum = t.find(" sum ");
  REQUIRE(p_mul != std::string::npos);
  REQUIRE(p_relu != std::string::npos);
  REQUIRE(p_add != std::string::npos);
  REQUIRE(p_sum != std::string::npos);
  CHECK(p_mul < p_relu);  // tape order: first recorded first
  CHECK(p_relu < p_add);
  CHECK(p_add < p_sum);
  CHECK(contains(t, "leaf[2, 3]"));
  CHECK(contains(t, "leaf[3]"));
  CHECK(contains(t, "add [2, 3]"));

  std::ostringstream trace;
  backward(loss, {.trace = &trace});
  std::string r = trace.str();
  size_t q_sum = r.find(" sum "), q_add = r.find(" add "), q_relu = r.find(" relu "), q_mul = r.find(" mul ");
  REQUIRE(q_sum != std::string::npos);
  REQUIRE(q_add != std::string::npos);
  REQUIRE(q_relu != std::string::npos);
  REQUIRE(q_mul != std::string::npos);
  CHECK(q_sum < q_add);  // backward order: last recorded first
  CHECK(q_add < q_relu);
  CHECK(q_relu < q_mul);
  CHECK(contains(r, "dL/dout [] = 1"));  // the seed of the scalar loss

  std::ostringstream leaf;
  print_tape(leaf, x);
  CHECK(contains(leaf.str(), "leaf"));
}

TEST_CASE("backward frees saved tensors unless the graph is retained") {
  Tensor x = uniform({2}, 14).requires_grad_();
  Tensor y = exp(x);
  Tensor z = sum(y);
  REQUIRE(y.grad_fn()->backward);
  backward(z, {.retain_graph = true});
  CHECK(y.grad_fn()->backward);
  backward(z);
  CHECK_FALSE(y.grad_fn()->backward);
  CHECK(y.grad_fn()->released);
}

TEST_CASE("backward frees intermediate buffers while the loss is still alive") {
  Tensor x = uniform({3, 4}, 5).requires_grad_();
  std::weak_ptr<Storage> intermediate;
  Tensor loss;
  {
    Tensor y = exp(x);  // saved by exp's own node (as output) and by mul (as both operands)
    intermediate = y.impl().storage;
    loss = sum(mul(y, y));
  }
  CHECK_FALSE(intermediate.expired());  // the graph holds it until backward has used it
  backward(loss);
  CHECK(intermediate.expired());  // released as backward walked past, although `loss` lives on
  CHECK(closeness(x.grad(), mul(exp(x.detach()), exp(x.detach())) * 2.0, 1e-12, 1e-12) <= 1);
  CHECK_THROWS_AS(backward(loss), Error);  // the graph is gone: a second pass says so
}
