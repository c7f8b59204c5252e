#pragma once
// Host-side simplification of a Strided2 geometry before a launch (plain C++, so the
// tests can check it without a device). Size-1 axes are dropped and neighbouring axes
// merged wherever both inputs step through them as through one axis, so a contiguous
// tensor becomes 1-D and a bias broadcast over rows becomes 2-D: the kernel then spends
// fewer divisions per element.
#include <cstdint>

#include "r2g2/kernels/common.h"

namespace r2g2::kernels::cuda {

inline Strided2 collapse_strided(const Strided2& g) {
  Strided2 out;
  // Walk from the innermost axis outwards, appending to `out` in reverse.
  int n = 0;
  int64_t shape[kMaxDims], sa[kMaxDims], sb[kMaxDims];
  for (int d = g.ndim - 1; d >= 0; --d) {
    if (g.shape[d] == 1) continue;
    if (n > 0 && sa[n - 1] * shape[n - 1] == g.a_stride[d] && sb[n - 1] * shape[n - 1] == g.b_stride[d]) {
      shape[n - 1] *= g.shape[d];  // axis d continues the inner run
      continue;
    }
    shape[n] = g.shape[d];
    sa[n] = g.a_stride[d];
    sb[n] = g.b_stride[d];
    ++n;
  }
  if (n == 0) {  // a single element (or a scalar): one axis of size 1
    out.ndim = 1;
    out.shape[0] = 1;
    return out;
  }
  out.ndim = n;
  for (int i = 0; i < n; ++i) {
    out.shape[i] = shape[n - 1 - i];
    out.a_stride[i] = sa[n - 1 - i];
    out.b_stride[i] = sb[n - 1 - i];
  }
  return out;
}

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
