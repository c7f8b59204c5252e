// conv2d against a direct 7-loop convolution, im2col and max_pool2d values,
// finite-difference gradients, and the shape errors.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "r2g2/core/error.h"
#include "test_util.h"

namespace r2g2::detail {
int64_t set_conv_column_buffer_bytes(int64_t bytes);  // defined in core/ops_conv.cpp
}

namespace {

using namespace r2g2;
using r2g2::test::closeness;
using r2g2::test::gradcheck;
using r2g2::test::uniform;

// y[n, o, oy, ox] = b[o] + sum_{c, i, j} w[o, c, i, j] x[n, c, oy*s + i - p, ox*s + j - p].
Tensor direct_conv(const Tensor& x, const Tensor& w, const Tensor& bias, int s, int p) {
  const auto vx = x.to_vector(), vw = w.to_vector();
  const std::vector<double> vb = bias.defined() ? bias.to_vector() : std::vector<double>();
  const int64_t N = x.shape()[0], C = x.shape()[1], H = x.shape()[2], W = x.shape()[3];
  const int64_t O = w.shape()[0], KH = w.shape()[2], KW = w.shape()[3];
  const int64_t OH = (H + 2 * p - KH) / s + 1, OW = (W + 2 * p - KW) / s + 1;
  std::vector<double> y(static_cast<size_t>(N * O * OH * OW));
  for (int64_t n = 0; n < N; ++n)
    for (int64_t o = 0; o < O; ++o)
      for (int64_t oy = 0; oy < OH; ++oy)
        for (int64_t ox = 0; ox < OW; ++ox) {
          double acc = vb.empty() ? 0.0 : vb[o];
          for (int64_t c = 0; c < C; ++c)
            for (int64_t i = 0; i < KH; ++i)
              for (int64_t j = 0; j < KW; ++j) {
                const int64_t iy = oy * s + i - p, ix = ox * s + j - p;
                if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
                acc += vw[((o * C + c) * KH + i) * KW + j] * vx[((n * C + c) * H + iy) * W + ix];
              }
          y[((n * O + o) * OH + oy) * OW + ox] = acc;
        }
  return Tensor::from_vector(y, {N, O, OH, OW}, DType::f64);
}

struct ConvCase {
  Shape x, w;
  int stride, padding;
  bool bias;
};

const ConvCase kCases[] = {
    {{2, 3, 5, 6}, {4, 3, 3, 3}, 1, 0, true},  {{2, 3, 5, 6}, {4, 3, 3, 3}, 1, 1, false},
    {{1, 2, 7, 5}, {3, 2, 3, 2}, 2, 0, true},  {{3, 1, 7, 7}, {2, 1, 3, 3}, 2, 1, true},
    {{2, 4, 3, 3}, {5, 4, 1, 1}, 1, 0, true},   // 1x1: the image is its own column matrix
    {{1, 2, 4, 4}, {1, 2, 4, 4}, 1, 0, false},  // kernel covers the whole image
    {{2, 2, 6, 5}, {3, 2, 1, 1}, 2, 1, false},
};

}  // namespace

TEST_CASE("conv2d: forward matches the direct 7-loop convolution") {
  for (DType dt : {DType::f64, DType::f32})
    for (const auto& c : kCases) {
      Tensor x = uniform(c.x, 1, -1, 1, dt), w = uniform(c.w, 2, -1, 1, dt);
      Tensor b = c.bias ? uniform({c.w[0]}, 3, -1, 1, dt) : Tensor();
      Tensor y = conv2d(x, w, b, {c.stride, c.padding});
      Tensor want = direct_conv(x, w, b, c.stride, c.padding);
      INFO("x ", shape_str(c.x), " w ", shape_str(c.w), " stride ", c.stride, " padding ", c.padding);
      REQUIRE(y.shape() == want.shape());
      CHECK(y.dtype() == dt);
      const double tol = dt == DType::f32 ? 1e-5 : 1e-12;
      CHECK(closeness(y, want, tol, tol) <= 1.0);
    }
}

TEST_CASE("conv2d: images split into several column-buffer chunks give the same values and gradients") {
  // A bound of one byte forces one image per chunk; 3000 bytes fits a few images.
  for (int64_t bound : {int64_t{1}, int64_t{3000}}) {
    const int64_t saved = detail::set_conv_column_buffer_bytes(bound);
    Tensor x = uniform({5, 2, 6, 5}, 21), w = uniform({3, 2, 3, 3}, 22), b = uniform({3}, 23);
    CHECK(closeness(conv2d(x, w, b, {1, 1}), direct_conv(x, w, b, 1, 1), 1e-12, 1e-12) <= 1.0);
    auto f = [](const std::vector<Tensor>& in) { return conv2d(in[0], in[1], in[2], {2, 1}); };
    CHECK(gradcheck(f, {uniform({5, 2, 5, 4}, 24), uniform({3, 2, 3, 3}, 25), uniform({3}, 26)}) <= 1.0);
    detail::set_conv_column_buffer_bytes(saved);
  }
}

namespace {

Tensor abs_values(const Tensor& t) {
  auto v = t.to_vector();
  for (double& e : v) e = std::fabs(e);
  return Tensor::from_vector(v, t.shape(), DType::f64);
}

// y, dx and dw of conv2d(x, w) for the output gradient seed, in x's dtype.
std::vector<Tensor> conv_and_grads(const Tensor& x0, const Tensor& w0, const Tensor& seed, Conv2dParams p) {
  Tensor x = x0.detach().requires_grad_(true), w = w0.detach().requires_grad_(true);
  Tensor y = conv2d(x, w, {}, p);
  backward(y, seed);
  return {y.detach(), x.grad(), w.grad()};
}

}  // namespace

TEST_CASE("conv2d float32: values and gradients within the rounding bound of their sums, on every GEMM layout") {
  // Each output is a sum of K products; float32 computes it in some order with error at
  // most gamma_K = K u / (1 - K u) (u = 2^-24) times the sum of the products' magnitudes,
  // which is the same conv of |x|, |w| and |g| in float64. K: y sums C*kh*kw terms, dx at
  // most O*kh*kw (a GEMM over O, then col2im over the taps), dw N*OH*OW (one GEMM over the
  // images of a chunk and over positions, chunks accumulated).
  struct Case {
    Shape x, w;
    Conv2dParams p;
    int64_t column_bytes;  // -1: the default chunk
  };
  const Case cases[] = {
      {{3, 3, 6, 5}, {4, 3, 3, 3}, {1, 1}, -1},     // few positions: the images share one GEMM
      {{3, 3, 7, 7}, {2, 3, 3, 3}, {2, 0}, 2000},   // ... in chunks of two images
      {{3, 2, 17, 16}, {3, 2, 3, 3}, {1, 1}, -1},   // 272 positions: one GEMM per image
      {{1, 1, 9, 9}, {2, 1, 3, 3}, {2, 1}, -1},     // one image
  };
  for (const Case& c : cases) {
    INFO("x ", shape_str(c.x), " w ", shape_str(c.w), " stride ", c.p.stride, " padding ", c.p.padding);
    const int64_t saved = detail::set_conv_column_buffer_bytes(c.column_bytes);
    Tensor x = uniform(c.x, 31, -1, 1, DType::f32), w = uniform(c.w, 32, -1, 1, DType::f32);
    const auto y_shape = conv2d(x, w, {}, c.p).shape();
    Tensor g = uniform(y_shape, 33, -1, 1, DType::f32);
    auto got = conv_and_grads(x, w, g, c.p);
    auto exact = conv_and_grads(x.to(DType::f64), w.to(DType::f64), g.to(DType::f64), c.p);
    auto magnitude = conv_and_grads(abs_values(x), abs_values(w), abs_values(g), c.p);
    detail::set_conv_column_buffer_bytes(saved);
    const int64_t taps = c.w[2] * c.w[3];
    const int64_t terms[] = {c.w[1] * taps, c.w[0] * taps, y_shape[0] * y_shape[2] * y_shape[3]};
    for (int k = 0; k < 3; ++k) {
      const double u = std::ldexp(1.0, -24), gamma = terms[k] * u / (1 - terms[k] * u);
      auto a = got[k].to_vector(), b = exact[k].to_vector(), m = magnitude[k].to_vector();
      REQUIRE(a.size() == b.size());
      int64_t outside = 0;
      for (size_t i = 0; i < a.size(); ++i) outside += std::fabs(a[i] - b[i]) > gamma * m[i];
      CHECK_MESSAGE(outside == 0, "output ", k, " (y, dx, dw)");
    }
  }
}

TEST_CASE("conv2d: strided (non-contiguous) inputs are read by their logical values") {
  Tensor x = uniform({2, 3, 6, 5}, 4), w = uniform({2, 3, 3, 3}, 5);
  Tensor xt = x.transpose(2, 3);  // [2, 3, 5, 6], a view
  CHECK(closeness(conv2d(xt, w, {}, {1, 1}), direct_conv(xt, w, {}, 1, 1), 1e-12, 1e-12) <= 1.0);
}

TEST_CASE("conv2d: gradients for x, w and bias by finite differences") {
  for (const auto& c : kCases) {
    INFO("x ", shape_str(c.x), " w ", shape_str(c.w), " stride ", c.stride, " padding ", c.padding);
    Conv2dParams p{c.stride, c.padding};
    if (c.bias) {
      auto f = [p](const std::vector<Tensor>& in) { return conv2d(in[0], in[1], in[2], p); };
      CHECK(gradcheck(f, {uniform(c.x, 6), uniform(c.w, 7), uniform({c.w[0]}, 8)}) <= 1.0);
    } else {
      auto f = [p](const std::vector<Tensor>& in) { return conv2d(in[0], in[1], {}, p); };
      CHECK(gradcheck(f, {uniform(c.x, 6), uniform(c.w, 7)}) <= 1.0);
    }
  }
  // Only the weight requires a gradient: x gets none.
  Tensor x = uniform({1, 2, 4, 4}, 9), w = uniform({2, 2, 3, 3}, 10);
  w.requires_grad_(true);
  backward(sum(conv2d(x, w)));
  CHECK_FALSE(x.grad().defined());
  CHECK(w.grad().defined());
}

TEST_CASE("im2col op: layout, agreement with conv2d, gradient") {
  Tensor x = uniform({2, 3, 5, 4}, 11), w = uniform({4, 3, 3, 2}, 12);
  Conv2dParams p{2, 1};
  Tensor cols = im2col(x, 3, 2, p);
  CHECK(cols.shape() == Shape{2, 3 * 3 * 2, 3 * 3});
  // Each image's conv output is w as a [O, C*kh*kw] matrix times its columns.
  Tensor y = conv2d(x, w, {}, p);
  for (int64_t n = 0; n < 2; ++n) {
    Tensor yn = matmul(reshape(w, {4, -1}), reshape(cols.slice(0, n, n + 1), {18, 9}));
    CHECK(closeness(yn, reshape(y.slice(0, n, n + 1), {4, 9}), 1e-12, 1e-12) <= 1.0);
  }
  auto f = [p](const std::vector<Tensor>& in) { return im2col(in[0], 3, 2, p); };
  CHECK(gradcheck(f, {uniform({2, 2, 4, 5}, 13)}) <= 1.0);
  auto g = [](const std::vector<Tensor>& in) { return im2col(in[0], 2, 2, {1, 0}); };
  CHECK(gradcheck(g, {uniform({1, 1, 3, 3}, 14)}) <= 1.0);
}

TEST_CASE("max_pool2d: values, default stride, gradient without ties") {
  Tensor x = Tensor::from_vector({1, 5, 2, 0, 3, 4, 8, 7, 9, 0, 1, 1, 2, 6, 1, 3}, {1, 1, 4, 4}, DType::f64);
  Tensor y = max_pool2d(x, 2);
  CHECK(y.shape() == Shape{1, 1, 2, 2});
  CHECK(y.to_vector() == std::vector<double>{5, 8, 9, 3});
  CHECK(max_pool2d(x, 3, 1).to_vector() == std::vector<double>{9, 8, 9, 8});
  CHECK(max_pool2d(x, 3).shape() == Shape{1, 1, 1, 1});  // stride 3: one window fits

  // Distinct values (a shuffled ramp) so that no window has a tie that a finite
  // difference could flip.
  auto distinct = [](const Shape& s, uint64_t seed) {
    std::vector<double> v(static_cast<size_t>(numel_of(s)));
    std::iota(v.begin(), v.end(), 0.0);
    uint64_t st = seed;
    for (size_t i = v.size(); i > 1; --i) {
      st = st * 6364136223846793005ull + 1442695040888963407ull;
      std::swap(v[i - 1], v[(st >> 33) % i]);
    }
    for (auto& e : v) e *= 0.01;
    return Tensor::from_vector(v, s, DType::f64);
  };
  auto f = [](const std::vector<Tensor>& in) { return max_pool2d(in[0], 2); };
  CHECK(gradcheck(f, {distinct({2, 3, 4, 5}, 1)}) <= 1.0);
  auto g = [](const std::vector<Tensor>& in) { return max_pool2d(in[0], 3, 2); };
  CHECK(gradcheck(g, {distinct({1, 2, 7, 6}, 2)}) <= 1.0);
  auto h = [](const std::vector<Tensor>& in) { return max_pool2d(in[0], 2, 1); };  // overlapping
  CHECK(gradcheck(h, {distinct({1, 1, 4, 4}, 3)}) <= 1.0);

  Tensor xf = Tensor::from_vector(std::vector<float>{1, 2, 3, 4}, {1, 1, 2, 2});
  CHECK(max_pool2d(xf, 2).dtype() == DType::f32);
  CHECK(max_pool2d(xf, 2).item() == 4.0);
}

TEST_CASE("conv2d / im2col / max_pool2d: shape errors name the shapes") {
  Tensor x = Tensor::zeros({2, 3, 5, 5});
  CHECK_THROWS_WITH_AS(conv2d(x, Tensor::zeros({4, 2, 3, 3})),
                       doctest::Contains("[2, 3, 5, 5] has 3 channels but w of shape [4, 2, 3, 3] expects 2"),
                       Error);
  CHECK_THROWS_WITH_AS(conv2d(Tensor::zeros({3, 5, 5}), Tensor::zeros({4, 3, 3, 3})),
                       doctest::Contains("[N, C, H, W], got [3, 5, 5]"), Error);
  CHECK_THROWS_WITH_AS(conv2d(x, Tensor::zeros({4, 3, 3})), doctest::Contains("got [4, 3, 3]"), Error);
  CHECK_THROWS_WITH_AS(conv2d(x, Tensor::zeros({4, 3, 3, 3}), Tensor::zeros({3})),
                       doctest::Contains("bias of shape [3]"), Error);
  CHECK_THROWS_WITH_AS(conv2d(x, Tensor::zeros({4, 3, 7, 7})), doctest::Contains("output size < 1"), Error);
  CHECK_THROWS_WITH_AS(conv2d(x, Tensor::zeros({4, 3, 3, 3}, DType::f64)), doctest::Contains("float64"),
                       Error);
  CHECK_THROWS_WITH_AS(im2col(Tensor::zeros({5, 5}), 3, 3), doctest::Contains("[5, 5]"), Error);
  CHECK_THROWS_WITH_AS(max_pool2d(x, 6), doctest::Contains("input size 5"), Error);
  CHECK_THROWS_WITH_AS(max_pool2d(Tensor::zeros({5, 5}), 2), doctest::Contains("[5, 5]"), Error);
}

TEST_CASE("conv_out_size: sizes and errors") {
  CHECK(conv_out_size(28, 5, 1, 0, "conv") == 24);
  CHECK(conv_out_size(28, 3, 2, 1, "conv") == 14);
  CHECK(conv_out_size(7, 7, 1, 0, "conv") == 1);
  CHECK(conv_out_size(4, 3, 2, 0, "pool") == 1);
  CHECK_THROWS_WITH_AS(conv_out_size(4, 7, 1, 1, "myop"), doctest::Contains("myop: output size < 1"), Error);
  CHECK_THROWS_WITH_AS(conv_out_size(4, 3, 0, 0, "myop"), doctest::Contains("stride 0"), Error);
  CHECK_THROWS_WITH_AS(conv_out_size(4, 0, 1, 0, "myop"), doctest::Contains("kernel size 0"), Error);
  CHECK_THROWS_WITH_AS(conv_out_size(4, 3, 1, -1, "myop"), doctest::Contains("padding -1"), Error);
}
