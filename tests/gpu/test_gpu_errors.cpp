// Index validation on the device: a bad label or row index must throw the same error as
// on the CPU, never read or write out of bounds, and leave the device usable.
#include <doctest/doctest.h>

#include <vector>

#include "gpu_test_util.h"

using namespace r2g2;
using r2g2::test::contains;
using r2g2::test::error_of;
using r2g2::test::uniform;

TEST_CASE("errors: a label out of range throws the CPU's message on CUDA") {
  R2G2_REQUIRE_CUDA();
  const Device cuda = Device::cuda();
  Tensor logits = uniform({6, 10}, 1, -1, 1, DType::f32);
  // Two bad rows: the first one (row 2) is reported, whatever order the threads ran in.
  for (auto bad : {std::vector<int32_t>{1, 2, 10, 3, -1, 0}, std::vector<int32_t>{0, 0, -5, 9, 11, 1}}) {
    Tensor y = Tensor::from_vector(bad, {6});
    std::string cpu = error_of([&] { cross_entropy(logits, y); });
    std::string gpu = error_of([&] { cross_entropy(logits.to(cuda), y.to(cuda)); });
    CAPTURE(gpu);
    CHECK(contains(cpu, "in row 2"));
    CHECK(gpu == cpu);
  }
  // The device is still fine afterwards.
  Tensor good = Tensor::from_vector(std::vector<int32_t>{1, 2, 3, 4, 5, 6}, {6});
  CHECK(std::abs(cross_entropy(logits.to(cuda), good.to(cuda)).item() - cross_entropy(logits, good).item()) <
        1e-5);
}

TEST_CASE("errors: a row index out of range throws the CPU's message on CUDA") {
  R2G2_REQUIRE_CUDA();
  const Device cuda = Device::cuda();
  Tensor x = uniform({5, 3}, 2, -1, 1, DType::f32);
  for (auto bad : {std::vector<int32_t>{0, 4, 5, 1}, std::vector<int32_t>{3, -1, 2, 7}}) {
    Tensor index = Tensor::from_vector(bad, {4});
    std::string cpu = error_of([&] { gather_rows(x, index); });
    std::string gpu = error_of([&] { gather_rows(x.to(cuda), index.to(cuda)); });
    CAPTURE(gpu);
    CHECK(contains(cpu, "gather_rows: index"));
    CHECK(gpu == cpu);
  }
  // The valid boundary rows and an empty index work.
  Tensor index = Tensor::from_vector(std::vector<int32_t>{4, 0, 4}, {3});
  CHECK(gather_rows(x.to(cuda), index.to(cuda)).to_vector() == gather_rows(x, index).to_vector());
  Tensor empty_index = Tensor::from_vector(std::vector<int32_t>{}, {0});
  CHECK(gather_rows(x.to(cuda), empty_index.to(cuda)).shape() == Shape{0, 3});
}
