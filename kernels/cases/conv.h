#pragma once
// Cases of the im2col / col2im / max-pooling family (kernels/{cpu,cuda}/conv.h); see sizes.h.
#include <cstdint>
#include <vector>

#include "r2g2/kernels/cases/sizes.h"
#include "r2g2/kernels/common.h"

namespace r2g2::kernels::cases {

// Channels, size, kernel (square and not), stride (also past the kernel, leaving pixels
// no window covers), padding (up to kernel - 1, so that some windows hold only padding);
// the last one has more than one block per launch.
inline const std::vector<ConvGeom>& test_conv_geoms() {
  static const std::vector<ConvGeom> geoms{
      make_conv_geom(1, 1, 1, 1, 1, 1, 0),   make_conv_geom(3, 7, 9, 3, 3, 1, 1),
      make_conv_geom(2, 8, 8, 3, 2, 2, 0),   make_conv_geom(4, 11, 6, 5, 3, 3, 2),
      make_conv_geom(2, 5, 5, 5, 5, 1, 4),   make_conv_geom(2, 9, 8, 2, 2, 3, 1),
      make_conv_geom(16, 33, 35, 3, 3, 2, 1)};
  return geoms;
}

struct PoolCase {
  int64_t planes;
  int h, w, kernel, stride;
  bool ties, nan;  // inputs on a coarse grid (repeated maxima); NaNs among them
  int threads;     // launch block size; the backward runs one warp per plane
  bool f64;        // the dtype it runs in (float32 otherwise)
};

inline const std::vector<PoolCase>& test_pool_cases() {
  static const std::vector<PoolCase> cases{
      {5, 6, 7, 2, 2, false, false, 256, false},
      {5, 6, 7, 2, 2, true, false, 32, true},
      {3, 9, 9, 3, 1, true, false, 32, false},  // stride 1: every interior pixel in 9 windows
      {3, 9, 9, 3, 1, true, false, 32, true},
      {4, 7, 8, 3, 2, true, false, 64, true},       // overlapping windows with ties
      {2, 40, 40, 2, 2, true, false, 64, true},     // > 32 outputs per plane: several warp chunks
      {17, 40, 40, 2, 2, false, true, 256, false},  // planes % 8 != 0: idle warps in the last block
      {1, 1, 1, 1, 1, false, false, 256, false},
      {2, 64, 33, 4, 3, true, false, 96, true},
      {3, 5, 5, 5, 5, false, true, 32, false},  // a single window holding both NaNs
      {2, 9, 8, 2, 3, true, false, 64, true},   // stride past the kernel: gaps between windows
  };
  return cases;
}

// Timed im2col geometries, from one pixel to a VGG-sized layer; the lab sweeps the block
// size on the last one.
inline std::vector<ConvGeom> perf_conv_geoms() {
  return {make_conv_geom(1, 1, 1, 1, 1, 1, 0),       make_conv_geom(3, 7, 9, 3, 3, 1, 1),
          make_conv_geom(3, 32, 32, 5, 5, 1, 2),     make_conv_geom(64, 56, 56, 3, 3, 1, 1),
          make_conv_geom(128, 128, 128, 3, 3, 2, 1), make_conv_geom(256, 128, 128, 3, 3, 1, 1)};
}

struct PoolShape {
  int64_t planes;
  int h, w, kernel, stride;
};

// Timed pooling shapes (64x64 planes filling `large` elements at the end); the lab sweeps
// the block size on the last one.
inline std::vector<PoolShape> perf_pool_shapes(int64_t large) {
  const int64_t big_planes = large / 4096 > 0 ? large / 4096 : 1;
  return {{1, 1, 1, 1, 1},
          {5, 7, 9, 2, 2},
          {3, 9, 9, 3, 1},
          {128 * 32, 32, 32, 2, 2},
          {big_planes, 64, 64, 3, 2},
          {big_planes, 64, 64, 2, 2}};
}

// Block sizes the lab sweeps (kernels::cuda::set_conv_block_size).
inline const std::vector<int>& perf_block_sizes() {
  static const std::vector<int> blocks{64, 128, 256, 512, 1024};
  return blocks;
}

}  // namespace r2g2::kernels::cases
