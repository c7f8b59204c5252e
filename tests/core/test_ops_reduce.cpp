// Reductions: sum / mean over axes and all (also of strided inputs), max / argmax.
#include <doctest/doctest.h>

#include <algorithm>
#include <numeric>
#include <random>
#include <string>

#include "test_util.h"

using namespace r2g2;
using r2g2::test::closeness;
using r2g2::test::error_of;
using r2g2::test::gradcheck;
using r2g2::test::uniform;

namespace {

Shape random_shape(std::mt19937& rng, int min_rank, int max_rank) {
  Shape s(std::uniform_int_distribution<int>(min_rank, max_rank)(rng));
  for (auto& d : s) d = std::uniform_int_distribution<int>(1, 5)(rng);
  return s;
}

// A random non-empty subset of the axes of a rank-n tensor, some given as negative.
std::vector<int> random_axes(std::mt19937& rng, int n) {
  std::vector<int> axes;
  for (int i = 0; i < n; ++i)
    if (rng() % 2) axes.push_back(rng() % 2 ? i : i - n);
  if (axes.empty() && n > 0) axes.push_back(static_cast<int>(rng() % n));
  std::shuffle(axes.begin(), axes.end(), rng);
  return axes;
}

// Distinct values (gaps of 0.1, far wider than the finite-difference step), shuffled.
Tensor distinct(const Shape& shape, uint64_t seed) {
  std::vector<double> v(static_cast<size_t>(numel_of(shape)));
  std::iota(v.begin(), v.end(), 0.0);
  std::mt19937 rng(static_cast<unsigned>(seed));
  std::shuffle(v.begin(), v.end(), rng);
  for (auto& x : v) x = 0.1 * x - 1.0;
  return Tensor::from_vector(v, shape, DType::f64);
}

}  // namespace

TEST_CASE("sum and mean: forward values") {
  Tensor a = Tensor::from_vector(std::vector<double>{1, 2, 3, 4, 5, 6}, {2, 3}, DType::f64);
  CHECK(sum(a).shape() == Shape{});
  CHECK(sum(a).item() == 21);
  CHECK(sum(a, {0}).to_vector() == std::vector<double>{5, 7, 9});
  CHECK(sum(a, {1}).to_vector() == std::vector<double>{6, 15});
  CHECK(sum(a, {-1}, true).shape() == Shape{2, 1});
  CHECK(sum(a, {0, 1}, true).shape() == Shape{1, 1});
  CHECK(sum(a, {1, 0}).item() == 21);
  CHECK(mean(a).item() == 3.5);
  CHECK(mean(a, {0}).to_vector() == std::vector<double>{2.5, 3.5, 4.5});
  CHECK(mean(a, {1}, true).to_vector() == std::vector<double>{2, 5});
  CHECK(mean(a, {1}, true).shape() == Shape{2, 1});
  // Rank 0 and size-1 axes.
  CHECK(sum(Tensor::scalar(4.0, DType::f64)).item() == 4.0);
  CHECK(sum(Tensor::ones({1, 3, 1}, DType::f64), {0, 2}).to_vector() == std::vector<double>{1, 1, 1});
  // float32 sums accumulate in double: 1e5 float additions of 0.1 would drift by ~1e-4.
  Tensor many = Tensor::full({100000}, 0.1, DType::f32);
  CHECK(sum(many).item() == doctest::Approx(10000.0).epsilon(1e-6));
}

TEST_CASE("sum returns a fresh tensor even when nothing is reduced") {
  Tensor a = Tensor::from_vector(std::vector<double>{1, 2}, {2, 1}, DType::f64);
  Tensor s = sum(a, {1});
  CHECK(s.shape() == Shape{2});
  s.fill_(9.0);
  CHECK(a.to_vector() == std::vector<double>{1, 2});
  Tensor none = sum(a, {});
  CHECK(none.shape() == Shape{2, 1});
  none.fill_(9.0);
  CHECK(a.to_vector() == std::vector<double>{1, 2});
}

TEST_CASE("sum over axes of non-contiguous inputs") {
  Tensor base = Tensor::from_vector(std::vector<double>{1, 2, 3, 4, 5, 6}, {2, 3}, DType::f64);
  Tensor t = base.t();  // [[1,4],[2,5],[3,6]]
  CHECK(sum(t, {0}).to_vector() == std::vector<double>{6, 15});
  CHECK(sum(t, {1}).to_vector() == std::vector<double>{5, 7, 9});
  CHECK(sum(t).item() == 21);
  Tensor s = base.slice(1, 1, 3);  // [[2,3],[5,6]] at offset 1
  CHECK(sum(s, {0}).to_vector() == std::vector<double>{7, 9});
  CHECK(sum(s, {1}).to_vector() == std::vector<double>{5, 11});
  Tensor cube = uniform({2, 3, 4}, 3);
  Tensor perm = transpose(cube, 0, 2);  // [4, 3, 2], strided
  CHECK(closeness(sum(perm, {0, 2}), sum(perm.contiguous(), {0, 2}), 1e-15, 1e-15) <= 1);
  CHECK(closeness(sum(perm, {1}), sum(perm.contiguous(), {1}), 1e-15, 1e-15) <= 1);
  CHECK(gradcheck(
            [](const std::vector<Tensor>& v) {
              return sum(transpose(v[0], 0, 2), {0, 2});
            },
            {uniform({2, 3, 4}, 4)}) <= 1);
  CHECK(gradcheck([](const std::vector<Tensor>& v) { return mean(slice(v[0], 1, 1, 3), {1}, true); },
                  {uniform({3, 4}, 5)}) <= 1);
}

TEST_CASE("sum and mean: gradients over random axes and shapes") {
  std::mt19937 rng(11);
  for (int trial = 0; trial < 12; ++trial) {
    Shape s = random_shape(rng, 1, 4);
    std::vector<int> axes = random_axes(rng, static_cast<int>(s.size()));
    bool keepdim = rng() % 2;
    CAPTURE(shape_str(s));
    CAPTURE(keepdim);
    CHECK(gradcheck([&](const std::vector<Tensor>& v) { return sum(v[0], axes, keepdim); },
                    {uniform(s, 200 + trial)}) <= 1);
    CHECK(gradcheck([&](const std::vector<Tensor>& v) { return mean(v[0], axes, keepdim); },
                    {uniform(s, 300 + trial)}) <= 1);
  }
  for (const Shape& s : {Shape{}, Shape{1}, Shape{3, 1, 2}}) {
    CHECK(gradcheck([](const std::vector<Tensor>& v) { return sum(v[0]); }, {uniform(s, 1)}) <= 1);
    CHECK(gradcheck([](const std::vector<Tensor>& v) { return mean(v[0]); }, {uniform(s, 2)}) <= 1);
  }
}

TEST_CASE("mean backward spreads 1/count") {
  Tensor x = Tensor::zeros({2, 4}, DType::f64).requires_grad_();
  backward(mean(x));
  CHECK(x.grad().to_vector() == std::vector<double>(8, 0.125));
}

TEST_CASE("max and argmax: forward values") {
  // [[3, 9, 1], [7, 2, 8]]
  Tensor a = Tensor::from_vector(std::vector<double>{3, 9, 1, 7, 2, 8}, {2, 3}, DType::f64);
  CHECK(max(a, 1).to_vector() == std::vector<double>{9, 8});
  CHECK(max(a, 1).shape() == Shape{2});
  CHECK(max(a, 0).to_vector() == std::vector<double>{7, 9, 8});
  CHECK(max(a, -1, true).shape() == Shape{2, 1});
  Tensor am = argmax(a, 1);
  CHECK(am.dtype() == DType::i32);
  CHECK(am.shape() == Shape{2});
  CHECK(am.to_int_vector() == std::vector<int32_t>{1, 2});
  CHECK(argmax(a, 0).to_int_vector() == std::vector<int32_t>{1, 0, 1});
  // Strided input: argmax over the transposed view's axis 0 is argmax over a's axis 1.
  CHECK(argmax(a.t(), 0).to_int_vector() == std::vector<int32_t>{1, 2});
  CHECK(max(a.t(), 1).to_vector() == std::vector<double>{7, 9, 8});
  // float32, negative values, middle axis of a 3-D tensor.
  Tensor b = Tensor::from_vector(std::vector<double>{-5, -1, -3, -2, -4, -6}, {1, 3, 2}, DType::f32);
  CHECK(max(b, 1).to_vector() == std::vector<double>{-3, -1});
  CHECK(argmax(b, 1).to_int_vector() == std::vector<int32_t>{1, 0});
  CHECK(argmax(b, 1).shape() == Shape{1, 2});
}

TEST_CASE("max: ties go to the first maximum, in value and in gradient") {
  Tensor a = Tensor::from_vector(std::vector<double>{2, 5, 5, 1}, {4}, DType::f64).requires_grad_();
  CHECK(argmax(a, 0).to_int_vector() == std::vector<int32_t>{1});
  Tensor m = max(a, 0);
  CHECK(m.item() == 5);
  backward(m);
  CHECK(a.grad().to_vector() == std::vector<double>{0, 1, 0, 0});
}

TEST_CASE("max: gradient reaches the argmax only (distinct values)") {
  Shape shapes[] = {{5}, {3, 4}, {2, 3, 5}, {4, 1, 3}, {1, 1}};
  uint64_t seed = 1;
  for (const Shape& s : shapes)
    for (int axis = -static_cast<int>(s.size()); axis < static_cast<int>(s.size()); ++axis)
      for (bool keepdim : {false, true}) {
        CAPTURE(shape_str(s));
        CAPTURE(axis);
        CHECK(gradcheck([&](const std::vector<Tensor>& v) { return max(v[0], axis, keepdim); },
                        {distinct(s, seed++)}) <= 1);
      }
  CHECK(gradcheck([](const std::vector<Tensor>& v) { return max(transpose(v[0], 0, 1), 1); },
                  {distinct({4, 3}, 99)}) <= 1);
}

TEST_CASE("max and argmax: errors") {
  Tensor a = Tensor::zeros({2, 0, 3});
  std::string msg = error_of([&] { max(a, 1); });
  CHECK(msg.find("[2, 0, 3]") != std::string::npos);
  CHECK(msg.find("empty") != std::string::npos);
  CHECK_THROWS_AS(argmax(a, 1), Error);
  CHECK_THROWS_WITH_AS(max(Tensor::zeros({2, 3}), 2), doctest::Contains("[2, 3]"), Error);
  CHECK_THROWS_AS(argmax(Tensor::zeros({2, 3}), -3), Error);
  CHECK(argmax(Tensor::zeros({2, 3}), 1).requires_grad() == false);
}

TEST_CASE("sum and mean: errors") {
  Tensor a = Tensor::zeros({2, 3});
  CHECK_THROWS_WITH_AS(sum(a, {2}), doctest::Contains("[2, 3]"), Error);
  CHECK_THROWS_WITH_AS(sum(a, {1, -1}), doctest::Contains("repeated"), Error);
  CHECK_THROWS_AS(mean(Tensor::zeros({0})), Error);
  CHECK_THROWS_AS(mean(Tensor::zeros({2, 0}), {1}), Error);
}
