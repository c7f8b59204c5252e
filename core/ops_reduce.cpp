// sum / mean over axes or all. Multi-axis sums run as single-axis passes over a
// contiguous [outer, r, inner] view.
#include <algorithm>

#include "core/autograd.h"
#include "core/dispatch.h"
#include "core/ops.h"

namespace r2g2 {

namespace {

// Sum of a contiguous tensor over one axis (kept as size 1), outside the tape.
Tensor sum_one_axis(const Tensor& x, int axis) {
  Shape out_shape = x.shape();
  int64_t r = out_shape[axis];
  out_shape[axis] = 1;
  int64_t outer = 1, inner = 1;
  for (int i = 0; i < axis; ++i) outer *= x.shape()[i];
  for (int i = axis + 1; i < x.dim(); ++i) inner *= x.shape()[i];
  Tensor y = Tensor::empty(out_shape, x.dtype(), x.device());
  dispatch_floating(x.dtype(), "sum", [&](auto tag) {
    using T = decltype(tag);
    if (x.device().is_cuda())
      R2G2_CUDA(kcuda::reduce_sum<T>(x.data<T>(), y.data<T>(), outer, r, inner));
    else
      kcpu::reduce_sum<T>(x.data<T>(), y.data<T>(), outer, r, inner);
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

}  // namespace

Tensor sum(const Tensor& a, const std::vector<int>& axes_in, bool keepdim) {
  std::vector<int> axes = normalized_axes(axes_in, a, "sum");
  Tensor x = a.contiguous().detach();
  for (int ax : axes)
    if (x.shape()[ax] != 1) x = sum_one_axis(x, ax);
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

}  // namespace r2g2
