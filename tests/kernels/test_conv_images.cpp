// The CPU's im2col / col2im and max-pooling kernels against plain loops written from their
// definitions, bit for bit, on small odd shapes (stride 1 and 2, padding 0 and 1, 1 and 3
// channels, 1 and 3 images) and on shapes large enough to be split across threads.
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

// Values with many distinct bits, so that a changed order of additions shows.
template <class T>
std::vector<T> noise(size_t n, uint64_t seed) {
  std::vector<T> v(n);
  uint64_t s = seed * 0x9E3779B97F4A7C15ull + 1;
  for (auto& x : v) {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    x = static_cast<T>(static_cast<double>(s >> 11) / 9007199254740992.0 * 2.0 - 1.0) / T(3);
  }
  return v;
}

int64_t rows_of(const ConvGeom& g) { return g.patch_size(); }

// Entry (row, position) of one image's column matrix, from the definition.
template <class T>
T column_entry(const T* image, const ConvGeom& g, int64_t row, int64_t pos) {
  const int64_t c = row / (g.kernel_h * g.kernel_w), i = row / g.kernel_w % g.kernel_h, j = row % g.kernel_w;
  const int64_t y = pos / g.out_w * g.stride + i - g.padding, x = pos % g.out_w * g.stride + j - g.padding;
  if (y < 0 || y >= g.height || x < 0 || x >= g.width) return T(0);
  return image[(c * g.height + y) * g.width + x];
}

// image += scatter of cols, entry by entry in row-major order of the column matrix.
template <class T>
void scatter_reference(const T* cols, int64_t ld, T* image, const ConvGeom& g) {
  for (int64_t row = 0; row < rows_of(g); ++row)
    for (int64_t pos = 0; pos < g.positions(); ++pos) {
      const int64_t c = row / (g.kernel_h * g.kernel_w), i = row / g.kernel_w % g.kernel_h, j = row % g.kernel_w;
      const int64_t y = pos / g.out_w * g.stride + i - g.padding, x = pos % g.out_w * g.stride + j - g.padding;
      if (y < 0 || y >= g.height || x < 0 || x >= g.width) continue;
      image[(c * g.height + y) * g.width + x] += cols[row * ld + pos];
    }
}

std::vector<ConvGeom> small_geometries() {
  std::vector<ConvGeom> out;
  for (int channels : {1, 3})
    for (int stride : {1, 2})
      for (int padding : {0, 1}) {
        out.push_back(conv_geom(channels, 5, 7, 3, 3, stride, padding));
        out.push_back(conv_geom(channels, 4, 3, 2, 3, stride, padding));
      }
  out.push_back(conv_geom(2, 3, 3, 3, 3, 1, 2));  // padding wider than the image's edge taps
  out.push_back(conv_geom(2, 6, 5, 1, 1, 2, 1));  // a 1x1 kernel that reads some padding
  out.push_back(conv_geom(64, 8, 8, 3, 3, 1, 1)); // several thread chunks
  return out;
}

template <class T>
void check_images(const ConvGeom& g, int64_t count) {
  INFO("channels ", g.channels, " ", g.height, "x", g.width, " kernel ", g.kernel_h, "x", g.kernel_w, " stride ",
       g.stride, " padding ", g.padding, " images ", count);
  const int64_t rows = rows_of(g), positions = g.positions(), ld = count * positions;
  const auto images = noise<T>(static_cast<size_t>(count * g.image_size()), 1);

  std::vector<T> cols(static_cast<size_t>(rows * ld), T(-7));
  kcpu::im2col_images<T>(images.data(), count, cols.data(), g);
  int64_t bad = 0;
  for (int64_t n = 0; n < count; ++n)
    for (int64_t row = 0; row < rows; ++row)
      for (int64_t pos = 0; pos < positions; ++pos)
        bad += cols[row * ld + n * positions + pos] != column_entry(images.data() + n * g.image_size(), g, row, pos);
  CHECK(bad == 0);

  // Each image alone through the family's im2col: the same blocks.
  std::vector<T> one(static_cast<size_t>(rows * positions));
  for (int64_t n = 0; n < count; ++n) {
    kcpu::im2col<T>(images.data() + n * g.image_size(), one.data(), g);
    for (int64_t row = 0; row < rows; ++row)
      for (int64_t pos = 0; pos < positions; ++pos) bad += one[row * positions + pos] != cols[row * ld + n * positions + pos];
  }
  CHECK(bad == 0);

  // col2im_images overwrites with what a scatter into zeros gives, bit for bit; col2im
  // accumulates onto the image it is given in the same order.
  const auto grads = noise<T>(cols.size(), 2);
  std::vector<T> back(images.size(), T(99));
  kcpu::col2im_images<T>(grads.data(), count, back.data(), g);
  std::vector<T> want(images.size(), T(0));
  for (int64_t n = 0; n < count; ++n)
    scatter_reference(grads.data() + n * positions, ld, want.data() + n * g.image_size(), g);
  CHECK(back == want);

  const auto base = noise<T>(static_cast<size_t>(g.image_size()), 3);
  std::vector<T> got = base, expect = base, block(static_cast<size_t>(rows * positions));
  for (int64_t row = 0; row < rows; ++row)
    for (int64_t pos = 0; pos < positions; ++pos) block[row * positions + pos] = grads[row * ld + pos];
  kcpu::col2im<T>(block.data(), got.data(), g);
  scatter_reference(block.data(), positions, expect.data(), g);
  CHECK(got == expect);
}

}  // namespace

TEST_CASE("im2col_images / col2im_images: each image's block is its im2col, the inverse its col2im") {
  for (const ConvGeom& g : small_geometries())
    for (int64_t count : {1, 3}) {
      check_images<float>(g, count);
      check_images<double>(g, count);
    }
}

TEST_CASE("split_images and join_images regroup [rows, count * cols] by image and back") {
  for (int64_t count : {1, 3, 40})
    for (int64_t rows : {1, 5})
      for (int64_t cols : {1, 4, 900}) {
        const auto src = noise<float>(static_cast<size_t>(count * rows * cols), 4);
        std::vector<float> split(src.size()), joined(src.size());
        kcpu::split_images<float>(src.data(), count, rows, cols, split.data());
        int64_t bad = 0;
        for (int64_t n = 0; n < count; ++n)
          for (int64_t r = 0; r < rows; ++r)
            for (int64_t c = 0; c < cols; ++c)
              bad += split[(n * rows + r) * cols + c] != src[(r * count + n) * cols + c];
        CHECK(bad == 0);
        kcpu::join_images<float>(split.data(), count, rows, cols, joined.data());
        CHECK(joined == src);
      }
}

TEST_CASE("max_pool2d kernels on many planes: every window's first maximum, gradients summed per input") {
  // 2x2 windows at stride 2 (the unrolled case), 3x3 at stride 1 and 2 (overlapping), on
  // enough planes to be split across threads; NaNs planted in a few windows.
  struct Case {
    int h, w, kernel, stride;
  };
  for (const Case c : {Case{8, 6, 2, 2}, Case{7, 5, 2, 2}, Case{7, 6, 3, 1}, Case{9, 9, 3, 2}}) {
    INFO(c.h, "x", c.w, " kernel ", c.kernel, " stride ", c.stride);
    const int64_t planes = 700;
    const int oh = (c.h - c.kernel) / c.stride + 1, ow = (c.w - c.kernel) / c.stride + 1;
    auto x = noise<double>(static_cast<size_t>(planes * c.h * c.w), 5);
    for (size_t i = 0; i < x.size(); i += 97) x[i] = NAN;
    for (size_t i = 1; i < x.size(); i += 13) x[i] = x[i - 1];  // ties
    std::vector<double> y(static_cast<size_t>(planes * oh * ow));
    std::vector<int32_t> arg(y.size());
    kcpu::max_pool2d<double>(x.data(), y.data(), arg.data(), planes, c.h, c.w, c.kernel, c.stride, oh, ow);
    int64_t bad = 0;
    for (int64_t p = 0; p < planes; ++p)
      for (int oy = 0; oy < oh; ++oy)
        for (int ox = 0; ox < ow; ++ox) {
          int32_t best = -1;
          for (int i = 0; i < c.kernel && (best < 0 || !std::isnan(x[p * c.h * c.w + best])); ++i)
            for (int j = 0; j < c.kernel; ++j) {
              const int32_t idx = (oy * c.stride + i) * c.w + ox * c.stride + j;
              const double v = x[p * c.h * c.w + idx];
              if (best < 0 || v > x[p * c.h * c.w + best] || std::isnan(v)) best = idx;
              if (std::isnan(v)) break;
            }
          const int64_t o = (p * oh + oy) * ow + ox;
          bad += arg[o] != best;
          const double want = x[p * c.h * c.w + best];
          bad += !(y[o] == want || (std::isnan(y[o]) && std::isnan(want)));
        }
    CHECK(bad == 0);

    const auto gy = noise<double>(y.size(), 6);
    std::vector<double> gx(x.size(), 0.0), want(x.size(), 0.0);
    kcpu::max_pool2d_backward<double>(gy.data(), arg.data(), gx.data(), planes, c.h, c.w, oh, ow);
    for (int64_t o = 0; o < static_cast<int64_t>(gy.size()); ++o)
      want[o / (oh * ow) * c.h * c.w + arg[o]] += gy[o];
    CHECK(gx == want);
  }
}
