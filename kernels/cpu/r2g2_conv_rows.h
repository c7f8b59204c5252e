#pragma once
// The patch rows of the CPU's direct conv solve (kernels/cpu/r2g2_conv_direct.cpp): grouped
// by the positions where they can be non-zero, and the float64 sigma² and sigma ⊙ eps of
// channels at those rows. Internal to the CPU backend.
#include <cstdint>
#include <vector>

#include "r2g2/kernels/common.h"

namespace r2g2::kernels::cpu {

// Rows of the patch matrices grouped by where they can be non-zero. Row d of X_n is zero at
// every position its kernel tap puts outside the image (padding), so K_nc only needs the
// pairs (p, q) that a row can make non-zero, and the right-hand side X_nᵀ (s_c ⊙ eps_c) only
// its positions: at 3x3 taps with padding 1 on 4 x 4 maps the nine taps leave 628 of the
// 9 x 136 (row, pair) products, on 2 x 2 maps 26 of 9 x 10 (and 16 of the 9 x 4 (row,
// position) ones). The support of a row is taken from the data (the union over the batch of
// its non-zero positions), so it holds for any layer: a row of zeros drops out, and a rarer
// support is folded into the group of the smallest support containing it (products outside
// a row's support are exact zeros), so that the groups stay few and their GEMMs large.
struct RowGroup {
  std::vector<int> rows;       // row indices d, increasing
  std::vector<int> pairs;      // indices t of the pairs (p <= q) with both p and q in the support
  std::vector<int> positions;  // the support, increasing
};

// The row groups of the patch matrices cols [N, D, P] (g.images, g.patch_size(),
// g.positions()).
template <class T>
std::vector<RowGroup> row_groups(const T* cols, const ConvGeom& g);

// sigma² and sigma ⊙ eps [O, D] of channels [c0, c1) at the rows row_order[0, R), in float64
// (products of two floats: exact): channel c, row row_order[j] at (c - c0) * ld + j.
template <class T>
void convert_rows(const T* sigma, const T* eps, const int* row_order, int64_t R, int64_t D, int64_t c0,
                  int64_t c1, double* s2, double* se, int64_t ld);

}  // namespace r2g2::kernels::cpu
