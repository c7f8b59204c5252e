#pragma once
// Host-side helpers for the launch geometry of a Strided2 (plain C++, so the tests can
// check them without a device); collapse_strided comes from kernels/strided.h.
#include <cstdint>

#include "r2g2/kernels/common.h"
#include "r2g2/kernels/strided.h"

namespace r2g2::kernels::cuda {

using kernels::collapse_strided;

inline int64_t strided_numel(const Strided2& g) {
  int64_t n = 1;
  for (int d = 0; d < g.ndim; ++d) n *= g.shape[d];
  return n;
}

// The largest element offset an input reaches (strides are never negative in r2g2).
inline int64_t max_offset(const Strided2& g, bool b) {
  int64_t off = 0;
  for (int d = 0; d < g.ndim; ++d) off += (g.shape[d] - 1) * (b ? g.b_stride[d] : g.a_stride[d]);
  return off;
}

// True when every output index and input offset fits 32-bit unsigned arithmetic, which
// makes the per-element divisions several times cheaper.
inline bool fits_32bit(const Strided2& g) {
  constexpr int64_t limit = int64_t{1} << 31;
  return strided_numel(g) < limit && max_offset(g, false) < limit && max_offset(g, true) < limit;
}

}  // namespace r2g2::kernels::cuda
