// Tensor: creation, views and storage sharing, copies, dtype conversion, and the
// shape helpers of core/shape.h.
#include <doctest/doctest.h>

#include <string>

#include "test_util.h"

using namespace r2g2;
using r2g2::test::contains;
using r2g2::test::error_of;
using r2g2::test::uniform;

TEST_CASE("shape helpers") {
  CHECK(shape_str({}) == "[]");
  CHECK(shape_str({128, 784}) == "[128, 784]");
  CHECK(numel_of({}) == 1);
  CHECK(numel_of({2, 0, 3}) == 0);
  CHECK(numel_of({2, 3, 4}) == 24);
  CHECK(contiguous_strides({2, 3, 4}) == Shape{12, 4, 1});
  CHECK(contiguous_strides({}) == Shape{});
  CHECK(normalize_axis(-1, 3, "op", {2, 3, 4}) == 2);
  CHECK(normalize_axis(0, 3, "op", {2, 3, 4}) == 0);
  std::string msg = error_of([] { normalize_axis(3, 3, "myop", {2, 3, 4}); });
  CHECK(contains(msg, "myop"));
  CHECK(contains(msg, "axis 3"));
  CHECK(contains(msg, "[2, 3, 4]"));
  CHECK_THROWS_AS(normalize_axis(-4, 3, "op", {2, 3, 4}), Error);
  CHECK_THROWS_AS(normalize_axis(0, 0, "op", {}), Error);
  CHECK(broadcast_shapes({2, 1, 3}, {4, 1}, "op") == Shape{2, 4, 3});
  CHECK(broadcast_shapes({}, {2, 3}, "op") == Shape{2, 3});
  CHECK(broadcast_shapes({1}, {}, "op") == Shape{1});
  CHECK(broadcast_shapes({0}, {1}, "op") == Shape{0});
  msg = error_of([] { broadcast_shapes({2, 3}, {3, 2}, "myop"); });
  CHECK(contains(msg, "myop"));
  CHECK(contains(msg, "[2, 3]"));
  CHECK(contains(msg, "[3, 2]"));
}

TEST_CASE("creation: values, shapes, dtypes") {
  Tensor z = Tensor::zeros({2, 3});
  CHECK(z.dtype() == DType::f32);
  CHECK(z.device() == Device::cpu());
  CHECK(z.shape() == Shape{2, 3});
  CHECK(z.strides() == Shape{3, 1});
  CHECK(z.numel() == 6);
  CHECK(z.dim() == 2);
  CHECK(z.to_vector() == std::vector<double>(6, 0.0));
  CHECK(Tensor::ones({3}, DType::f64).to_vector() == std::vector<double>(3, 1.0));
  CHECK(Tensor::full({2}, -2.5, DType::f64).to_vector() == std::vector<double>{-2.5, -2.5});
  CHECK(Tensor::full({2}, 7, DType::i32).to_int_vector() == std::vector<int32_t>{7, 7});
  Tensor s = Tensor::scalar(3.25);
  CHECK(s.dim() == 0);
  CHECK(s.numel() == 1);
  CHECK(s.item() == 3.25);
  CHECK(Tensor::from_vector(std::vector<float>{1.5f, 2.5f}, {2, 1}).to_vector() ==
        std::vector<double>{1.5, 2.5});
  CHECK(Tensor::from_vector(std::vector<double>{1.9, -1.9}, {2}, DType::i32).to_int_vector() ==
        std::vector<int32_t>{1, -1});
  CHECK(Tensor::zeros({0, 3}).numel() == 0);
  CHECK(Tensor::zeros({0, 3}).to_vector().empty());
  CHECK(Tensor().defined() == false);
  CHECK_THROWS_WITH_AS(Tensor().shape(), doctest::Contains("undefined"), Error);
  std::string msg = error_of([] { Tensor::from_vector(std::vector<double>{1, 2, 3}, {2, 2}); });
  CHECK(contains(msg, "3 values"));
  CHECK(contains(msg, "[2, 2]"));
  CHECK_THROWS_WITH_AS(Tensor::empty({2, -1}), doctest::Contains("[2, -1]"), Error);
}

TEST_CASE("metadata accessors and errors") {
  Tensor a = Tensor::zeros({2, 3, 4});
  CHECK(a.size(0) == 2);
  CHECK(a.size(-1) == 4);
  CHECK_THROWS_WITH_AS(a.size(3), doctest::Contains("[2, 3, 4]"), Error);
  CHECK_THROWS_WITH_AS(a.item(), doctest::Contains("[2, 3, 4]"), Error);
  CHECK_THROWS_WITH_AS(a.to_int_vector(), doctest::Contains("float32"), Error);
  CHECK_THROWS_WITH_AS(a.data<double>(), doctest::Contains("float64"), Error);
}

TEST_CASE("views share storage; contiguous and clone copy") {
  Tensor a = Tensor::from_vector(std::vector<double>{0, 1, 2, 3, 4, 5}, {2, 3}, DType::f64);
  Tensor t = a.t();
  Tensor s = a.slice(1, 1, 3);
  Tensor r = a.reshape({3, 2});
  CHECK(t.impl().storage == a.impl().storage);
  CHECK(s.impl().storage == a.impl().storage);
  CHECK(r.impl().storage == a.impl().storage);
  CHECK(s.offset() == 1);
  CHECK(t.strides() == Shape{1, 3});
  CHECK_FALSE(t.is_contiguous());
  CHECK_FALSE(s.is_contiguous());
  CHECK(r.is_contiguous());
  CHECK(a.slice(0, 1, 2).is_contiguous());           // one full row
  CHECK(Tensor::zeros({3, 1}).t().is_contiguous());  // size-1 axes do not matter
  // Writing through the base is seen by every view.
  a.fill_(2.0);
  CHECK(t.to_vector() == std::vector<double>(6, 2.0));
  CHECK(s.to_vector() == std::vector<double>(4, 2.0));
  // contiguous() and clone() own their data.
  Tensor c = t.contiguous();
  Tensor k = a.clone();
  CHECK(c.impl().storage != a.impl().storage);
  CHECK(k.impl().storage != a.impl().storage);
  a.fill_(5.0);
  CHECK(c.to_vector() == std::vector<double>(6, 2.0));
  CHECK(k.to_vector() == std::vector<double>(6, 2.0));
  CHECK_THROWS_WITH_AS(t.fill_(1.0), doctest::Contains("not contiguous"), Error);
}

TEST_CASE("copy_: values, conversion, strided source, shape errors") {
  Tensor dst = Tensor::zeros({2, 3}, DType::f64);
  Tensor src = Tensor::from_vector(std::vector<double>{0, 1, 2, 3, 4, 5}, {3, 2}, DType::f32);
  dst.copy_(src.t());  // strided float32 into contiguous float64
  CHECK(dst.to_vector() == std::vector<double>{0, 2, 4, 1, 3, 5});
  std::string msg = error_of([&] { dst.copy_(src); });
  CHECK(contains(msg, "[3, 2]"));
  CHECK(contains(msg, "[2, 3]"));
  // copy_ never records: a gradient-requiring source leaves dst a plain tensor.
  Tensor x = uniform({2, 3}, 1).requires_grad_();
  dst.copy_(x);
  CHECK_FALSE(dst.requires_grad());
  CHECK(dst.to_vector() == x.to_vector());
}

TEST_CASE("to(dtype) and to(device)") {
  Tensor a = Tensor::from_vector(std::vector<double>{0.1, -2.7, 3.5}, {3}, DType::f64);
  Tensor f = a.to(DType::f32);
  CHECK(f.dtype() == DType::f32);
  CHECK(f.to_vector()[0] == static_cast<double>(0.1f));
  CHECK(a.to(DType::i32).to_int_vector() == std::vector<int32_t>{0, -2, 3});
  CHECK(Tensor::from_vector(std::vector<int32_t>{4, -5}, {2}).to(DType::f64).to_vector() ==
        std::vector<double>{4, -5});
  CHECK(a.to(DType::f64).same(a));
  CHECK(a.to(Device::cpu()).same(a));
  // A strided tensor converts in logical order.
  Tensor m = Tensor::from_vector(std::vector<double>{1, 2, 3, 4}, {2, 2}, DType::f64);
  CHECK(m.t().to(DType::f32).to_vector() == std::vector<double>{1, 3, 2, 4});
  if (!cuda_available()) CHECK_THROWS_AS(a.to(Device::cuda(0)), Error);
}

TEST_CASE("parse_device") {
  CHECK(parse_device("cpu") == Device::cpu());
  CHECK_THROWS_WITH_AS(parse_device("tpu"), doctest::Contains("tpu"), Error);
  if (!cuda_available()) {
    CHECK(parse_device("auto") == Device::cpu());
    CHECK_THROWS_AS(parse_device("cuda"), Error);
  }
  CHECK(Device::cuda(1).str() == "cuda:1");
}
