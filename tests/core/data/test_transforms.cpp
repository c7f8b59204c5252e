#include <doctest/doctest.h>

#include <vector>

#include "r2g2/core/data/transforms.h"

namespace {

using namespace r2g2;

data::Dataset two_images() {
  // Two 2x3 single-channel images with distinct pixels.
  std::vector<float> pixels;
  for (int i = 0; i < 12; ++i) pixels.push_back(static_cast<float>(i + 1) / 16.0f);
  data::Dataset d;
  d.name = "tiny/train";
  d.images = Tensor::from_vector(pixels, {2, 1, 2, 3});
  d.labels = Tensor::from_vector(std::vector<int32_t>{3, 7}, {2});
  d.num_classes = 10;
  return d;
}

TEST_CASE("pad_to_rgb centres each image on a zero canvas and repeats it over three channels") {
  data::Dataset padded = data::pad_to_rgb(two_images(), 5);
  REQUIRE(padded.images.shape() == Shape{2, 3, 5, 5});
  CHECK(padded.name == "tiny-5x3/train");
  CHECK(padded.labels.to_int_vector() == std::vector<int32_t>{3, 7});
  CHECK(padded.num_classes == 10);
  const std::vector<double> v = padded.images.to_vector();
  auto at = [&](int n, int c, int y, int x) { return v[static_cast<size_t>(((n * 3 + c) * 5 + y) * 5 + x)]; };
  // Margins: (5 - 2) / 2 = 1 row on top (2 below), (5 - 3) / 2 = 1 column on the left.
  for (int n = 0; n < 2; ++n)
    for (int c = 0; c < 3; ++c)
      for (int y = 0; y < 5; ++y)
        for (int x = 0; x < 5; ++x) {
          const bool inside = y >= 1 && y < 3 && x >= 1 && x < 4;
          const double expected =
              inside ? static_cast<double>(n * 6 + (y - 1) * 3 + (x - 1) + 1) / 16.0 : 0.0;
          CHECK(at(n, c, y, x) == expected);
        }
}

TEST_CASE("pad_to_rgb refuses colour images and images larger than the canvas") {
  data::Dataset d = two_images();
  CHECK_THROWS_WITH_AS(data::pad_to_rgb(d, 2), doctest::Contains("do not fit a 2x2 canvas"), Error);
  d.images = Tensor::zeros({2, 3, 2, 3});
  CHECK_THROWS_WITH_AS(data::pad_to_rgb(d, 32), doctest::Contains("single-channel"), Error);
}

}  // namespace
