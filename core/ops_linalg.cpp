// matmul: 2-D, batched with equal leading dims, and batched x 2-D. Operands that are
// transposed views of contiguous matrices (x.t(), transpose(-2, -1)) reach the GEMM
// as a transpose flag and a leading dimension instead of a copy.
#include <optional>

#include "r2g2/core/autograd.h"
#include "r2g2/core/dispatch.h"
#include "r2g2/core/ops.h"

namespace r2g2 {

namespace {

// How the GEMM reads one operand: op(X) = X or X^T, X row-major with row stride ld,
// matrix i of the batch at data + i * batch_stride.
struct Operand {
  Tensor t;  // detached; its data pointer addresses matrix 0
  bool trans = false;
  int64_t ld = 1;
  int64_t batch_stride = 0;
};

// A rows x cols matrix with element strides (s_r, s_c) as a GEMM operand, if it is one:
// row-major (s_c == 1) or column-major (s_r == 1) with rows not overlapping. Strides of
// size-1 axes are arbitrary, so they are not looked at.
std::optional<std::pair<bool, int64_t>> matrix_layout(int64_t rows, int64_t cols, int64_t s_r, int64_t s_c) {
  if (cols == 1 || s_c == 1) {
    int64_t ld = rows == 1 ? std::max<int64_t>(cols, 1) : s_r;
    if (ld >= std::max<int64_t>(cols, 1)) return std::make_pair(false, ld);
  }
  if (rows == 1 || s_r == 1) {
    int64_t ld = cols == 1 ? std::max<int64_t>(rows, 1) : s_c;
    if (ld >= std::max<int64_t>(rows, 1)) return std::make_pair(true, ld);
  }
  return std::nullopt;
}

// One stride that steps through all leading (batch) axes of `t` in row-major order,
// if there is one.
std::optional<int64_t> batch_stride_of(const Tensor& t) {
  int64_t stride = 0, expect = -1;
  for (int i = t.dim() - 3; i >= 0; --i) {
    if (t.shape()[i] == 1) continue;
    if (expect < 0)
      stride = t.strides()[i];
    else if (t.strides()[i] != expect)
      return std::nullopt;
    expect = t.strides()[i] * t.shape()[i];
  }
  return stride;
}

Operand as_operand(const Tensor& x) {
  Tensor t = x.detach();
  const int d = t.dim();
  auto try_layout = [&](const Tensor& v) -> std::optional<Operand> {
    auto layout = matrix_layout(v.shape()[d - 2], v.shape()[d - 1], v.strides()[d - 2], v.strides()[d - 1]);
    auto bs = batch_stride_of(v);
    if (!layout || !bs) return std::nullopt;
    return Operand{v, layout->first, layout->second, *bs};
  };
  if (auto op = try_layout(t)) return *op;
  auto op = try_layout(t.contiguous());  // detached: the copy is not recorded
  R2G2_CHECK(op.has_value(), "matmul: internal error: no GEMM layout for contiguous shape ",
             shape_str(t.shape()));
  return *op;
}

template <class T>
void run_gemm(Device device, int64_t batch, const Operand& a, const Operand& b, int64_t m, int64_t n,
              int64_t k, T* c, int64_t stride_c) {
  const T* pa = a.t.data<T>();
  const T* pb = b.t.data<T>();
  if (batch == 1)
    R2G2_KERNEL(device, gemm<T>)(a.trans, b.trans, m, n, k, T(1), pa, a.ld, pb, b.ld, T(0), c, n);
  else
    R2G2_KERNEL(device, gemm_batched<T>)(batch, a.trans, b.trans, m, n, k, T(1), pa, a.ld, a.batch_stride, pb,
                                         b.ld, b.batch_stride, T(0), c, n, stride_c);
}

// The product, outside the tape. Shapes are already checked.
Tensor matmul_forward(const Tensor& a, const Tensor& b, const Shape& out_shape) {
  const int64_t m = a.shape()[a.dim() - 2], k = a.shape()[a.dim() - 1], n = b.shape()[b.dim() - 1];
  if (k == 0) return Tensor::zeros(out_shape, a.dtype(), a.device());  // an empty sum
  Tensor out = Tensor::empty(out_shape, a.dtype(), a.device());
  if (out.numel() == 0) return out;
  int64_t batch = 1;
  for (int i = 0; i + 2 < a.dim(); ++i) batch *= a.shape()[i];
  Operand oa = as_operand(a), ob = as_operand(b);
  int64_t rows = m;
  if (b.dim() == 2) {
    ob.batch_stride = 0;  // one right operand shared by the batch
    // A batch of untransposed matrices stacked row after row is one tall matrix:
    // a single large GEMM instead of `batch` small ones.
    if (batch > 1 && !oa.trans && (oa.batch_stride == m * oa.ld)) {
      rows = batch * m;
      batch = 1;
    }
  }
  dispatch_floating(a.dtype(), "matmul", [&](auto tag) {
    using T = decltype(tag);
    run_gemm<T>(a.device(), batch, oa, ob, rows, n, k, out.data<T>(), m * n);
  });
  return out;
}

}  // namespace

Tensor matmul(const Tensor& a, const Tensor& b) {
  R2G2_CHECK(a.device() == b.device(), "matmul: operands are on different devices (", a.device().str(),
             " and ", b.device().str(), ")");
  R2G2_CHECK(a.dtype() == b.dtype(), "matmul: operands have different dtypes (", dtype_name(a.dtype()),
             " and ", dtype_name(b.dtype()), ")");
  R2G2_CHECK(is_floating(a.dtype()), "matmul: expected float32 or float64 operands, got ",
             dtype_name(a.dtype()));
  R2G2_CHECK(a.dim() >= 2 && b.dim() >= 2, "matmul: shapes ", shape_str(a.shape()), " and ",
             shape_str(b.shape()), " must both have at least 2 dimensions");
  R2G2_CHECK(b.dim() == 2 || b.dim() == a.dim(), "matmul: shapes ", shape_str(a.shape()), " and ",
             shape_str(b.shape()),
             " are not supported: the right operand must be 2-D or have the same number of dimensions");
  const int64_t k = a.shape()[a.dim() - 1];
  R2G2_CHECK(b.shape()[b.dim() - 2] == k, "matmul: shapes ", shape_str(a.shape()), " and ",
             shape_str(b.shape()), " do not match (inner sizes ", k, " and ", b.shape()[b.dim() - 2], ")");
  Shape out_shape(a.shape().begin(), a.shape().end() - 1);
  out_shape.push_back(b.shape()[b.dim() - 1]);
  if (b.dim() > 2)
    for (int i = 0; i + 2 < a.dim(); ++i)
      R2G2_CHECK(a.shape()[i] == b.shape()[i], "matmul: shapes ", shape_str(a.shape()), " and ",
                 shape_str(b.shape()), " have different batch dimensions");

  Tensor out = matmul_forward(a, b, out_shape);
  const bool need_a = a.requires_grad(), need_b = b.requires_grad();
  Tensor a_saved = need_b ? a.detach() : Tensor();
  Tensor b_saved = need_a ? b.detach() : Tensor();
  const bool shared_b = b.dim() == 2 && a.dim() > 2;
  return record("matmul", out, {a, b}, [a_saved, b_saved, shared_b](const Tensor& g) {
    // dA = g B^T; dB = A^T g, summed over the batch when B is shared by it.
    Tensor ga, gb;
    if (b_saved.defined()) ga = matmul(g, transpose(b_saved, -2, -1));
    if (a_saved.defined()) {
      if (shared_b) {
        const int64_t k = a_saved.shape().back(), n = g.shape().back();
        gb = matmul(transpose(reshape(a_saved, {-1, k}), 0, 1), reshape(g, {-1, n}));
      } else {
        gb = matmul(transpose(a_saved, -2, -1), g);
      }
    }
    return std::vector<Tensor>{ga, gb};
  });
}

}  // namespace r2g2
