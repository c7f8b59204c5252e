// sum / mean over axes or all, max / argmax over one axis. Reductions run as
// single-axis passes over a contiguous [outer, r, inner] view.
#include <algorithm>
#include <utility>

#include "r2g2/core/autograd.h"
#include "r2g2/core/dispatch.h"
#include "r2g2/core/ops.h"

namespace r2g2 {

namespace {

// The [outer, r, inner] split of `shape` around `axis`.
struct AxisSplit {
  int64_t outer = 1, r = 1, inner = 1;
};
AxisSplit split_at(const Shape& shape, int axis) {
  AxisSplit s;
  for (int i = 0; i < axis; ++i) s.outer *= shape[i];
  s.r = shape[axis];
  for (size_t i = axis + 1; i < shape.size(); ++i) s.inner *= shape[i];
  return s;
}

// Sum of a contiguous tensor over one axis (kept as size 1), outside the tape.
Tensor sum_one_axis(const Tensor& x, int axis) {
  AxisSplit s = split_at(x.shape(), axis);
  Shape out_shape = x.shape();
  out_shape[axis] = 1;
  Tensor y = Tensor::empty(out_shape, x.dtype(), x.device());
  dispatch_floating(x.dtype(), "sum", [&](auto tag) {
    using T = decltype(tag);
    R2G2_KERNEL(x.device(), reduce_sum<T>)(x.data<T>(), y.data<T>(), s.outer, s.r, s.inner);
  });
  return y;
}

std::vector<int> normalized_axes(const std::vector<int>& axes, const Tensor& a, const char* op) {
  std::vector<int> out;
  for (int ax : axes) out.push_back(normalize_axis(ax, a.dim(), op, a.shape()));
  std::sort(out.begin(), out.end());
  R2G2_CHECK(std::adjacent_find(out.begin(), out.end()) == out.end(), op, ": an axis is repeated for shape ",
             shape_str(a.shape()));
  return out;
}

// Values (kept dims) and int32 positions of the maximum along `axis`, outside the tape.
std::pair<Tensor, Tensor> max_with_arg(const Tensor& a, int axis, const char* op) {
  R2G2_CHECK(a.shape()[axis] > 0, op, ": axis ", axis, " of shape ", shape_str(a.shape()), " is empty");
  Tensor x = a.detach().contiguous();
  AxisSplit s = split_at(a.shape(), axis);
  Shape kept = a.shape();
  kept[axis] = 1;
  Tensor y = Tensor::empty(kept, a.dtype(), a.device());
  Tensor arg = Tensor::empty(kept, DType::i32, a.device());
  dispatch_floating(a.dtype(), op, [&](auto tag) {
    using T = decltype(tag);
    R2G2_KERNEL(a.device(), reduce_max<T>)(x.data<T>(), y.data<T>(), arg.data<int32_t>(), s.outer, s.r, s.inner);
  });
  return {y, arg};
}

Shape without_axis(Shape shape, int axis) {
  shape.erase(shape.begin() + axis);
  return shape;
}

}  // namespace

Tensor sum(const Tensor& a, const std::vector<int>& axes_in, bool keepdim) {
  std::vector<int> axes = normalized_axes(axes_in, a, "sum");
  Tensor x = a.detach().contiguous();
  bool reduced = false;
  for (int ax : axes)
    if (x.shape()[ax] != 1) {
      x = sum_one_axis(x, ax);
      reduced = true;
    }
  if (!reduced) x = x.clone();  // the result never aliases the input, as with every other sum
  Shape kept = a.shape(), out_shape;
  for (int ax : axes) kept[ax] = 1;
  for (int i = 0; i < a.dim(); ++i)
    if (!keepdim && std::find(axes.begin(), axes.end(), i) != axes.end())
      continue;
    else
      out_shape.push_back(kept[i]);
  Tensor out = make_view(x, out_shape, contiguous_strides(out_shape), x.offset());
  Shape in_shape = a.shape();
  return record("sum", out, {a}, [in_shape, kept](const Tensor& g) {
    // Broadcasting the kept-dims gradient back over the summed axes.
    Tensor expanded = add(reshape(g, kept), Tensor::zeros(in_shape, g.dtype(), g.device()));
    return std::vector<Tensor>{expanded};
  });
}

Tensor sum(const Tensor& a) {
  std::vector<int> all(a.dim());
  for (int i = 0; i < a.dim(); ++i) all[i] = i;
  return sum(a, all, false);
}

Tensor mean(const Tensor& a, const std::vector<int>& axes, bool keepdim) {
  int64_t count = 1;
  for (int ax : normalized_axes(axes, a, "mean")) count *= a.shape()[ax];
  R2G2_CHECK(count > 0, "mean: reducing an empty axis of shape ", shape_str(a.shape()));
  return mul(sum(a, axes, keepdim), 1.0 / static_cast<double>(count));
}

Tensor mean(const Tensor& a) {
  R2G2_CHECK(a.numel() > 0, "mean: tensor of shape ", shape_str(a.shape()), " is empty");
  return mul(sum(a), 1.0 / static_cast<double>(a.numel()));
}

Tensor max(const Tensor& a, int axis_in, bool keepdim) {
  int axis = normalize_axis(axis_in, a.dim(), "max", a.shape());
  // Named members, not a structured binding: the backward lambda captures arg.
  auto max_and_arg = max_with_arg(a, axis, "max");
  Tensor y = max_and_arg.first, arg = max_and_arg.second;
  Shape in_shape = a.shape(), kept = y.shape();
  Tensor out =
      keepdim ? y : make_view(y, without_axis(kept, axis), contiguous_strides(without_axis(kept, axis)), 0);
  return record("max", out, {a}, [arg, in_shape, kept, axis](const Tensor& g) {
    // Ties send the whole gradient to the first maximum (the one argmax reports).
    Tensor gc = reshape(g, kept).contiguous();
    Tensor gx = Tensor::zeros(in_shape, g.dtype(), g.device());
    AxisSplit s = split_at(in_shape, axis);
    dispatch_floating(g.dtype(), "max backward", [&](auto tag) {
      using T = decltype(tag);
      R2G2_KERNEL(g.device(), reduce_max_backward<T>)(gc.data<T>(), arg.data<int32_t>(), gx.data<T>(), s.outer,
                                                      s.r, s.inner);
    });
    return std::vector<Tensor>{gx};
  });
}

Tensor argmax(const Tensor& a, int axis_in) {
  int axis = normalize_axis(axis_in, a.dim(), "argmax", a.shape());
  Tensor arg = max_with_arg(a, axis, "argmax").second;
  Shape out_shape = without_axis(arg.shape(), axis);
  return make_view(arg, out_shape, contiguous_strides(out_shape), 0);
}

}  // namespace r2g2
