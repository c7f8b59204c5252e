#pragma once
// Simplification of a Strided2 geometry before a kernel walks it, shared by both backends.
// Size-1 axes are dropped and neighbouring axes merged wherever both inputs step through
// them as through one axis (the output is contiguous, so it always can), so a contiguous
// tensor becomes 1-D and a bias broadcast over rows becomes 2-D: the CPU kernels then run
// long inner loops instead of rows as short as a 3x3 filter's, and the CUDA kernels spend
// fewer divisions per element.
#include <cstdint>

#include "r2g2/kernels/common.h"

namespace r2g2::kernels {

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

}  // namespace r2g2::kernels
