// matmul: values against a naive triple loop for 2-D, batched, batched x 2-D and
// strided operands; finite-difference gradients; shape errors.
#include <doctest/doctest.h>

#include "r2g2/core/error.h"
#include "test_util.h"

namespace {

using namespace r2g2;
using r2g2::test::closeness;
using r2g2::test::gradcheck;
using r2g2::test::uniform;

// [..., n, k] x [..., k, m] (or x [k, m]) by the definition, in double, over logical
// element order (to_vector reads any view correctly).
Tensor naive_matmul(const Tensor& a, const Tensor& b) {
  const auto va = a.to_vector(), vb = b.to_vector();
  const int64_t n = a.shape()[a.dim() - 2], k = a.shape()[a.dim() - 1], m = b.shape()[b.dim() - 1];
  const int64_t batch = a.numel() / (n * k);
  const bool shared = b.dim() == 2;
  std::vector<double> out(static_cast<size_t>(batch * n * m), 0.0);
  for (int64_t s = 0; s < batch; ++s)
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < m; ++j) {
        double acc = 0;
        for (int64_t p = 0; p < k; ++p)
          acc += va[s * n * k + i * k + p] * vb[(shared ? 0 : s * k * m) + p * m + j];
        out[s * n * m + i * m + j] = acc;
      }
  Shape shape(a.shape().begin(), a.shape().end() - 1);
  shape.push_back(m);
  return Tensor::from_vector(out, shape, DType::f64);
}

void check_matmul(const Tensor& a, const Tensor& b) {
  Tensor got = matmul(a, b);
  Tensor want = naive_matmul(a, b);
  INFO("a ", shape_str(a.shape()), " b ", shape_str(b.shape()), " dtype ", dtype_name(a.dtype()));
  REQUIRE(got.shape() == want.shape());
  CHECK(got.dtype() == a.dtype());
  const bool f32 = a.dtype() == DType::f32;
  CHECK(closeness(got, want, f32 ? 1e-5 : 1e-12, f32 ? 1e-5 : 1e-12) <= 1.0);
}

}  // namespace

TEST_CASE("matmul: 2-D products of every awkward shape match the triple loop") {
  const Shape shapes[][2] = {{{1, 5}, {5, 1}},     {{5, 1}, {1, 4}},      {{1, 1}, {1, 1}},
                             {{3, 5}, {5, 7}},     {{13, 1}, {1, 9}},     {{1, 17}, {17, 3}},
                             {{31, 29}, {29, 37}}, {{70, 300}, {300, 41}}};
  for (DType dt : {DType::f64, DType::f32})
    for (const auto& s : shapes) check_matmul(uniform(s[0], 1, -1, 1, dt), uniform(s[1], 2, -1, 1, dt));
}

TEST_CASE("matmul: batched with equal leading dims, and batched x 2-D") {
  for (DType dt : {DType::f64, DType::f32}) {
    check_matmul(uniform({2, 3, 4, 5}, 3, -1, 1, dt), uniform({2, 3, 5, 6}, 4, -1, 1, dt));
    check_matmul(uniform({4, 1, 7}, 5, -1, 1, dt), uniform({4, 7, 1}, 6, -1, 1, dt));
    check_matmul(uniform({4, 3, 5}, 7, -1, 1, dt), uniform({5, 2}, 8, -1, 1, dt));
    check_matmul(uniform({2, 3, 1, 5}, 9, -1, 1, dt), uniform({5, 3}, 10, -1, 1, dt));
  }
}

TEST_CASE("matmul: transposed, sliced and permuted views give the same values as copies") {
  Tensor a = uniform({6, 4}, 11), b = uniform({5, 6}, 12);
  check_matmul(a.t(), b.t());                               // both read through transpose flags
  check_matmul(b, a);                                       // plain
  check_matmul(a.t(), uniform({6, 3}, 13));                 // transposed left only
  check_matmul(uniform({2, 6}, 14), b.t());                 // transposed right only
  check_matmul(a.slice(1, 1, 3).t(), uniform({6, 2}, 15));  // transposed column slice
  check_matmul(uniform({3, 6}, 16), a.slice(1, 1, 4));      // row stride 4 > width 3
  check_matmul(a.slice(0, 2, 3), uniform({4, 5}, 17));      // a single row view

  Tensor c = uniform({3, 5, 4}, 18), d = uniform({3, 5, 2}, 19);
  check_matmul(c.transpose(-2, -1), d);                     // batched, transposed left
  check_matmul(d.transpose(1, 2), c);                       // batched, transposed right-shaped left
  check_matmul(c.transpose(0, 1), uniform({5, 4, 2}, 20));  // batch stride 4 < matrix size: read in place
  Tensor e = uniform({2, 3, 4, 5}, 25);
  check_matmul(e.transpose(0, 1), uniform({3, 2, 5, 2}, 26));  // batch axes not collapsible: copied
  check_matmul(c.transpose(-2, -1), uniform({5, 3}, 21));      // batched-transposed x 2-D
  check_matmul(c, uniform({2, 4}, 22).t());                    // batched x transposed 2-D

  Tensor f = uniform({4, 6}, 23, -1, 1, DType::f32);
  check_matmul(f.t(), uniform({4, 3}, 24, -1, 1, DType::f32));
}

TEST_CASE("matmul: an inner size of zero gives zeros, empty outputs are empty") {
  Tensor z = matmul(Tensor::zeros({3, 0}, DType::f64), Tensor::zeros({0, 2}, DType::f64));
  CHECK(z.shape() == Shape{3, 2});
  CHECK(z.to_vector() == std::vector<double>(6, 0.0));
  CHECK(matmul(Tensor::zeros({0, 4}), Tensor::zeros({4, 2})).shape() == Shape{0, 2});
}

TEST_CASE("matmul: gradients by finite differences (2-D, batched, batched x 2-D, views)") {
  auto mm = [](const std::vector<Tensor>& in) { return matmul(in[0], in[1]); };
  CHECK(gradcheck(mm, {uniform({3, 4}, 31), uniform({4, 5}, 32)}) <= 1.0);
  CHECK(gradcheck(mm, {uniform({1, 4}, 33), uniform({4, 1}, 34)}) <= 1.0);
  CHECK(gradcheck(mm, {uniform({2, 3, 4}, 35), uniform({2, 4, 2}, 36)}) <= 1.0);
  CHECK(gradcheck(mm, {uniform({2, 2, 3, 4}, 37), uniform({2, 2, 4, 2}, 38)}) <= 1.0);
  CHECK(gradcheck(mm, {uniform({3, 2, 4}, 39), uniform({4, 5}, 40)}) <= 1.0);
  auto mm_t = [](const std::vector<Tensor>& in) { return matmul(in[0].t(), transpose(in[1], 0, 1)); };
  CHECK(gradcheck(mm_t, {uniform({4, 3}, 41), uniform({5, 4}, 42)}) <= 1.0);
  auto bmm_t = [](const std::vector<Tensor>& in) { return matmul(in[0].transpose(-2, -1), in[1]); };
  CHECK(gradcheck(bmm_t, {uniform({2, 4, 3}, 43), uniform({4, 2}, 44)}) <= 1.0);
}

TEST_CASE("matmul: gradient only flows to the operands that require it") {
  Tensor a = uniform({2, 3}, 51), b = uniform({3, 4}, 52);
  b.requires_grad_(true);
  backward(sum(matmul(a, b)));
  CHECK_FALSE(a.grad().defined());
  REQUIRE(b.grad().defined());
  // d sum(A B) / dB[p, j] = sum_i A[i, p]
  auto av = a.to_vector(), gb = b.grad().to_vector();
  for (int p = 0; p < 3; ++p)
    for (int j = 0; j < 4; ++j) CHECK(gb[p * 4 + j] == doctest::Approx(av[p] + av[3 + p]).epsilon(1e-12));
}

TEST_CASE("matmul: shape, rank, dtype errors name both shapes") {
  CHECK_THROWS_WITH_AS(matmul(Tensor::zeros({2, 3}), Tensor::zeros({4, 5})),
                       doctest::Contains("[2, 3] and [4, 5]"), Error);
  CHECK_THROWS_WITH_AS(matmul(Tensor::zeros({3}), Tensor::zeros({3, 2})), doctest::Contains("[3] and [3, 2]"),
                       Error);
  CHECK_THROWS_WITH_AS(matmul(Tensor::zeros({2, 3, 4}), Tensor::zeros({3, 4, 5})),
                       doctest::Contains("batch dimensions"), Error);
  CHECK_THROWS_WITH_AS(matmul(Tensor::zeros({3, 4}), Tensor::zeros({2, 4, 5})),
                       doctest::Contains("[3, 4] and [2, 4, 5]"), Error);
  CHECK_THROWS_WITH_AS(matmul(Tensor::zeros({2, 3}), Tensor::zeros({3, 2}, DType::f64)),
                       doctest::Contains("float32 and float64"), Error);
  CHECK_THROWS_AS(matmul(Tensor::zeros({2, 3}, DType::i32), Tensor::zeros({3, 2}, DType::i32)), Error);
}
