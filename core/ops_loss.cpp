// log_softmax and the fused losses. The kernels work on contiguous [rows, cols] and
// shift by the row maximum, so large logits never overflow.
#include "r2g2/core/autograd.h"
#include "r2g2/core/dispatch.h"
#include "r2g2/core/ops.h"

namespace r2g2 {

namespace {

void check_same_device(const Tensor& a, const Tensor& b, const char* op) {
  R2G2_CHECK(a.device() == b.device(), op, ": operands are on different devices (", a.device().str(), " and ",
             b.device().str(), ")");
}

// log_softmax over the last axis.
Tensor log_softmax_last(const Tensor& a) {
  Tensor x = a.detach().contiguous();
  const int64_t cols = a.shape().back();
  const int64_t rows = cols > 0 ? a.numel() / cols : 0;
  Tensor y = Tensor::empty(a.shape(), a.dtype(), a.device());
  dispatch_floating(a.dtype(), "log_softmax", [&](auto tag) {
    using T = decltype(tag);
    R2G2_KERNEL(a.device(), log_softmax<T>)(x.data<T>(), y.data<T>(), rows, cols);
  });
  Tensor y_saved = y.detach();  // the output itself would make a cycle through its node
  return record("log_softmax", y, {a}, [y_saved, rows, cols](const Tensor& g) {
    Tensor gc = g.contiguous();
    Tensor gx = Tensor::empty(y_saved.shape(), y_saved.dtype(), y_saved.device());
    dispatch_floating(gc.dtype(), "log_softmax backward", [&](auto tag) {
      using T = decltype(tag);
      R2G2_KERNEL(gc.device(), log_softmax_backward<T>)(y_saved.data<T>(), gc.data<T>(), gx.data<T>(), rows, cols);
    });
    return std::vector<Tensor>{gx};
  });
}

}  // namespace

Tensor log_softmax(const Tensor& a, int axis_in) {
  int axis = normalize_axis(axis_in, a.dim(), "log_softmax", a.shape());
  if (axis == a.dim() - 1) return log_softmax_last(a);
  // Another axis is moved last and back; transpose is a recorded view, so backward follows.
  return transpose(log_softmax_last(transpose(a, axis, -1)), axis, -1);
}

Tensor cross_entropy(const Tensor& logits, const Tensor& labels) {
  R2G2_CHECK(logits.dim() == 2, "cross_entropy: logits must be [N, C], got shape ",
             shape_str(logits.shape()));
  R2G2_CHECK(labels.dtype() == DType::i32, "cross_entropy: labels must be int32, got ",
             dtype_name(labels.dtype()));
  R2G2_CHECK(labels.dim() == 1 && labels.shape()[0] == logits.shape()[0], "cross_entropy: labels of shape ",
             shape_str(labels.shape()), " do not match logits of shape ", shape_str(logits.shape()),
             " (expected [", logits.shape()[0], "])");
  R2G2_CHECK(logits.shape()[0] > 0 && logits.shape()[1] > 0, "cross_entropy: logits of shape ",
             shape_str(logits.shape()), " are empty");
  check_same_device(logits, labels, "cross_entropy");
  const int64_t rows = logits.shape()[0], cols = logits.shape()[1];
  Tensor x = logits.detach().contiguous();
  Tensor lab = labels.detach().contiguous();
  Tensor log_probs = Tensor::empty(logits.shape(), logits.dtype(), logits.device());
  Tensor loss = dispatch_floating(logits.dtype(), "cross_entropy", [&](auto tag) {
    using T = decltype(tag);
    const T value = R2G2_KERNEL(logits.device(), cross_entropy<T>)(x.data<T>(), lab.data<int32_t>(),
                                                                   log_probs.data<T>(), rows, cols);
    return Tensor::scalar(static_cast<double>(value), logits.dtype(), logits.device());
  });
  return record("cross_entropy", loss, {logits}, [log_probs, lab, rows, cols](const Tensor& g) {
    // The kernel takes a host scale; passing 1 and multiplying by g (rank 0, broadcast)
    // keeps the seed on its device.
    Tensor gx = Tensor::empty(log_probs.shape(), log_probs.dtype(), log_probs.device());
    dispatch_floating(log_probs.dtype(), "cross_entropy backward", [&](auto tag) {
      using T = decltype(tag);
      R2G2_KERNEL(gx.device(), cross_entropy_backward<T>)(log_probs.data<T>(), lab.data<int32_t>(), T(1),
                                                          gx.data<T>(), rows, cols);
    });
    return std::vector<Tensor>{mul(gx, g)};
  });
}

Tensor binary_cross_entropy_with_logits(const Tensor& logits, const Tensor& targets) {
  const char* op = "binary_cross_entropy_with_logits";
  R2G2_CHECK(logits.shape() == targets.shape(), op, ": logits of shape ", shape_str(logits.shape()),
             " and targets of shape ", shape_str(targets.shape()), " differ");
  R2G2_CHECK(logits.dtype() == targets.dtype(), op, ": logits are ", dtype_name(logits.dtype()),
             ", targets are ", dtype_name(targets.dtype()));
  R2G2_CHECK(logits.numel() > 0, op, ": inputs of shape ", shape_str(logits.shape()), " are empty");
  check_same_device(logits, targets, op);
  const int64_t n = logits.numel();
  Tensor x = logits.detach().contiguous();
  Tensor t = targets.detach().contiguous();
  Tensor loss = dispatch_floating(logits.dtype(), op, [&](auto tag) {
    using T = decltype(tag);
    const T value = R2G2_KERNEL(logits.device(), bce_with_logits<T>)(x.data<T>(), t.data<T>(), n);
    return Tensor::scalar(static_cast<double>(value), logits.dtype(), logits.device());
  });
  bool need_t = targets.requires_grad();
  return record("bce_with_logits", loss, {logits, targets}, [x, t, n, need_t](const Tensor& g) {
    Tensor gx = Tensor::empty(x.shape(), x.dtype(), x.device());
    Tensor gt = need_t ? Tensor::empty(x.shape(), x.dtype(), x.device()) : Tensor();
    dispatch_floating(x.dtype(), "bce_with_logits backward", [&](auto tag) {
      using T = decltype(tag);
      T* gt_data = need_t ? gt.data<T>() : nullptr;
      R2G2_KERNEL(x.device(), bce_with_logits_backward<T>)(x.data<T>(), t.data<T>(), T(1), gx.data<T>(), gt_data,
                                                           n);
    });
    return std::vector<Tensor>{mul(gx, g), need_t ? mul(gt, g) : Tensor()};
  });
}

}  // namespace r2g2
