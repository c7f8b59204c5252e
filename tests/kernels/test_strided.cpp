// collapse_strided (kernels/strided.h), which the CPU binary kernel and the CUDA launchers
// apply before walking an elementwise geometry: merged axes must visit every element at
// the same input offsets, in the same order, as the original axes. And the CUDA launchers'
// choice of 32-bit indexing (kernels/cuda/strided.cuh, plain C++).
#include <doctest/doctest.h>

#include <cstdint>
#include <utility>
#include <vector>

#include "r2g2/kernels/cuda/strided.cuh"
#include "r2g2/kernels/strided.h"

using r2g2::kernels::collapse_strided;
using r2g2::kernels::Strided2;

namespace {

Strided2 geom(const std::vector<int64_t>& shape, const std::vector<int64_t>& sa,
              const std::vector<int64_t>& sb) {
  Strided2 g;
  g.ndim = static_cast<int>(shape.size());
  for (int i = 0; i < g.ndim; ++i) {
    g.shape[i] = shape[i];
    g.a_stride[i] = sa[i];
    g.b_stride[i] = sb[i];
  }
  return g;
}

// Offsets of every output element, by brute-force unravelling, for a and b.
std::vector<std::pair<int64_t, int64_t>> offsets(const Strided2& g) {
  std::vector<std::pair<int64_t, int64_t>> out;
  int64_t n = 1;
  for (int d = 0; d < g.ndim; ++d) n *= g.shape[d];
  for (int64_t t = 0; t < n; ++t) {
    int64_t rest = t, oa = 0, ob = 0;
    for (int d = g.ndim - 1; d >= 0; --d) {
      int64_t c = rest % g.shape[d];
      rest /= g.shape[d];
      oa += c * g.a_stride[d];
      ob += c * g.b_stride[d];
    }
    out.emplace_back(oa, ob);
  }
  return out;
}

}  // namespace

TEST_CASE("collapse_strided: merges what it may and keeps every element's offsets") {
  // contiguous [4, 5, 6] + [4, 5, 6] -> one axis
  Strided2 c = geom({4, 5, 6}, {30, 6, 1}, {30, 6, 1});
  Strided2 cc = collapse_strided(c);
  CHECK(cc.ndim == 1);
  CHECK(cc.shape[0] == 120);
  CHECK(offsets(cc) == offsets(c));
  // [8, 3] + bias [3] (b broadcast over rows): two axes stay
  Strided2 bias = geom({8, 3}, {3, 1}, {0, 1});
  CHECK(collapse_strided(bias).ndim == 2);
  CHECK(offsets(collapse_strided(bias)) == offsets(bias));
  // size-1 axes vanish; a scalar broadcast merges with everything
  Strided2 scalar = geom({2, 1, 7}, {7, 7, 1}, {0, 0, 0});
  CHECK(collapse_strided(scalar).ndim == 1);
  CHECK(offsets(collapse_strided(scalar)) == offsets(scalar));
  // a transposed read does not merge
  Strided2 tr = geom({3, 4}, {1, 3}, {4, 1});
  CHECK(collapse_strided(tr).ndim == 2);
  CHECK(offsets(collapse_strided(tr)) == offsets(tr));
  // a single element, and a rank-0 geometry
  Strided2 one = geom({1, 1}, {1, 1}, {1, 1});
  CHECK(collapse_strided(one).ndim == 1);
  CHECK(collapse_strided(one).shape[0] == 1);
  Strided2 rank0;
  CHECK(collapse_strided(rank0).ndim == 1);
  CHECK(offsets(collapse_strided(rank0)) == offsets(rank0));
  // mixed: [2, 3, 4, 5] with a sliced a (row stride 7 instead of 5) and b broadcast on axis 1
  Strided2 mixed = geom({2, 3, 4, 5}, {84, 28, 7, 1}, {20, 0, 5, 1});
  Strided2 mc = collapse_strided(mixed);
  CHECK(mc.ndim == 4);  // a's padded rows and b's broadcast axis both block merging
  CHECK(offsets(mc) == offsets(mixed));
  Strided2 mixed2 = geom({2, 3, 4, 5}, {60, 20, 5, 1}, {20, 0, 5, 1});
  Strided2 mc2 = collapse_strided(mixed2);
  CHECK(mc2.ndim == 3);  // the inner [4, 5] merges for both
  CHECK(offsets(mc2) == offsets(mixed2));
}

TEST_CASE("collapse_strided: 32-bit index selection") {
  Strided2 small = geom({1000, 1000}, {1000, 1}, {0, 1});
  CHECK(r2g2::kernels::cuda::fits_32bit(collapse_strided(small)));
  Strided2 big = geom({int64_t{1} << 20, 4096}, {4096, 1}, {0, 1});  // 2^32 elements
  CHECK_FALSE(r2g2::kernels::cuda::fits_32bit(collapse_strided(big)));
  // few elements but a far offset (a strided view into a huge buffer)
  Strided2 far = geom({2, 2}, {int64_t{1} << 31, 1}, {2, 1});
  CHECK_FALSE(r2g2::kernels::cuda::fits_32bit(collapse_strided(far)));
}
