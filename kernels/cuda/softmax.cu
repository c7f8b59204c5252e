// Row-wise log-softmax and the fused losses. A row belongs to one group of threads (a
// warp for rows up to 1024 columns, a 256-thread block beyond), which finds the row's
// maximum and sum of exponentials in double with the fixed-order reductions of
// group_reduce.cuh. Loss totals are deterministic two-pass sums (sum_impl.cuh) read back
// with one synchronising copy, which also carries the label check. Device code is in
// softmax_kernels.cuh.
#include <limits>

#include "r2g2/kernels/cuda/scratch.cuh"
#include "r2g2/kernels/cuda/softmax.h"
#include "r2g2/kernels/cuda/softmax_kernels.cuh"
#include "r2g2/kernels/cuda/sum_impl.cuh"

namespace r2g2::kernels::cuda {

using namespace softmax_detail;

namespace {

// Launches KERNEL<GROUP, T> with one warp per row for short rows, one block per row else.
template <template <int, class> class Launcher, class T, class... Args>
void by_row_length(int64_t rows, int64_t cols, Args... args) {
  if (cols <= kShortRow)
    Launcher<kWarp, T>::launch(blocks_for(rows, kThreads / kWarp), args...);
  else
    Launcher<kThreads, T>::launch(blocks_for(rows, 1), args...);
}

template <int GROUP, class T>
struct LogSoftmaxLauncher {
  static void launch(unsigned grid, const T* x, T* y, int64_t rows, int64_t cols) {
    R2G2_LAUNCH((log_softmax_kernel<GROUP, T>), grid, kThreads, x, y, rows, cols);
  }
};

template <int GROUP, class T>
struct LogSoftmaxBackwardLauncher {
  static void launch(unsigned grid, const T* y, const T* gy, T* gx, int64_t rows, int64_t cols) {
    R2G2_LAUNCH((log_softmax_backward_kernel<GROUP, T>), grid, kThreads, y, gy, gx, rows, cols);
  }
};

// What a loss kernel hands back to the host in one copy.
struct LossResult {
  double total;
  unsigned long long bad;
};

}  // namespace

template <class T>
void log_softmax(const T* x, T* y, int64_t rows, int64_t cols) {
  if (rows <= 0 || cols <= 0) return;
  by_row_length<LogSoftmaxLauncher, T>(rows, cols, x, y, rows, cols);
}

template <class T>
void log_softmax_backward(const T* y, const T* gy, T* gx, int64_t rows, int64_t cols) {
  if (rows <= 0 || cols <= 0) return;
  by_row_length<LogSoftmaxBackwardLauncher, T>(rows, cols, y, gy, gx, rows, cols);
}

template <class T>
T cross_entropy(const T* logits, const int32_t* labels, T* log_probs, int64_t rows, int64_t cols) {
  // Labels are checked on the device (they live there) while the loss is summed; the one
  // read-back that returns the loss also returns the first bad row, and the error is
  // thrown before anyone can use the result.
  if (rows <= 0) return std::numeric_limits<T>::quiet_NaN();  // the CPU reference's 0 / 0
  log_softmax(logits, log_probs, rows, cols);
  DeviceScratch<LossResult> result(1);
  result.memset(0xFF);  // bad = kNoError; total is written by sum_terms
  LossResult* d = result.get();
  sum_terms(CrossEntropyTerm<T>{log_probs, labels, cols, &d->bad}, rows, &d->total);
  LossResult host{};
  read_back(&host, d, 1);
  if (host.bad != kNoError) {
    const int64_t row = static_cast<int64_t>(host.bad);
    int32_t label = 0;
    read_back(&label, labels + row, 1);
    throw Error(::r2g2::detail::concat("cross_entropy: label ", label, " in row ", row, " is outside [0, ",
                                       cols, ") for logits of ", cols, " classes"));
  }
  return static_cast<T>(host.total / static_cast<double>(rows));
}

template <class T>
void cross_entropy_backward(const T* log_probs, const int32_t* labels, T g, T* glogits, int64_t rows,
                            int64_t cols) {
  if (rows <= 0 || cols <= 0) return;
  const T scale = g / static_cast<T>(rows);
  R2G2_LAUNCH(cross_entropy_backward_kernel<T>, blocks_for(rows * cols), kThreads, log_probs, labels, scale,
              glogits, rows, cols);
}

template <class T>
T bce_with_logits(const T* x, const T* t, int64_t n) {
  if (n <= 0) return std::numeric_limits<T>::quiet_NaN();  // the CPU reference's 0 / 0
  DeviceScratch<double> total(1);
  sum_terms(BceTerm<T>{x, t}, n, total.get());
  double host = 0;
  read_back(&host, total.get(), 1);
  return static_cast<T>(host / static_cast<double>(n));
}

template <class T>
void bce_with_logits_backward(const T* x, const T* t, T g, T* gx, T* gt, int64_t n) {
  if (n <= 0) return;
  const T scale = g / static_cast<T>(n);
  R2G2_LAUNCH(bce_backward_kernel<T>, blocks_for(n), kThreads, x, t, scale, gx, gt, n);
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

}  // namespace r2g2::kernels::cuda
