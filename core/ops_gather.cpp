// gather_rows: the mini-batch gather. Backward scatters the gradient rows back, adding
// where a row was picked more than once.
#include "r2g2/core/autograd.h"
#include "r2g2/core/dispatch.h"
#include "r2g2/core/ops.h"

namespace r2g2 {

Tensor gather_rows(const Tensor& a, const Tensor& index_in) {
  R2G2_CHECK(a.dim() >= 1, "gather_rows: the source must have at least one axis, got shape ",
             shape_str(a.shape()));
  R2G2_CHECK(index_in.dtype() == DType::i32 && index_in.dim() == 1, "gather_rows: index must be a 1-D int32 ",
             "tensor, got ", dtype_name(index_in.dtype()), " of shape ", shape_str(index_in.shape()));
  R2G2_CHECK(a.device() == index_in.device(), "gather_rows: source is on ", a.device().str(), ", index on ",
             index_in.device().str());
  Tensor x = a.detach().contiguous();
  Tensor index = index_in.detach().contiguous();
  const int64_t rows = a.shape()[0], n_index = index.numel();
  const int64_t row_len = numel_of(Shape(a.shape().begin() + 1, a.shape().end()));
  Shape out_shape = a.shape();
  out_shape[0] = n_index;
  if (a.dtype() == DType::i32) {
    // Labels: not differentiable.
    Tensor y = Tensor::empty(out_shape, DType::i32, a.device());
    R2G2_KERNEL(a.device(), gather_rows<int32_t>)(x.data<int32_t>(), index.data<int32_t>(), y.data<int32_t>(),
                                                  n_index, rows, row_len);
    return y;
  }
  Tensor y = Tensor::empty(out_shape, a.dtype(), a.device());
  dispatch_floating(a.dtype(), "gather_rows", [&](auto tag) {
    using T = decltype(tag);
    R2G2_KERNEL(a.device(), gather_rows<T>)(x.data<T>(), index.data<int32_t>(), y.data<T>(), n_index, rows,
                                            row_len);
  });
  Shape in_shape = a.shape();
  return record("gather_rows", y, {a}, [index, in_shape, n_index, row_len](const Tensor& g) {
    Tensor gc = g.contiguous();
    Tensor gx = Tensor::zeros(in_shape, g.dtype(), g.device());
    dispatch_floating(g.dtype(), "gather_rows backward", [&](auto tag) {
      using T = decltype(tag);
      R2G2_KERNEL(g.device(), scatter_add_rows<T>)(gc.data<T>(), index.data<int32_t>(), gx.data<T>(), n_index,
                                                   row_len);
    });
    return std::vector<Tensor>{gx};
  });
}

}  // namespace r2g2
