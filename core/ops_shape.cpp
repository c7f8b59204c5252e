// Views (reshape, transpose, slice) share storage; their backward maps the gradient
// back onto the input's shape.
#include "r2g2/core/autograd.h"
#include "r2g2/core/dispatch.h"
#include "r2g2/core/ops.h"

namespace r2g2 {

Tensor reshape(const Tensor& a, const Shape& shape_in) {
  Shape shape = shape_in;
  int64_t known = 1;
  int infer = -1;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == -1) {
      R2G2_CHECK(infer < 0, "reshape: more than one -1 in ", shape_str(shape_in));
      infer = static_cast<int>(i);
    } else {
      R2G2_CHECK(shape[i] >= 0, "reshape: negative size in ", shape_str(shape_in));
      known *= shape[i];
    }
  }
  if (infer >= 0) {
    R2G2_CHECK(known > 0 && a.numel() % known == 0, "reshape: cannot reshape ", shape_str(a.shape()),
               " into ", shape_str(shape_in));
    shape[infer] = a.numel() / known;
  }
  R2G2_CHECK(numel_of(shape) == a.numel(), "reshape: cannot reshape ", shape_str(a.shape()), " (", a.numel(),
             " elements) into ", shape_str(shape_in));
  if (shape == a.shape()) return a;
  Tensor base = a.contiguous();  // records a copy only when `a` is strided
  Tensor out = make_view(base, shape, contiguous_strides(shape), base.offset());
  Shape in_shape = base.shape();
  return record("reshape", out, {base},
                [in_shape](const Tensor& g) { return std::vector<Tensor>{reshape(g, in_shape)}; });
}

Tensor transpose(const Tensor& a, int axis0, int axis1) {
  int d0 = normalize_axis(axis0, a.dim(), "transpose", a.shape());
  int d1 = normalize_axis(axis1, a.dim(), "transpose", a.shape());
  Shape shape = a.shape(), strides = a.strides();
  std::swap(shape[d0], shape[d1]);
  std::swap(strides[d0], strides[d1]);
  Tensor out = make_view(a, shape, strides, a.offset());
  return record("transpose", out, {a},
                [d0, d1](const Tensor& g) { return std::vector<Tensor>{transpose(g, d0, d1)}; });
}

Tensor slice(const Tensor& a, int axis_in, int64_t start, int64_t end) {
  int axis = normalize_axis(axis_in, a.dim(), "slice", a.shape());
  int64_t n = a.shape()[axis];
  R2G2_CHECK(0 <= start && start <= end && end <= n, "slice: range [", start, ", ", end, ") is outside axis ",
             axis, " of shape ", shape_str(a.shape()));
  Shape shape = a.shape();
  shape[axis] = end - start;
  Tensor out = make_view(a, shape, a.strides(), a.offset() + start * a.strides()[axis]);
  Shape in_shape = a.shape();
  return record("slice", out, {a}, [in_shape, axis, start, end](const Tensor& g) {
    // Zero blocks either side, concatenated: the gradient is zero outside the slice.
    std::vector<Tensor> parts;
    Shape pad = in_shape;
    if (start > 0) {
      pad[axis] = start;
      parts.push_back(Tensor::zeros(pad, g.dtype(), g.device()));
    }
    parts.push_back(g);
    if (end < in_shape[axis]) {
      pad[axis] = in_shape[axis] - end;
      parts.push_back(Tensor::zeros(pad, g.dtype(), g.device()));
    }
    return std::vector<Tensor>{parts.size() == 1 ? g : concat(parts, axis)};
  });
}

}  // namespace r2g2
