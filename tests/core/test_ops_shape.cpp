// Shape ops (reshape, transpose, slice, concat), row gather, contiguous and dtype
// conversion: values, views, gradients and errors.
#include <doctest/doctest.h>

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

Tensor iota(const Shape& shape, DType dt = DType::f64) {
  std::vector<double> v(static_cast<size_t>(numel_of(shape)));
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<double>(i);
  return Tensor::from_vector(v, shape, dt);
}

}  // namespace

TEST_CASE("reshape: values, -1, views and copies") {
  Tensor a = iota({2, 3});
  Tensor r = reshape(a, {3, -1});
  CHECK(r.shape() == Shape{3, 2});
  CHECK(r.to_vector() == a.to_vector());
  CHECK(r.impl().storage == a.impl().storage);  // contiguous: a view
  CHECK(reshape(a, {6}).shape() == Shape{6});
  CHECK(reshape(a, {1, 6, 1}).shape() == Shape{1, 6, 1});
  CHECK(reshape(Tensor::scalar(3.0, DType::f64), {1, 1}).to_vector() == std::vector<double>{3});
  CHECK(reshape(Tensor::ones({1, 1}, DType::f64), {}).shape() == Shape{});
  // A transposed tensor is copied in logical order.
  Tensor t = a.t();  // [[0,3],[1,4],[2,5]]
  Tensor rt = reshape(t, {6});
  CHECK(rt.to_vector() == std::vector<double>{0, 3, 1, 4, 2, 5});
  CHECK(rt.impl().storage != a.impl().storage);
}

TEST_CASE("reshape: errors name the shapes") {
  Tensor a = Tensor::zeros({2, 3});
  std::string msg = error_of([&] { reshape(a, {4, 2}); });
  CHECK(contains(msg, "[2, 3]"));
  CHECK(contains(msg, "[4, 2]"));
  CHECK_THROWS_WITH_AS(reshape(a, {-1, -1}), doctest::Contains("more than one -1"), Error);
  CHECK_THROWS_WITH_AS(reshape(a, {4, -1}), doctest::Contains("[4, -1]"), Error);
  CHECK_THROWS_AS(reshape(a, {-2, 3}), Error);
}

TEST_CASE("transpose and slice: views of the same storage") {
  Tensor a = iota({2, 3, 4});
  Tensor t = transpose(a, 0, 2);
  CHECK(t.shape() == Shape{4, 3, 2});
  CHECK(t.impl().storage == a.impl().storage);
  CHECK_FALSE(t.is_contiguous());
  // t[i, j, k] = a[k, j, i] = 12k + 4j + i.
  auto tv = t.to_vector();
  CHECK(tv[(1 * 3 + 2) * 2 + 1] == 12 * 1 + 4 * 2 + 1);
  CHECK(transpose(a, -1, 0).shape() == Shape{4, 3, 2});
  Tensor s = slice(a, 1, 1, 3);
  CHECK(s.shape() == Shape{2, 2, 4});
  CHECK(s.impl().storage == a.impl().storage);
  // s[1, 0, 2] = a[1, 1, 2] = 12 + 4 + 2.
  CHECK(s.to_vector()[(1 * 2 + 0) * 4 + 2] == 18);
  CHECK(slice(a, -1, 3, 4).to_vector() == std::vector<double>{3, 7, 11, 15, 19, 23});
  CHECK(slice(a, 0, 1, 1).numel() == 0);
  // A slice of a transpose of a slice.
  Tensor nested = slice(transpose(slice(a, 2, 1, 4), 1, 2), 1, 1, 2);  // [2, 1, 3]
  CHECK(nested.to_vector() == std::vector<double>{4 * 0 + 2, 6, 10, 14, 18, 22});
}

TEST_CASE("transpose and slice: errors") {
  Tensor a = Tensor::zeros({2, 3});
  CHECK_THROWS_WITH_AS(transpose(a, 0, 2), doctest::Contains("[2, 3]"), Error);
  std::string msg = error_of([&] { slice(a, 1, 2, 5); });
  CHECK(contains(msg, "[2, 5)"));
  CHECK(contains(msg, "[2, 3]"));
  CHECK_THROWS_AS(slice(a, 0, 2, 1), Error);
  CHECK_THROWS_AS(slice(a, 0, -1, 1), Error);
}

TEST_CASE("reshape, transpose, slice: gradients") {
  using V = const std::vector<Tensor>&;
  CHECK(gradcheck([](V v) { return reshape(v[0], {3, -1}); }, {uniform({2, 3, 2}, 1)}) <= 1);
  CHECK(gradcheck([](V v) { return reshape(v[0], {}); }, {uniform({1, 1}, 2)}) <= 1);
  // reshape of a strided view copies; the gradient goes back through the copy and transpose.
  CHECK(gradcheck([](V v) { return reshape(transpose(v[0], 0, 1), {-1}); }, {uniform({3, 4}, 3)}) <= 1);
  CHECK(gradcheck([](V v) { return reshape(slice(v[0], 1, 1, 3), {2, 2, 2}); }, {uniform({4, 4}, 4)}) <= 1);
  CHECK(gradcheck([](V v) { return transpose(v[0], 0, 2); }, {uniform({2, 3, 5}, 5)}) <= 1);
  CHECK(gradcheck([](V v) { return transpose(transpose(v[0], 0, 1), 1, 2); }, {uniform({2, 3, 5}, 6)}) <= 1);
  for (int axis = 0; axis < 3; ++axis)
    for (auto range : {std::pair<int64_t, int64_t>{0, 1}, {1, 3}, {2, 3}, {0, 3}}) {
      const int64_t start = range.first, end = range.second;
      CAPTURE(axis);
      CAPTURE(start);
      CAPTURE(end);
      CHECK(gradcheck([&](V v) { return slice(v[0], axis, start, end); }, {uniform({3, 3, 3}, 7 + axis)}) <=
            1);
    }
  CHECK(gradcheck([](V v) { return slice(transpose(v[0], 0, 1), 0, 1, 2); }, {uniform({2, 3}, 8)}) <= 1);
}

TEST_CASE("slice backward puts zeros outside the slice") {
  Tensor x = Tensor::zeros({2, 4}, DType::f64).requires_grad_();
  backward(sum(mul(slice(x, 1, 1, 3), 5.0)));
  CHECK(x.grad().to_vector() == std::vector<double>{0, 5, 5, 0, 0, 5, 5, 0});
}

TEST_CASE("concat: values, gradients, errors") {
  Tensor a = iota({2, 2});
  Tensor b = add(iota({2, 1}), 10.0);
  Tensor c = concat({a, b}, 1);
  CHECK(c.shape() == Shape{2, 3});
  CHECK(c.to_vector() == std::vector<double>{0, 1, 10, 2, 3, 11});
  CHECK(concat({a, a}, 0).to_vector() == std::vector<double>{0, 1, 2, 3, 0, 1, 2, 3});
  CHECK(concat({a.t(), a}, -1).to_vector() == std::vector<double>{0, 2, 0, 1, 1, 3, 2, 3});
  using V = const std::vector<Tensor>&;
  for (int axis = 0; axis < 3; ++axis) {
    Shape s1 = {2, 3, 2}, s2 = s1, s3 = s1;
    s2[axis] = 1;
    s3[axis] = 3;
    CAPTURE(axis);
    CHECK(gradcheck(
              [axis](V v) {
                return concat({v[0], v[1], v[2]}, axis);
              },
              {uniform(s1, 1), uniform(s2, 2), uniform(s3, 3)}) <= 1);
  }
  // One part without a gradient, one used twice.
  Tensor constant = uniform({2, 2}, 4);
  CHECK(gradcheck([&](V v) { return concat({v[0], constant, v[0]}, 0); }, {uniform({1, 2}, 5)}) <= 1);
  std::string msg = error_of([] { concat({Tensor::zeros({2, 3}), Tensor::zeros({3, 3})}, 1); });
  CHECK(contains(msg, "[2, 3]"));
  CHECK(contains(msg, "[3, 3]"));
  CHECK_THROWS_AS(concat({Tensor::zeros({2}), Tensor::zeros({2}, DType::f64)}, 0), Error);
  CHECK_THROWS_AS(concat({}, 0), Error);
}

TEST_CASE("gather_rows: values, repeated rows, int32 labels") {
  Tensor a = iota({4, 2});  // rows [0,1] [2,3] [4,5] [6,7]
  Tensor idx = Tensor::from_vector(std::vector<int32_t>{3, 0, 3}, {3});
  Tensor g = gather_rows(a, idx);
  CHECK(g.shape() == Shape{3, 2});
  CHECK(g.to_vector() == std::vector<double>{6, 7, 0, 1, 6, 7});
  // Higher-rank rows and a strided source.
  Tensor cube = iota({3, 2, 2});
  CHECK(gather_rows(cube, Tensor::from_vector(std::vector<int32_t>{2}, {1})).to_vector() ==
        std::vector<double>{8, 9, 10, 11});
  CHECK(gather_rows(a.t(), Tensor::from_vector(std::vector<int32_t>{1}, {1})).to_vector() ==
        std::vector<double>{1, 3, 5, 7});
  CHECK(gather_rows(a, Tensor::from_vector(std::vector<int32_t>{}, {0})).shape() == Shape{0, 2});
  // Labels gather too (not differentiable).
  Tensor labels = Tensor::from_vector(std::vector<int32_t>{7, 8, 9}, {3});
  Tensor picked = gather_rows(labels, Tensor::from_vector(std::vector<int32_t>{2, 2, 0}, {3}));
  CHECK(picked.dtype() == DType::i32);
  CHECK(picked.to_int_vector() == std::vector<int32_t>{9, 9, 7});
}

TEST_CASE("gather_rows: gradient adds over repeated rows") {
  Tensor a = Tensor::zeros({4, 2}, DType::f64).requires_grad_();
  Tensor idx = Tensor::from_vector(std::vector<int32_t>{3, 0, 3}, {3});
  Tensor w = iota({3, 2});
  backward(sum(mul(gather_rows(a, idx), w)));
  // Row 3 gets rows 0 and 2 of w; row 0 gets row 1; rows 1 and 2 nothing.
  CHECK(a.grad().to_vector() == std::vector<double>{2, 3, 0, 0, 0, 0, 4 + 0, 5 + 1});
  using V = const std::vector<Tensor>&;
  Tensor idx2 = Tensor::from_vector(std::vector<int32_t>{1, 4, 1, 0, 2}, {5});
  CHECK(gradcheck([&](V v) { return gather_rows(v[0], idx2); }, {uniform({5, 3}, 1)}) <= 1);
  CHECK(gradcheck([&](V v) { return gather_rows(transpose(v[0], 0, 1), idx2); }, {uniform({3, 5}, 2)}) <= 1);
  CHECK(gradcheck([&](V v) { return gather_rows(v[0], idx2); }, {uniform({5}, 3)}) <= 1);
}

TEST_CASE("gather_rows: errors name the index and the number of rows") {
  Tensor a = Tensor::zeros({4, 2});
  std::string msg = error_of([&] { gather_rows(a, Tensor::from_vector(std::vector<int32_t>{1, 4}, {2})); });
  CHECK(contains(msg, "index 4"));
  CHECK(contains(msg, "4 rows"));
  msg = error_of([&] { gather_rows(a, Tensor::from_vector(std::vector<int32_t>{-1}, {1})); });
  CHECK(contains(msg, "index -1"));
  CHECK_THROWS_WITH_AS(gather_rows(a, Tensor::zeros({2})), doctest::Contains("int32"), Error);
  CHECK_THROWS_AS(gather_rows(a, Tensor::zeros({2, 1}, DType::i32)), Error);
  CHECK_THROWS_AS(gather_rows(Tensor::scalar(1.0), Tensor::zeros({1}, DType::i32)), Error);
}

TEST_CASE("contiguous and to(dtype): values and gradients") {
  using V = const std::vector<Tensor>&;
  Tensor a = iota({2, 3});
  Tensor t = a.t();
  Tensor c = t.contiguous();
  CHECK(c.is_contiguous());
  CHECK(c.to_vector() == t.to_vector());
  CHECK(a.contiguous().same(a));  // already contiguous: itself, no copy
  CHECK(gradcheck([](V v) { return transpose(v[0], 0, 1).contiguous(); }, {uniform({2, 3}, 1)}) <= 1);
  CHECK(gradcheck([](V v) { return mul(v[0].clone(), v[0]); }, {uniform({4}, 2)}) <= 1);
  // to(dtype): a float64 leaf through float32 and back gets a float64 gradient.
  Tensor x = uniform({3}, 3).requires_grad_();
  Tensor w = Tensor::from_vector(std::vector<double>{0.5, -1.0, 2.0}, {3}, DType::f32);
  Tensor y = mul(x.to(DType::f32), w);
  CHECK(y.dtype() == DType::f32);
  backward(sum(y));
  CHECK(x.grad().dtype() == DType::f64);
  CHECK(x.grad().to_vector() == std::vector<double>{0.5, -1.0, 2.0});
  CHECK(gradcheck([](V v) { return mul(v[0].to(DType::f32).to(DType::f64), 1.0); }, {uniform({3}, 4)}, 1e-3,
                  1e-4, 1e-6) <= 1);
  // Float to int32 is not differentiable.
  CHECK_FALSE(uniform({2}, 5).requires_grad_().to(DType::i32).requires_grad());
}
