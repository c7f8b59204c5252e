#pragma once
// CUDA implementation of kernels/cpu/softmax.h: the same signatures, device pointers,
// launched on r2g2's current stream (kernels/cuda/stream.h). Errors throw r2g2::Error.
// The losses return a host value and so synchronise; their labels are checked on the
// device and a bad one throws the CPU's error. Sums are deterministic (sum_impl.cuh).
// ---- The CPU reference's notes follow. ----
// Row-wise log-softmax and the fused losses, over contiguous [rows, cols].
#include <cstdint>

namespace r2g2::kernels::cuda {

template <class T>
void log_softmax(const T* x, T* y, int64_t rows, int64_t cols);
// gx = gy - exp(y) * sum(gy) per row, with y = log_softmax(x).
template <class T>
void log_softmax_backward(const T* y, const T* gy, T* gx, int64_t rows, int64_t cols);
// loss = mean_r -log_softmax(x)[r, label[r]]; also writes log_probs [rows, cols] for backward.
// A label outside [0, cols) throws naming the row and label.
template <class T>
T cross_entropy(const T* logits, const int32_t* labels, T* log_probs, int64_t rows, int64_t cols);
// glogits = g / rows * (softmax - onehot(label)).
template <class T>
void cross_entropy_backward(const T* log_probs, const int32_t* labels, T g, T* glogits, int64_t rows,
                            int64_t cols);
// mean over n of max(x,0) - x t + log(1 + e^-|x|).
template <class T>
T bce_with_logits(const T* x, const T* t, int64_t n);
// gx = g / n * (sigmoid(x) - t); gt = g / n * (-x) when gt is not null.
template <class T>
void bce_with_logits_backward(const T* x, const T* t, T g, T* gx, T* gt, int64_t n);

}  // namespace r2g2::kernels::cuda
