// concat along an axis: each part is a block of [outer, len * inner] copied into its
// column range of the output; backward slices the gradient back apart.
#include "r2g2/core/autograd.h"
#include "r2g2/core/dispatch.h"
#include "r2g2/core/ops.h"

namespace r2g2 {

Tensor concat(const std::vector<Tensor>& parts_in, int axis_in) {
  R2G2_CHECK(!parts_in.empty(), "concat: no tensors given");
  const Tensor& first = parts_in[0];
  int axis = normalize_axis(axis_in, first.dim(), "concat", first.shape());
  Shape out_shape = first.shape();
  out_shape[axis] = 0;
  for (const Tensor& p : parts_in) {
    bool same = p.dim() == first.dim() && p.dtype() == first.dtype() && p.device() == first.device();
    for (int i = 0; same && i < p.dim(); ++i) same = i == axis || p.shape()[i] == first.shape()[i];
    R2G2_CHECK(same, "concat: shape ", shape_str(p.shape()), " (", dtype_name(p.dtype()), ", ",
               p.device().str(), ") does not match ", shape_str(first.shape()), " (",
               dtype_name(first.dtype()), ", ", first.device().str(), ") outside axis ", axis);
    out_shape[axis] += p.shape()[axis];
  }
  int64_t outer = 1, inner = 1;
  for (int i = 0; i < axis; ++i) outer *= out_shape[i];
  for (int i = axis + 1; i < first.dim(); ++i) inner *= out_shape[i];
  Tensor out = Tensor::empty(out_shape, first.dtype(), first.device());
  int64_t out_ld = out_shape[axis] * inner, col = 0;
  std::vector<int64_t> lengths;
  for (const Tensor& p_in : parts_in) {
    Tensor p = p_in.detach().contiguous();
    int64_t cols = p.shape()[axis] * inner;
    dispatch_floating(p.dtype(), "concat", [&](auto tag) {
      using T = decltype(tag);
      R2G2_KERNEL(p.device(), copy_2d<T>)(p.data<T>(), cols, out.data<T>() + col, out_ld, outer, cols);
    });
    col += cols;
    lengths.push_back(p.shape()[axis]);
  }
  return record("concat", out, parts_in, [axis, lengths](const Tensor& g) {
    std::vector<Tensor> grads;
    int64_t start = 0;
    for (int64_t len : lengths) {
      grads.push_back(slice(g, axis, start, start + len).contiguous());
      start += len;
    }
    return grads;
  });
}

}  // namespace r2g2
