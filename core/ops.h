#pragma once
// The differentiable op API. Each op checks shapes (errors name both shapes), runs
// the kernel for the tensor's device and dtype, and records its backward on the tape.
// Backward closures are written with these same ops, so one backward serves every
// device.
#include <cstdint>
#include <optional>
#include <vector>

#include "r2g2/core/autograd.h"  // backward, NoGrad: every user of the ops needs them
#include "r2g2/core/tensor.h"

namespace r2g2 {

// --- elementwise, NumPy broadcasting ------------------------------------------
Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
Tensor add(const Tensor& a, double s);
Tensor mul(const Tensor& a, double s);
Tensor neg(const Tensor& a);
Tensor exp(const Tensor& a);
Tensor log(const Tensor& a);
Tensor log1p(const Tensor& a);
Tensor sqrt(const Tensor& a);
Tensor square(const Tensor& a);
Tensor softplus(const Tensor& a);  // log(1 + e^x), stable for large |x|
Tensor sigmoid(const Tensor& a);
Tensor tanh(const Tensor& a);
Tensor relu(const Tensor& a);
// log(softplus(x)), finite and with the right gradient (-> 1) where softplus underflows to 0:
// the log sigma of a KL term when sigma = softplus(rho).
Tensor log_softplus(const Tensor& a);

inline Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
inline Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
inline Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
inline Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
inline Tensor operator-(const Tensor& a) { return neg(a); }
inline Tensor operator+(const Tensor& a, double s) { return add(a, s); }
inline Tensor operator-(const Tensor& a, double s) { return add(a, -s); }
inline Tensor operator*(const Tensor& a, double s) { return mul(a, s); }
inline Tensor operator*(double s, const Tensor& a) { return mul(a, s); }
inline Tensor operator/(const Tensor& a, double s) { return mul(a, 1.0 / s); }

// Sums `g` down to `shape` over the axes that broadcasting expanded (the backward of
// every broadcasting op).
Tensor sum_to(const Tensor& g, const Shape& shape);

// --- linear algebra -----------------------------------------------------------
// [n,k] x [k,m] -> [n,m]; batched [..., n, k] x [..., k, m] with equal leading dims,
// or a batched left operand times a 2-D right operand.
Tensor matmul(const Tensor& a, const Tensor& b);

// --- reductions ---------------------------------------------------------------
Tensor sum(const Tensor& a);  // all -> shape []
Tensor sum(const Tensor& a, const std::vector<int>& axes, bool keepdim = false);
Tensor mean(const Tensor& a);
Tensor mean(const Tensor& a, const std::vector<int>& axes, bool keepdim = false);
Tensor max(const Tensor& a, int axis, bool keepdim = false);  // values; gradient to the argmax
Tensor argmax(const Tensor& a, int axis);                     // int32, not differentiable

// --- softmax and losses -------------------------------------------------------
Tensor log_softmax(const Tensor& a, int axis = -1);
// Mean over rows of -log softmax(logits)[label]; logits [N, C], labels int32 [N].
Tensor cross_entropy(const Tensor& logits, const Tensor& labels);
// Mean of the elementwise binary cross-entropy between sigmoid(logits) and targets.
Tensor binary_cross_entropy_with_logits(const Tensor& logits, const Tensor& targets);

// --- shape ---------------------------------------------------------------------
Tensor reshape(const Tensor& a, const Shape& shape);
Tensor transpose(const Tensor& a, int axis0, int axis1);
Tensor slice(const Tensor& a, int axis, int64_t start, int64_t end);
Tensor concat(const std::vector<Tensor>& parts, int axis);
// Rows of `a` (along axis 0) picked by int32 `index`: the mini-batch gather.
Tensor gather_rows(const Tensor& a, const Tensor& index);

// --- convolution and pooling (NCHW) -----------------------------------------
struct Conv2dParams {
  int stride = 1;
  int padding = 0;
};
// x [N, C, H, W], w [O, C, kh, kw], optional bias [O] -> [N, O, OH, OW].
Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor& bias = {}, Conv2dParams p = {});
// x [N, C, H, W] -> patches [N, C*kh*kw, OH*OW] (differentiable; used by Bayesian conv).
Tensor im2col(const Tensor& x, int kh, int kw, Conv2dParams p = {});
Tensor max_pool2d(const Tensor& x, int kernel, int stride = 0);  // stride 0 means = kernel

// Output spatial size of a convolution or pool; throws naming the sizes if it is < 1.
int conv_out_size(int in, int kernel, int stride, int padding, const char* op);

}  // namespace r2g2
