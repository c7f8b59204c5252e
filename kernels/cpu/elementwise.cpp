#include "r2g2/kernels/cpu/elementwise.h"

#include <algorithm>
#include <type_traits>

#include "r2g2/kernels/cpu/simd.h"
#include "r2g2/kernels/elementwise_math.h"
#include "r2g2/kernels/strided.h"
#include "r2g2/kernels/runtime/thread_pool.h"

namespace r2g2::kernels::cpu {

namespace {

using runtime::kCheapElementGrain;
using runtime::kCostlyElementGrain;
using runtime::parallel_for;

// Ops whose per-element cost is a libm call or a division, not a few cycles.
constexpr int64_t unary_grain(UnaryOp op) {
  return op == UnaryOp::neg || op == UnaryOp::square || op == UnaryOp::relu ? kCheapElementGrain
                                                                           : kCostlyElementGrain;
}

// The float softplus family (kernels/softplus_math.h) runs the copy for `path` of
// kernels/cpu/simd.h; the other ops, and double, call libm or are a single instruction
// either way, and run the plain loop.
template <UnaryOp OP>
constexpr bool unary_has_simd_copies =
    OP == UnaryOp::softplus || OP == UnaryOp::sigmoid || OP == UnaryOp::log_softplus;

template <UnaryOp OP, class T, class Loop>
void run_loop(SimdPath path, const Loop& loop, int64_t lo, int64_t hi) {
  if constexpr (std::is_same_v<T, float> && unary_has_simd_copies<OP>)
    run_simd_loop(path, loop, lo, hi);
  else
    loop(lo, hi);
}

int64_t element_count(const Strided2& g) {
  int64_t n = 1;
  for (int i = 0; i < g.ndim; ++i) n *= g.shape[i];
  return n;
}

// Calls row(out_offset, a_offset, b_offset, first_col, end_col) for each run of the
// innermost axis that output elements [lo, hi) cover (row-major output; ndim >= 1, no
// zero extent), so that any split of the output gives the same per-element work.
template <class Row>
void for_rows_in(const Strided2& g, int64_t lo, int64_t hi, Row&& row) {
  const int last = g.ndim - 1;
  const int64_t inner = g.shape[last];
  int64_t idx[kMaxDims] = {};
  int64_t outer_index = lo / inner, col = lo % inner;
  for (int i = last - 1; i >= 0; --i) {
    idx[i] = outer_index % g.shape[i];
    outer_index /= g.shape[i];
  }
  for (int64_t o = lo; o < hi;) {
    int64_t off_a = 0, off_b = 0;
    for (int i = 0; i < last; ++i) {
      off_a += idx[i] * g.a_stride[i];
      off_b += idx[i] * g.b_stride[i];
    }
    const int64_t end_col = std::min(inner, col + (hi - o));
    row(o - col, off_a, off_b, col, end_col);
    o += end_col - col;
    col = 0;
    for (int i = last - 1; i >= 0; --i) {
      if (++idx[i] < g.shape[i]) break;
      idx[i] = 0;
    }
  }
}

template <BinaryOp OP, class T>
void binary_strided(const T* a, const T* b, T* out, const Strided2& g) {
  if (g.ndim == 0) {
    out[0] = binary_value<OP>(a[0], b[0]);
    return;
  }
  const int64_t sa = g.a_stride[g.ndim - 1], sb = g.b_stride[g.ndim - 1];
  parallel_for(0, element_count(g), kCheapElementGrain, [&](int64_t lo, int64_t hi) {
    for_rows_in(g, lo, hi, [&](int64_t out_offset, int64_t off_a, int64_t off_b, int64_t j0, int64_t j1) {
      const T* pa = a + off_a;
      const T* pb = b + off_b;
      T* po = out + out_offset;
      if (sa == 1 && sb == 1)
        for (int64_t j = j0; j < j1; ++j) po[j] = binary_value<OP>(pa[j], pb[j]);
      else
        for (int64_t j = j0; j < j1; ++j) po[j] = binary_value<OP>(pa[j * sa], pb[j * sb]);
    });
  });
}

}  // namespace

template <class T>
void unary(UnaryOp op, const T* x, T* y, int64_t n) {
  const SimdPath path = active_simd_path();
  with_unary(op, [&](auto tag) {
    constexpr UnaryOp kOp = decltype(tag)::value;
    parallel_for(0, n, unary_grain(op), [&](int64_t lo, int64_t hi) {
      run_loop<kOp, T>(
          path,
          [&](int64_t a, int64_t b) R2G2_SIMD_LOOP {
            for (int64_t i = a; i < b; ++i) y[i] = unary_value<kOp>(x[i]);
          },
          lo, hi);
    });
  });
}

template <class T>
void unary_backward(UnaryOp op, const T* x, const T* y, const T* gy, T* gx, int64_t n) {
  const SimdPath path = active_simd_path();
  with_unary(op, [&](auto tag) {
    constexpr UnaryOp kOp = decltype(tag)::value;
    // An op reads only the operands its derivative needs; the others may be null.
    parallel_for(0, n, unary_grain(op), [&](int64_t lo, int64_t hi) {
      run_loop<kOp, T>(
          path,
          [&](int64_t a, int64_t b) R2G2_SIMD_LOOP {
            for (int64_t i = a; i < b; ++i) {
              const T xi = unary_grad_reads_x<kOp> ? x[i] : T(0), yi = unary_grad_reads_y<kOp> ? y[i] : T(0);
              gx[i] = unary_grad<kOp>(xi, yi, gy[i]);
            }
          },
          lo, hi);
    });
  });
}

template <class T>
void binary(BinaryOp op, const T* a, const T* b, T* out, const Strided2& g) {
  // Same-shape contiguous operands become one flat loop: an [O, C, 3, 3] weight would
  // otherwise be walked in rows of 3.
  const Strided2 flat = collapse_strided(g);
  with_binary(op, [&](auto tag) { binary_strided<decltype(tag)::value>(a, b, out, flat); });
}

template <class T>
void binary_scalar(BinaryOp op, const T* a, T s, T* out, int64_t n) {
  with_binary(op, [&](auto tag) {
    parallel_for(0, n, kCheapElementGrain, [&](int64_t lo, int64_t hi) {
      for (int64_t i = lo; i < hi; ++i) out[i] = binary_value<decltype(tag)::value>(a[i], s);
    });
  });
}

template <class T>
void fill(T* y, T value, int64_t n) {
  parallel_for(0, n, kCheapElementGrain, [&](int64_t lo, int64_t hi) { std::fill(y + lo, y + hi, value); });
}

template <class T>
void axpy(T alpha, const T* x, T* y, int64_t n) {
  parallel_for(0, n, kCheapElementGrain, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) y[i] += alpha * x[i];
  });
}

template <class From, class To>
void cast(const From* x, To* y, int64_t n) {
  parallel_for(0, n, kCheapElementGrain, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) y[i] = static_cast<To>(x[i]);
  });
}

template <class T>
void copy_strided(const T* src, T* dst, const Strided2& g) {
  if (g.ndim == 0) {
    dst[0] = src[0];
    return;
  }
  const int64_t s = g.a_stride[g.ndim - 1];
  parallel_for(0, element_count(g), kCheapElementGrain, [&](int64_t lo, int64_t hi) {
    for_rows_in(g, lo, hi, [&](int64_t out_offset, int64_t off, int64_t, int64_t j0, int64_t j1) {
      for (int64_t j = j0; j < j1; ++j) dst[out_offset + j] = src[off + j * s];
    });
  });
}

template <class T>
void copy_2d(const T* src, int64_t src_ld, T* dst, int64_t dst_ld, int64_t rows, int64_t cols) {
  const int64_t rows_per_grain = std::max<int64_t>(1, kCheapElementGrain / std::max<int64_t>(cols, 1));
  parallel_for(0, rows, rows_per_grain, [&](int64_t lo, int64_t hi) {
    for (int64_t r = lo; r < hi; ++r) std::copy_n(src + r * src_ld, cols, dst + r * dst_ld);
  });
}

#define R2G2_INSTANTIATE(T)                                                            \
  template void unary<T>(UnaryOp, const T*, T*, int64_t);                              \
  template void unary_backward<T>(UnaryOp, const T*, const T*, const T*, T*, int64_t); \
  template void binary<T>(BinaryOp, const T*, const T*, T*, const Strided2&);          \
  template void binary_scalar<T>(BinaryOp, const T*, T, T*, int64_t);                  \
  template void axpy<T>(T, const T*, T*, int64_t);                                     \
  template void copy_2d<T>(const T*, int64_t, T*, int64_t, int64_t, int64_t);
R2G2_INSTANTIATE(float)
R2G2_INSTANTIATE(double)
#undef R2G2_INSTANTIATE
template void fill<float>(float*, float, int64_t);
template void fill<double>(double*, double, int64_t);
template void fill<int32_t>(int32_t*, int32_t, int64_t);
template void copy_strided<float>(const float*, float*, const Strided2&);
template void copy_strided<double>(const double*, double*, const Strided2&);
template void copy_strided<int32_t>(const int32_t*, int32_t*, const Strided2&);
template void cast<float, double>(const float*, double*, int64_t);
template void cast<double, float>(const double*, float*, int64_t);
template void cast<int32_t, float>(const int32_t*, float*, int64_t);
template void cast<int32_t, double>(const int32_t*, double*, int64_t);
template void cast<float, int32_t>(const float*, int32_t*, int64_t);
template void cast<double, int32_t>(const double*, int32_t*, int64_t);

}  // namespace r2g2::kernels::cpu
