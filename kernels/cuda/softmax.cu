// Row-wise log-softmax and the fused losses. A row belongs to one group of threads (a
// warp for rows up to 1024 columns, a 256-thread block beyond), which finds the row's
// maximum and sum of exponentials in double with the fixed-order reductions of
// group_reduce.cuh. Loss totals are deterministic two-pass sums (sum_impl.cuh) read back
// with one synchronising copy, which also carries the label check.
#include <cmath>
#include <limits>

#include "kernels/cuda/device_math.cuh"
#include "kernels/cuda/group_reduce.cuh"
#include "kernels/cuda/launch.cuh"
#include "kernels/cuda/scratch.cuh"
#include "kernels/cuda/softmax.h"
#include "kernels/cuda/sum_impl.cuh"

namespace r2g2::kernels::cuda {

namespace {

// Rows are spread over groups as in row_sum_kernel; the row loop is uniform per group.
template <int GROUP, class T>
__global__ void log_softmax_kernel(const T* __restrict__ x, T* __restrict__ y, int64_t rows, int64_t cols) {
  __shared__ double smem[GROUP / kWarp];
  constexpr int kGroups = kThreads / GROUP;
  const int group = threadIdx.x / GROUP, lane = threadIdx.x % GROUP;
  for (int64_t row = static_cast<int64_t>(blockIdx.x) * kGroups + group; row < rows;
       row += static_cast<int64_t>(gridDim.x) * kGroups) {
    const T* xr = x + row * cols;
    T* yr = y + row * cols;
    double m = -INFINITY;
    for (int64_t j = lane; j < cols; j += GROUP) m = fmax(m, static_cast<double>(xr[j]));
    m = group_all_reduce<GROUP>(m, MaxOp{}, smem);
    double lse = m;  // all -inf (or a +inf): the shift would make NaN, as in the CPU reference
    if (!isinf(m)) {
      double s = 0;
      for (int64_t j = lane; j < cols; j += GROUP) s += exp(static_cast<double>(xr[j]) - m);
      lse = m + log(group_all_reduce<GROUP>(s, SumOp{}, smem));
    }
    for (int64_t j = lane; j < cols; j += GROUP) yr[j] = static_cast<T>(static_cast<double>(xr[j]) - lse);
  }
}

template <int GROUP, class T>
__global__ void log_softmax_backward_kernel(const T* __restrict__ y, const T* __restrict__ gy,
                                            T* __restrict__ gx, int64_t rows, int64_t cols) {
  __shared__ double smem[GROUP / kWarp];
  constexpr int kGroups = kThreads / GROUP;
  const int group = threadIdx.x / GROUP, lane = threadIdx.x % GROUP;
  for (int64_t row = static_cast<int64_t>(blockIdx.x) * kGroups + group; row < rows;
       row += static_cast<int64_t>(gridDim.x) * kGroups) {
    const T* yr = y + row * cols;
    const T* gr = gy + row * cols;
    double total = 0;
    for (int64_t j = lane; j < cols; j += GROUP) total += static_cast<double>(gr[j]);
    total = group_all_reduce<GROUP>(total, SumOp{}, smem);
    for (int64_t j = lane; j < cols; j += GROUP)
      gx[row * cols + j] =
          static_cast<T>(static_cast<double>(gr[j]) - exp(static_cast<double>(yr[j])) * total);
  }
}

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

// -log_probs[r, label[r]] as a term of the loss sum. A label outside [0, cols) adds
// nothing and records the first such row in `bad` (atomicMin: the smallest row wins
// whatever the thread order, so the error names the row the CPU reference would).
template <class T>
struct CrossEntropyTerm {
  const T* log_probs;
  const int32_t* labels;
  int64_t cols;
  unsigned long long* bad;
  __device__ double operator()(int64_t r) const {
    const int32_t label = labels[r];
    if (label < 0 || label >= cols) {
      atomicMin(bad, static_cast<unsigned long long>(r));
      return 0.0;
    }
    return -static_cast<double>(log_probs[r * cols + label]);
  }
};

template <class T>
__global__ void cross_entropy_backward_kernel(const T* __restrict__ log_probs,
                                              const int32_t* __restrict__ labels, T scale,
                                              T* __restrict__ glogits, int64_t rows, int64_t cols) {
  const int64_t n = rows * cols;
  for (int64_t t = global_thread(); t < n; t += grid_threads()) {
    const int64_t r = t / cols, j = t - r * cols;
    const T onehot = j == labels[r] ? T(1) : T(0);
    glogits[t] = scale * (exp(log_probs[t]) - onehot);
  }
}

// max(x, 0) - x t + log(1 + e^-|x|), in double as the CPU reference sums it.
template <class T>
struct BceTerm {
  const T* x;
  const T* t;
  __device__ double operator()(int64_t i) const {
    const double xi = x[i], ti = t[i];
    return fmax(xi, 0.0) - xi * ti + log1p(exp(-fabs(xi)));
  }
};

template <class T>
__global__ void bce_backward_kernel(const T* __restrict__ x, const T* __restrict__ t, T scale,
                                    T* __restrict__ gx, T* __restrict__ gt, int64_t n) {
  for (int64_t i = global_thread(); i < n; i += grid_threads()) {
    gx[i] = scale * (sigmoid_of(x[i]) - t[i]);
    if (gt) gt[i] = -scale * x[i];
  }
}

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
