#include "r2g2/kernels/cpu/softmax.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "r2g2/kernels/loss_math.h"
#include "r2g2/kernels/runtime/error.h"

namespace r2g2::kernels::cpu {

namespace {
// log sum_j exp(x_j), shifted by the row maximum so that no exp overflows; summed in
// double so that float32 rows of thousands of classes lose no digits.
template <class T>
double log_sum_exp(const T* x, int64_t cols) {
  double m = -std::numeric_limits<double>::infinity();
  for (int64_t j = 0; j < cols; ++j) m = std::max(m, static_cast<double>(x[j]));
  if (std::isinf(m)) return m;  // all -inf (or a +inf): the shift would make NaN
  double s = 0;
  for (int64_t j = 0; j < cols; ++j) s += std::exp(static_cast<double>(x[j]) - m);
  return m + std::log(s);
}
}  // namespace

template <class T>
void log_softmax(const T* x, T* y, int64_t rows, int64_t cols) {
  for (int64_t r = 0; r < rows; ++r) {
    const T* xr = x + r * cols;
    T* yr = y + r * cols;
    double lse = log_sum_exp(xr, cols);
    for (int64_t j = 0; j < cols; ++j) yr[j] = static_cast<T>(static_cast<double>(xr[j]) - lse);
  }
}

template <class T>
void log_softmax_backward(const T* y, const T* gy, T* gx, int64_t rows, int64_t cols) {
  for (int64_t r = 0; r < rows; ++r) {
    const T* yr = y + r * cols;
    const T* gr = gy + r * cols;
    double total = 0;
    for (int64_t j = 0; j < cols; ++j) total += gr[j];
    for (int64_t j = 0; j < cols; ++j)
      gx[r * cols + j] = static_cast<T>(gr[j] - std::exp(static_cast<double>(yr[j])) * total);
  }
}

template <class T>
T cross_entropy(const T* logits, const int32_t* labels, T* log_probs, int64_t rows, int64_t cols) {
  // Every label is checked before any work: a bad label is a data bug, not a NaN later.
  for (int64_t r = 0; r < rows; ++r)
    R2G2_CHECK(labels[r] >= 0 && labels[r] < cols, "cross_entropy: label ", labels[r], " in row ", r,
               " is outside [0, ", cols, ") for logits of ", cols, " classes");
  log_softmax(logits, log_probs, rows, cols);
  double total = 0;
  for (int64_t r = 0; r < rows; ++r) total -= log_probs[r * cols + labels[r]];
  return static_cast<T>(total / static_cast<double>(rows));
}

template <class T>
void cross_entropy_backward(const T* log_probs, const int32_t* labels, T g, T* glogits, int64_t rows,
                            int64_t cols) {
  const T scale = g / static_cast<T>(rows);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = 0; j < cols; ++j)
      glogits[r * cols + j] = cross_entropy_grad(scale, log_probs[r * cols + j], j == labels[r]);
}

template <class T>
T bce_with_logits(const T* x, const T* t, int64_t n) {
  double total = 0;
  for (int64_t i = 0; i < n; ++i) total += bce_term(static_cast<double>(x[i]), static_cast<double>(t[i]));
  return static_cast<T>(total / static_cast<double>(n));
}

template <class T>
void bce_with_logits_backward(const T* x, const T* t, T g, T* gx, T* gt, int64_t n) {
  const T scale = g / static_cast<T>(n);
  for (int64_t i = 0; i < n; ++i) {
    gx[i] = bce_grad(scale, x[i], t[i]);
    if (gt) gt[i] = -scale * x[i];
  }
}

#define R2G2_INSTANTIATE(T)                                                                   \
  template void log_softmax<T>(const T*, T*, int64_t, int64_t);                               \
  template void log_softmax_backward<T>(const T*, const T*, T*, int64_t, int64_t);            \
  template T cross_entropy<T>(const T*, const int32_t*, T*, int64_t, int64_t);                \
  template void cross_entropy_backward<T>(const T*, const int32_t*, T, T*, int64_t, int64_t); \
  template T bce_with_logits<T>(const T*, const T*, int64_t);                                 \
  template void bce_with_logits_backward<T>(const T*, const T*, T, T*, T*, int64_t);
R2G2_INSTANTIATE(float)
R2G2_INSTANTIATE(double)
#undef R2G2_INSTANTIATE

}  // namespace r2g2::kernels::cpu
