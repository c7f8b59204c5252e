// One table of op cases (ggml test-backend-ops style) run through the public op API on
// the CPU and on CUDA, float32: forward outputs and the gradients of every input are
// compared with tolerances scaled to each op. Sizes cover 1, odd, non-multiples of the
// 256-thread block, and ~1e6 elements, plus the shapes that select each kernel variant
// (warp-per-row vs block-per-row, single- vs two-pass sums).
#include <doctest/doctest.h>

#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "gpu_test_util.h"

using namespace r2g2;
using r2g2::test::closeness;
using r2g2::test::uniform;

namespace {

using OpFn = std::function<Tensor(const std::vector<Tensor>&, Device)>;

struct OpCase {
  std::string name;
  std::vector<Shape> inputs;  // float32 inputs, uniform in [lo, hi)
  OpFn f;
  double lo = -1.0, hi = 1.0;
  double rtol = 1e-5, atol = 1e-6;            // forward
  double grad_rtol = 1e-5, grad_atol = 1e-6;  // gradients
  bool grad = true;
};

OpCase make(std::string name, std::vector<Shape> inputs, OpFn f) {
  OpCase c;
  c.name = std::move(name);
  c.inputs = std::move(inputs);
  c.f = std::move(f);
  return c;
}
OpCase with_range(OpCase c, double lo, double hi) {
  c.lo = lo;
  c.hi = hi;
  return c;
}
OpCase with_tol(OpCase c, double rtol, double atol, double grad_rtol, double grad_atol) {
  c.rtol = rtol;
  c.atol = atol;
  c.grad_rtol = grad_rtol;
  c.grad_atol = grad_atol;
  return c;
}
OpCase no_grad(OpCase c) {
  c.grad = false;
  return c;
}

const int64_t kLarge = 1 << 20;     // ~1e6
const int64_t kLargeOdd = 1000003;  // ~1e6, prime

std::vector<int64_t> vector_sizes() {
  return {1, 7, 255, 257, 1000, r2g2::test::under_sanitizer() ? 4099 : kLargeOdd};
}

std::vector<OpCase> unary_cases() {
  struct U {
    const char* name;
    Tensor (*f)(const Tensor&);
    double lo, hi;
  };
  const U ops[] = {
      {"neg", r2g2::neg, -1, 1},
      {"exp", r2g2::exp, -5, 5},
      {"log", r2g2::log, 0.1, 3},
      {"log1p", r2g2::log1p, -0.5, 3},
      {"sqrt", r2g2::sqrt, 0.1, 4},
      {"square", r2g2::square, -2, 2},
      {"softplus", r2g2::softplus, -20, 20},
      {"log_softplus", r2g2::log_softplus, -40, 20},
      {"sigmoid", r2g2::sigmoid, -20, 20},
      {"tanh", r2g2::tanh, -5, 5},
      {"relu", r2g2::relu, -1, 1},
  };
  std::vector<OpCase> cases;
  for (const U& u : ops)
    for (int64_t n : vector_sizes()) {
      auto fn = u.f;
      cases.push_back(with_range(make(std::string(u.name) + " n=" + std::to_string(n), {{n}},
                                      [fn](auto& in, Device) { return fn(in[0]); }),
                                 u.lo, u.hi));
    }
  return cases;
}

std::vector<OpCase> binary_cases() {
  std::vector<OpCase> cases;
  using B = Tensor (*)(const Tensor&, const Tensor&);
  const std::pair<const char*, B> ops[] = {
      {"add", [](const Tensor& a, const Tensor& b) { return add(a, b); }},
      {"sub", [](const Tensor& a, const Tensor& b) { return sub(a, b); }},
      {"mul", [](const Tensor& a, const Tensor& b) { return mul(a, b); }},
      {"div", [](const Tensor& a, const Tensor& b) { return div(a, b); }}};
  const std::vector<std::pair<Shape, Shape>> shapes = {
      {{1}, {1}},
      {{257}, {257}},
      {{1001}, {1}},
      {{33, 17}, {17}},
      {{33, 1}, {1, 17}},
      {{5, 1, 9}, {4, 1}},
      {{2, 3, 4, 5}, {3, 1, 5}},
      {{kLarge}, {kLarge}},
      {{1000, 1000}, {1000}},
      {{3, 1, 1, 2, 1, 2, 1, 3}, {1, 2, 3, 1, 2, 1, 2, 1}},
  };
  for (auto& [name, op] : ops)
    for (auto& [sa, sb] : shapes) {
      B fn = op;
      // Divisors stay in [0.5, 2): div's gradient 1/b^2 is then well conditioned.
      OpCase c = make(std::string(name) + " " + shape_str(sa) + " " + shape_str(sb), {sa, sb},
                      [fn, is_div = std::string(name) == "div"](auto& in, Device) {
                        return fn(in[0], is_div ? add(mul(in[1], 0.75), 1.25) : in[1]);
                      });
      // Broadcast gradients are sums over up to 1000 terms: allow for float rounding there.
      cases.push_back(with_tol(c, 1e-6, 1e-6, 1e-5, 1e-5));
    }
  cases.push_back(make("add scalar", {{1001}}, [](auto& in, Device) { return add(in[0], 2.5); }));
  cases.push_back(make("mul scalar", {{1001}}, [](auto& in, Device) { return mul(in[0], -1.5); }));
  // Strided inputs: a transposed operand goes through the general n-d path, a slice through
  // copy_strided, concat through copy_2d.
  cases.push_back(
      make("add transposed", {{37, 29}, {29, 37}}, [](auto& in, Device) { return add(in[0].t(), in[1]); }));
  cases.push_back(make("contiguous of transpose", {{3, 300, 5}},
                       [](auto& in, Device) { return mul(in[0].transpose(0, 2).contiguous(), 2.0); }));
  cases.push_back(
      make("slice", {{40, 50}}, [](auto& in, Device) { return mul(in[0].slice(1, 3, 47), 3.0); }));
  cases.push_back(make("concat axis 1", {{7, 5}, {7, 11}}, [](auto& in, Device) {
    return concat({in[0], in[1]}, 1);
  }));
  cases.push_back(make("concat axis 0", {{3, 5}, {300, 5}}, [](auto& in, Device) {
    return concat({in[0], in[1]}, 0);
  }));
  return cases;
}

std::vector<OpCase> reduce_cases() {
  std::vector<OpCase> cases;
  const int64_t big = r2g2::test::under_sanitizer() ? 20011 : kLargeOdd;
  // Sums accumulate in double on both devices: only the final rounding may differ.
  auto sum_case = [&](std::string name, Shape s, std::vector<int> axes) {
    cases.push_back(
        with_tol(make("sum " + name + " " + shape_str(s), {s},
                      [axes](auto& in, Device) { return axes.empty() ? sum(in[0]) : sum(in[0], axes); }),
                 1e-6, 1e-6, 1e-6, 1e-6));
  };
  sum_case("all", {1}, {});
  sum_case("all", {1001}, {});
  sum_case("all", {big}, {});          // two-pass row sum
  sum_case("all", {3, 5000, 7}, {});   // several single-axis passes
  sum_case("rows", {1000, 37}, {1});   // warp per row
  sum_case("rows", {30, 5000}, {1});   // block per row
  sum_case("rows", {3, 100003}, {1});  // chunked rows
  sum_case("cols", {1000, 3}, {0});    // chunked columns
  sum_case("cols", {300, 1000}, {0});  // one thread per column
  sum_case("middle", {5, 20000, 3}, {1});
  sum_case("first and last", {6, 7, 8}, {0, 2});
  cases.push_back(with_tol(make("mean", {{257, 3}}, [](auto& in, Device) { return mean(in[0], {0}, true); }),
                           1e-6, 1e-6, 1e-6, 1e-6));
  // max: the scan, warp-per-row and block-per-row variants. Random inputs have no ties.
  auto max_case = [&](Shape s, int axis) {
    cases.push_back(with_tol(make("max " + shape_str(s) + " axis " + std::to_string(axis), {s},
                                  [axis](auto& in, Device) { return r2g2::max(in[0], axis); }),
                             0, 1e-30, 0, 1e-30));  // a copy of an element: exact
    cases.push_back(no_grad(make("argmax " + shape_str(s) + " axis " + std::to_string(axis), {s},
                                 [axis](auto& in, Device) { return r2g2::argmax(in[0], axis); })));
  };
  max_case({7, 40}, 1);
  max_case({100, 300}, 1);
  max_case({50, 3000}, 1);
  max_case({30, 20, 9}, 1);
  max_case({1, big}, 1);
  max_case({1}, 0);
  return cases;
}

std::vector<OpCase> softmax_cases() {
  std::vector<OpCase> cases;
  // log-softmax sums exponentials in double on both devices; the CUDA exp differs from
  // glibc's by an ulp or so.
  for (Shape s : {Shape{1, 1}, Shape{7, 10}, Shape{1000, 10}, Shape{33, 1025}, Shape{4, 30000}})
    cases.push_back(with_tol(
        make("log_softmax " + shape_str(s), {s}, [](auto& in, Device) { return log_softmax(in[0]); }), 1e-5,
        1e-6, 1e-5, 1e-6));
  cases.push_back(
      with_tol(make("log_softmax axis 0", {{300, 7}}, [](auto& in, Device) { return log_softmax(in[0], 0); }),
               1e-5, 1e-6, 1e-5, 1e-6));
  cases.push_back(with_range(with_tol(make("log_softmax large logits", {{64, 100}},
                                           [](auto& in, Device) { return log_softmax(in[0]); }),
                                      1e-5, 1e-5, 1e-5, 1e-6),
                             -80, 80));
  for (Shape s : {Shape{1, 2}, Shape{7, 10}, Shape{256, 1000}, Shape{3, 2000}}) {
    const int64_t rows = s[0], classes = s[1];
    // The gradient (softmax - onehot) / rows takes exp in float; softmax ~ 1 at the label
    // cancels, so the absolute tolerance is a few float ulps of 1, over rows.
    const double grad_atol = 1e-6 / static_cast<double>(rows);
    cases.push_back(with_range(with_tol(make("cross_entropy " + shape_str(s), {s},
                                             [rows, classes](auto& in, Device d) {
                                               return cross_entropy(in[0],
                                                                    r2g2::test::labels(rows, classes, 5, d));
                                             }),
                                        1e-5, 1e-6, 1e-5, grad_atol),
                               -3, 3));
  }
  for (int64_t n : {int64_t{1}, int64_t{1001}, kLarge}) {
    // Gradients are (sigmoid(x) - t) / n with sigmoid in float (a few ulps apart on the two
    // devices, ~3e-7 absolute), which cancels where sigmoid(x) ~ t: absolute tolerance 1e-6 / n.
    cases.push_back(with_range(with_tol(make("bce_with_logits n=" + std::to_string(n), {{n}, {n}},
                                             [](auto& in, Device) {
                                               return binary_cross_entropy_with_logits(
                                                   in[0], mul(add(in[1], 1.0), 0.5));
                                             }),
                                        1e-5, 1e-6, 1e-5, 1e-6 / static_cast<double>(n)),
                               -4, 4));
  }
  return cases;
}

std::vector<OpCase> gather_cases() {
  std::vector<OpCase> cases;
  auto index = [](int64_t n, int64_t rows, Device d) { return r2g2::test::labels(n, rows, 11, d); };
  // Many repeats of few rows: the backward adds duplicates in order.
  cases.push_back(make("gather_rows dup", {{5, 7}},
                       [index](auto& in, Device d) { return gather_rows(in[0], index(300, 5, d)); }));
  cases.push_back(make("gather_rows 3d", {{50, 3, 4}},
                       [index](auto& in, Device d) { return gather_rows(in[0], index(17, 50, d)); }));
  cases.push_back(make("gather_rows 1d", {{1}},
                       [index](auto& in, Device d) { return gather_rows(in[0], index(9, 1, d)); }));
  cases.push_back(make("gather_rows wide", {{600, 784}},
                       [index](auto& in, Device d) { return gather_rows(in[0], index(128, 600, d)); }));
  return cases;
}

std::vector<OpCase> composite_cases() {
  std::vector<OpCase> cases;
  cases.push_back(
      with_tol(make("matmul", {{33, 65}, {65, 17}}, [](auto& in, Device) { return matmul(in[0], in[1]); }),
               1e-4, 1e-5, 1e-4, 1e-5));
  cases.push_back(
      with_tol(make("linear relu softmax", {{16, 40}, {40, 30}, {30}},
                    [](auto& in, Device) { return log_softmax(relu(add(matmul(in[0], in[1]), in[2]))); }),
               1e-4, 1e-5, 1e-4, 1e-5));
  return cases;
}

void run_case(const OpCase& c, uint64_t seed) {
  CAPTURE(c.name);
  const Device cuda = Device::cuda();
  std::vector<Tensor> cpu_in, gpu_in;
  for (size_t i = 0; i < c.inputs.size(); ++i) {
    Tensor x = uniform(c.inputs[i], seed + 17 * i, c.lo, c.hi, DType::f32);
    Tensor g = x.to(cuda);  // x needs no gradient yet, so this is a plain copy
    if (c.grad) {
      x.requires_grad_(true);
      g.requires_grad_(true);
    }
    cpu_in.push_back(x);
    gpu_in.push_back(g);
  }
  Tensor y_cpu = c.f(cpu_in, Device::cpu());
  Tensor y_gpu = c.f(gpu_in, cuda);
  REQUIRE(y_gpu.device() == cuda);
  REQUIRE(y_gpu.shape() == y_cpu.shape());
  REQUIRE(y_gpu.dtype() == y_cpu.dtype());
  if (y_cpu.dtype() == DType::i32) {
    CHECK(y_gpu.to_int_vector() == y_cpu.to_int_vector());
    return;
  }
  const double fwd = closeness(y_gpu, y_cpu, c.rtol, c.atol);
  CHECK_MESSAGE(fwd <= 1.0, "forward closeness ", fwd);
  if (!c.grad) return;
  // A fixed random weighting makes every output element matter to the gradient.
  Tensor w = uniform(y_cpu.shape(), seed + 1000, -1.0, 1.0, DType::f32);
  backward(sum(mul(y_cpu, w)));
  backward(sum(mul(y_gpu, w.to(cuda))));
  for (size_t i = 0; i < cpu_in.size(); ++i) {
    CAPTURE(i);
    REQUIRE(cpu_in[i].grad().defined());
    REQUIRE(gpu_in[i].grad().defined());
    CHECK(gpu_in[i].grad().device() == cuda);
    const double g = closeness(gpu_in[i].grad(), cpu_in[i].grad(), c.grad_rtol, c.grad_atol);
    CHECK_MESSAGE(g <= 1.0, "gradient closeness ", g);
  }
}

void run_all(const std::vector<OpCase>& cases) {
  uint64_t seed = 1;
  for (const OpCase& c : cases) run_case(c, seed++);
}

}  // namespace

TEST_CASE("ops: unary, CUDA vs CPU") {
  R2G2_REQUIRE_CUDA();
  run_all(unary_cases());
}

TEST_CASE("ops: binary, broadcasting and strided, CUDA vs CPU") {
  R2G2_REQUIRE_CUDA();
  run_all(binary_cases());
}

TEST_CASE("ops: reductions, CUDA vs CPU") {
  R2G2_REQUIRE_CUDA();
  run_all(reduce_cases());
}

TEST_CASE("ops: log_softmax and losses, CUDA vs CPU") {
  R2G2_REQUIRE_CUDA();
  run_all(softmax_cases());
}

TEST_CASE("ops: gather_rows, CUDA vs CPU") {
  R2G2_REQUIRE_CUDA();
  run_all(gather_cases());
}

TEST_CASE("ops: composites with matmul, CUDA vs CPU") {
  R2G2_REQUIRE_CUDA();
  run_all(composite_cases());
}

TEST_CASE("ops: float64 on CUDA agrees with the CPU to double precision") {
  R2G2_REQUIRE_CUDA();
  const Device cuda = Device::cuda();
  Tensor x = uniform({129, 301}, 3, -2, 2);  // float64
  Tensor xg = x.to(cuda);
  auto f = [](const Tensor& a) { return sum(mul(log_softmax(tanh(a)), sigmoid(a)), {1}); };
  CHECK(closeness(f(xg), f(x), 1e-12, 1e-13) <= 1.0);
  Tensor big = uniform({kLargeOdd}, 4, -1, 1);
  // Sequential vs tree order over 1e6 doubles: rounding differences of ~1e-10 at most.
  CHECK(closeness(sum(big.to(cuda)), sum(big), 1e-10, 1e-9) <= 1.0);
}

TEST_CASE("ops: edge values match the CPU (inf, large logits, NaN rules of max)") {
  R2G2_REQUIRE_CUDA();
  const Device cuda = Device::cuda();
  const double inf = INFINITY, nan = NAN;
  // softplus / sigmoid far out, exp overflow to inf
  Tensor x = Tensor::from_vector(std::vector<double>{-1000, -90, -20, 0, 20, 90, 1000}, {7}, DType::f32);
  Tensor (*const fns[])(const Tensor&) = {r2g2::softplus, r2g2::sigmoid, r2g2::exp, r2g2::tanh};
  for (auto f : fns) {
    auto a = f(x).to_vector(), b = f(x.to(cuda)).to_vector();
    for (size_t i = 0; i < a.size(); ++i) {
      if (std::isinf(a[i]))
        CHECK(b[i] == a[i]);
      else
        CHECK(std::abs(b[i] - a[i]) <= 1e-6 * (1 + std::abs(a[i])));
    }
  }
  // a row of -inf logits with one finite value; a row that is all -inf gives NaN on both
  Tensor logits =
      Tensor::from_vector(std::vector<double>{-inf, 0.5, -inf, -inf, -inf, -inf}, {2, 3}, DType::f32);
  auto a = log_softmax(logits).to_vector(), b = log_softmax(logits.to(cuda)).to_vector();
  for (size_t i = 0; i < a.size(); ++i) CHECK((std::isnan(a[i]) ? std::isnan(b[i]) : b[i] == a[i]));
  // max: a NaN first in the row sticks, a later NaN is passed over; ties go to the first
  for (int64_t r : {int64_t{5}, int64_t{200}, int64_t{3000}}) {  // scan, warp and block variants
    CAPTURE(r);
    std::vector<double> v(static_cast<size_t>(3 * r), 0.25);
    v[0] = nan;                           // row 0: NaN first
    v[static_cast<size_t>(r) + 2] = nan;  // row 1: NaN later, max 0.75 twice
    v[static_cast<size_t>(r) + 3] = 0.75;
    v[static_cast<size_t>(2 * r) - 1] = 0.75;
    v[static_cast<size_t>(2 * r) + r / 2] = -0.0;  // row 2: all 0.25 but one -0
    Tensor m = Tensor::from_vector(v, {3, r}, DType::f32);
    auto ca = argmax(m, 1).to_int_vector(), ga = argmax(m.to(cuda), 1).to_int_vector();
    CHECK(ga == ca);
    CHECK(ca == std::vector<int32_t>{0, 3, 0});
    auto cv = max(m, 1).to_vector(), gv = max(m.to(cuda), 1).to_vector();
    CHECK(std::isnan(gv[0]));
    CHECK(gv[1] == cv[1]);
    CHECK(gv[2] == cv[2]);
  }
}
