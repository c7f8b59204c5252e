// SGD and Adam against updates worked out by hand for two steps on a 2-element
// parameter p0 = [1, -2], plus the bookkeeping (zero_grad, skipped parameters) and
// the constructor checks.
#include <doctest/doctest.h>

#include "r2g2/core/error.h"
#include "r2g2/core/optim.h"
#include "test_util.h"

namespace {

using namespace r2g2;

Tensor param(DType dt = DType::f64) {
  Tensor p = Tensor::from_vector({1.0, -2.0}, {2}, dt);
  p.requires_grad_(true);
  return p;
}

// Sets p.grad = g (as backward would leave it).
void set_grad(Tensor& p, std::vector<double> g) { p.set_grad(Tensor::from_vector(g, {2}, p.dtype())); }

void check_values(const Tensor& p, std::vector<double> want, double tol) {
  auto got = p.to_vector();
  REQUIRE(got.size() == want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    if (tol == 0)
      CHECK(got[i] == want[i]);
    else
      CHECK(got[i] == doctest::Approx(want[i]).epsilon(tol));
  }
}

// Gradient [0.5, -1] on both steps, produced by backward of sum(p * c).
void backward_constant_grad(Tensor& p) {
  Tensor c = Tensor::from_vector({0.5, -1.0}, {2}, p.dtype());
  backward(sum(mul(p, c)));
}

}  // namespace

TEST_CASE("SGD without momentum or weight decay: p -= lr g") {
  for (DType dt : {DType::f64, DType::f32}) {
    Tensor p = param(dt);
    SGD opt({p}, {.lr = 0.1});
    backward_constant_grad(p);
    opt.step();
    check_values(p, {0.95, -1.9}, 1e-6);  // [1 - 0.05, -2 + 0.1]
    opt.zero_grad();
    backward_constant_grad(p);
    opt.step();
    check_values(p, {0.9, -1.8}, 1e-6);
    CHECK(opt.steps_taken() == 2);
  }
}

TEST_CASE("SGD with momentum 0.9: the buffer starts as the first gradient") {
  Tensor p = param();
  SGD opt({p}, {.lr = 0.1, .momentum = 0.9});
  backward_constant_grad(p);
  opt.step();
  // buf = g = [0.5, -1]; p = [1 - 0.05, -2 + 0.1]
  check_values(p, {0.95, -1.9}, 1e-12);
  opt.zero_grad();
  backward_constant_grad(p);
  opt.step();
  // buf = 0.9 [0.5, -1] + [0.5, -1] = [0.95, -1.9]; p = [0.95 - 0.095, -1.9 + 0.19]
  check_values(p, {0.855, -1.71}, 1e-12);
}

TEST_CASE("SGD with weight decay 0.1, without and with momentum") {
  {
    Tensor p = param();
    SGD opt({p}, {.lr = 0.1, .weight_decay = 0.1});
    set_grad(p, {0.5, -1});
    opt.step();
    // g' = g + 0.1 p = [0.6, -1.2]; p = [0.94, -1.88]
    check_values(p, {0.94, -1.88}, 1e-12);
    set_grad(p, {0.5, -1});
    opt.step();
    // g' = [0.5 + 0.094, -1 - 0.188] = [0.594, -1.188]; p = [0.94 - 0.0594, -1.88 + 0.1188]
    check_values(p, {0.8806, -1.7612}, 1e-12);
  }
  {
    Tensor p = param(DType::f32);
    SGD opt({p}, {.lr = 0.1, .momentum = 0.9, .weight_decay = 0.1});
    set_grad(p, {0.5, -1});
    opt.step();
    // g' = [0.6, -1.2] = buf; p = [0.94, -1.88]
    check_values(p, {0.94, -1.88}, 1e-6);
    set_grad(p, {0.5, -1});
    opt.step();
    // g' = [0.594, -1.188]; buf = 0.9 [0.6, -1.2] + g' = [1.134, -2.268]; p = [0.94 - 0.1134, -1.88 + 0.2268]
    check_values(p, {0.8266, -1.6532}, 1e-6);
  }
}

TEST_CASE("Adam with bias correction: two steps by hand") {
  // lr 0.1, beta1 0.9, beta2 0.999, eps 1e-8; gradients [0.5, -1] then [1, 0.5].
  // Step 1: m = 0.1 g = [0.05, -0.1], v = 0.001 g^2 = [0.00025, 0.001];
  //   m_hat = m / 0.1 = g, v_hat = v / 0.001 = g^2, so p -= 0.1 * g / (|g| + 1e-8):
  //   p = [1 - 0.1 * 0.5 / 0.50000001, -2 + 0.1 * 1 / 1.00000001] = [0.900000002, -1.900000001].
  // Step 2: m = 0.9 m + 0.1 g = [0.145, -0.04]; v = 0.999 v + 0.001 g^2 = [0.00124975, 0.001249];
  //   1 - 0.9^2 = 0.19, 1 - 0.999^2 = 0.001999;
  //   m_hat = [0.763157895, -0.210526316], v_hat = [0.625187594, 0.624812406],
  //   sqrt(v_hat) = [0.790688051, 0.790450762];
  //   p -= 0.1 m_hat / (sqrt(v_hat) + 1e-8) = [0.096518201, -0.026633704]
  //   p = [0.803481801, -1.873366296].
  for (DType dt : {DType::f64, DType::f32}) {
    Tensor p = param(dt);
    Adam opt({p}, {.lr = 0.1});
    const double tol = dt == DType::f64 ? 1e-9 : 1e-6;
    set_grad(p, {0.5, -1});
    opt.step();
    check_values(p, {0.900000002, -1.900000001}, tol);
    check_values(opt.first_moments()[0], {0.05, -0.1}, tol);
    check_values(opt.second_moments()[0], {0.00025, 0.001}, tol);
    set_grad(p, {1.0, 0.5});
    opt.step();
    check_values(p, {0.803481801, -1.873366296}, tol);
    CHECK(opt.steps_taken() == 2);
  }
}

TEST_CASE("Adam with weight decay 0.1 adds 0.1 p to the gradient") {
  // Step 1: g' = [0.5 + 0.1, -1 - 0.2] = [0.6, -1.2]: the update is again lr g'/|g'|
  //   up to eps: p = [1 - 0.1 * 0.6 / 0.60000001, -2 + 0.1 * 1.2 / 1.20000001] = [0.9000000017,
  //   -1.9000000008].
  // Step 2 (g = [1, 0.5]): g' = [1.09000000, 0.31]; m = 0.9 [0.06, -0.12] + 0.1 g' = [0.163, -0.077];
  //   v = 0.999 [0.00036, 0.00144] + 0.001 g'^2 = [0.00154774, 0.00153466];
  //   m_hat = m / 0.19 = [0.857894737, -0.405263158]; v_hat = v / 0.001999 = [0.774257129, 0.767713857];
  //   p -= 0.1 m_hat / sqrt(v_hat) = [0.097497032, -0.046252737] -> [0.802502970, -1.853747265].
  Tensor p = param();
  Adam opt({p}, {.lr = 0.1, .weight_decay = 0.1});
  set_grad(p, {0.5, -1});
  opt.step();
  check_values(p, {0.9000000017, -1.9000000008}, 1e-9);
  set_grad(p, {1.0, 0.5});
  opt.step();
  check_values(p, {0.802502970, -1.853747265}, 1e-8);
}

TEST_CASE("Optimizer: zero_grad clears gradients; step skips parameters without one") {
  Tensor a = param(), b = param();
  SGD opt({a, b}, {.lr = 0.1, .momentum = 0.9});
  set_grad(a, {0.5, -1});
  opt.step();  // b has no gradient: untouched, and its momentum buffer not started
  check_values(a, {0.95, -1.9}, 1e-12);
  check_values(b, {1.0, -2.0}, 0);
  opt.zero_grad();
  CHECK_FALSE(a.grad().defined());
  CHECK_FALSE(b.grad().defined());
  opt.step();  // nothing has a gradient: nothing moves
  check_values(a, {0.95, -1.9}, 1e-12);
  set_grad(b, {0.5, -1});
  opt.step();  // b's first momentum step: buf = g, as for a on step 1
  check_values(b, {0.95, -1.9}, 1e-12);
  check_values(a, {0.95, -1.9}, 1e-12);

  Tensor c = param();
  Adam adam({c, param()}, {.lr = 0.1});
  set_grad(c, {0.5, -1});
  adam.step();
  check_values(c, {0.900000002, -1.900000001}, 1e-9);
  check_values(adam.params()[1], {1.0, -2.0}, 0);
}

TEST_CASE("Optimizer: constructor checks give clear messages") {
  Tensor p = param();
  Tensor not_leaf = mul(p, 2.0);
  CHECK_THROWS_WITH_AS(SGD({not_leaf}, {}), doctest::Contains("not a leaf"), Error);
  CHECK_THROWS_WITH_AS(SGD({Tensor::zeros({2})}, {}), doctest::Contains("does not require a gradient"),
                       Error);
  CHECK_THROWS_WITH_AS(Adam({Tensor::zeros({2}, DType::i32)}, {}), doctest::Contains("int32"), Error);
  CHECK_THROWS_WITH_AS(Adam({Tensor()}, {}), doctest::Contains("undefined"), Error);
  CHECK_THROWS_WITH_AS(SGD({p}, {.lr = 0}), doctest::Contains("lr must be > 0"), Error);
  CHECK_THROWS_WITH_AS(Adam({p}, {.lr = -1e-3}), doctest::Contains("lr must be > 0"), Error);
  CHECK_THROWS_WITH_AS(Adam({p}, {.beta1 = 1.0}), doctest::Contains("beta1 must be in [0, 1)"), Error);
  CHECK_THROWS_WITH_AS(Adam({p}, {.beta2 = -0.1}), doctest::Contains("beta2 must be in [0, 1)"), Error);
  CHECK_THROWS_WITH_AS(SGD({p}, {.lr = 0.1, .momentum = -0.5}), doctest::Contains("momentum"), Error);
  CHECK_THROWS_WITH_AS(Adam({p}, {.weight_decay = -1}), doctest::Contains("weight_decay"), Error);
  CHECK_NOTHROW(Adam({p}, {}));
}

TEST_CASE("Optimizer: a gradient of the wrong shape is reported") {
  Tensor p = param();
  Adam opt({p}, {.lr = 0.1});
  p.set_grad(Tensor::zeros({3}, DType::f64));
  CHECK_THROWS_WITH_AS(opt.step(), doctest::Contains("shape [3]"), Error);
}
