// im2col / col2im index maps and max-pooling kernels on hand-checkable inputs.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <vector>

#include "r2g2/kernels/cpu/conv.h"
#include "test_util.h"

namespace {

using r2g2::kernels::ConvGeom;
namespace kcpu = r2g2::kernels::cpu;
using r2g2::test::conv_geom;

std::vector<double> ramp(size_t n, double scale = 1.0) {
  std::vector<double> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = scale * static_cast<double>((i * 37) % 101) - 50.0;
  return v;
}

}  // namespace

TEST_CASE("im2col: a hand-checked 1-channel 3x3 image, 2x2 kernel, padding 1, stride 2") {
  // image      padded (0 border)       windows at (-1,-1) (-1,1) (1,-1) (1,1)
  // 1 2 3
  // 4 5 6
  // 7 8 9
  ConvGeom g = conv_geom(1, 3, 3, 2, 2, 2, 1);
  REQUIRE(g.out_h == 2);
  REQUIRE(g.out_w == 2);
  std::vector<double> img = {1, 2, 3, 4, 5, 6, 7, 8, 9}, cols(4 * 4, -1);
  kcpu::im2col<double>(img.data(), cols.data(), g);
  // Row (i, j) holds the kernel tap (i, j) of each of the 4 windows.
  std::vector<double> expect = {0, 0, 0, 5,   // tap (0,0): padded, padded, padded, x[1][1]
                                0, 0, 4, 6,   // tap (0,1)
                                0, 2, 0, 8,   // tap (1,0)
                                1, 3, 7, 9};  // tap (1,1)
  CHECK(cols == expect);
}

TEST_CASE("im2col matches its definition and col2im is its adjoint") {
  for (auto g : {conv_geom(2, 5, 4, 3, 2, 1, 0), conv_geom(3, 6, 7, 3, 3, 2, 1),
                 conv_geom(1, 4, 4, 1, 1, 1, 0), conv_geom(2, 7, 5, 2, 3, 3, 2)}) {
    const int64_t rows = int64_t{g.channels} * g.kernel_h * g.kernel_w, l = int64_t{g.out_h} * g.out_w;
    auto img = ramp(static_cast<size_t>(g.channels * g.height * g.width));
    std::vector<double> cols(static_cast<size_t>(rows * l));
    kcpu::im2col<double>(img.data(), cols.data(), g);
    int bad = 0;
    for (int c = 0; c < g.channels; ++c)
      for (int i = 0; i < g.kernel_h; ++i)
        for (int j = 0; j < g.kernel_w; ++j)
          for (int oy = 0; oy < g.out_h; ++oy)
            for (int ox = 0; ox < g.out_w; ++ox) {
              int y = oy * g.stride + i - g.padding, x = ox * g.stride + j - g.padding;
              double v = (y >= 0 && y < g.height && x >= 0 && x < g.width)
                             ? img[(c * g.height + y) * g.width + x]
                             : 0.0;
              if (cols[((c * g.kernel_h + i) * g.kernel_w + j) * l + oy * g.out_w + ox] != v) ++bad;
            }
    CHECK(bad == 0);

    // <im2col(x), y> == <x, col2im(y)> for any x, y.
    auto y = ramp(cols.size(), 0.5);
    std::vector<double> back(img.size(), 0.0);
    kcpu::col2im<double>(y.data(), back.data(), g);
    double lhs = 0, rhs = 0;
    for (size_t i = 0; i < cols.size(); ++i) lhs += cols[i] * y[i];
    for (size_t i = 0; i < img.size(); ++i) rhs += img[i] * back[i];
    CHECK(lhs == doctest::Approx(rhs).epsilon(1e-12));
  }
}

TEST_CASE("col2im accumulates into the image it is given") {
  ConvGeom g = conv_geom(1, 2, 2, 1, 1, 1, 0);
  std::vector<float> cols = {1, 2, 3, 4}, img = {10, 10, 10, 10};
  kcpu::col2im<float>(cols.data(), img.data(), g);
  CHECK(img == std::vector<float>{11, 12, 13, 14});
}

TEST_CASE("max_pool2d kernels: values, argmax and the scatter of the gradient") {
  // One 4x4 plane, kernel 2, stride 2, and a second plane with overlapping windows
  // (kernel 3, stride 1) checked separately.
  std::vector<float> x = {1, 5, 2, 0,  //
                          3, 4, 8, 7,  //
                          9, 0, 1, 1,  //
                          2, 6, 1, 3};
  std::vector<float> y(4);
  std::vector<int32_t> arg(4);
  kcpu::max_pool2d<float>(x.data(), y.data(), arg.data(), 1, 4, 4, 2, 2, 2, 2);
  CHECK(y == std::vector<float>{5, 8, 9, 3});
  CHECK(arg == std::vector<int32_t>{1, 6, 8, 15});
  std::vector<float> gy = {1, 2, 3, 4}, gx(16, 0.f);
  kcpu::max_pool2d_backward<float>(gy.data(), arg.data(), gx.data(), 1, 4, 4, 2, 2);
  std::vector<float> expect(16, 0.f);
  expect[1] = 1, expect[6] = 2, expect[8] = 3, expect[15] = 4;
  CHECK(gx == expect);

  // Overlapping 3x3 windows: 9 (index 8) and 8 (index 6) each win two of them.
  std::vector<double> xd(x.begin(), x.end()), yd(4);
  kcpu::max_pool2d<double>(xd.data(), yd.data(), arg.data(), 1, 4, 4, 3, 1, 2, 2);
  CHECK(yd == std::vector<double>{9, 8, 9, 8});
  CHECK(arg == std::vector<int32_t>{8, 6, 8, 6});
  std::vector<double> gyd = {1, 2, 3, 4}, gxd(16, 0.0);
  kcpu::max_pool2d_backward<double>(gyd.data(), arg.data(), gxd.data(), 1, 4, 4, 2, 2);
  CHECK(gxd[6] == 6.0);  // gradients of overlapping windows add up
  CHECK(gxd[8] == 4.0);
}

TEST_CASE("max_pool2d kernel: several planes, first maximum wins a tie, NaN propagates") {
  std::vector<float> x = {2, 2,   1, 0,   // plane 0: tie between index 0 and 1
                          1, NAN, 3, 4};  // plane 1: NaN in the window
  std::vector<float> y(2);
  std::vector<int32_t> arg(2);
  kcpu::max_pool2d<float>(x.data(), y.data(), arg.data(), 2, 2, 2, 2, 2, 1, 1);
  CHECK(y[0] == 2.f);
  CHECK(arg[0] == 0);
  CHECK(std::isnan(y[1]));
  CHECK(arg[1] == 1);
}
