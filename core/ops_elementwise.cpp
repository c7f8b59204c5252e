// Elementwise ops with broadcasting, and sum_to (their shared backward).
#include <cmath>

#include "r2g2/core/autograd.h"
#include "r2g2/core/dispatch.h"
#include "r2g2/core/ops.h"

namespace r2g2 {

using kernels::BinaryOp;
using kernels::UnaryOp;

namespace {

const char* binary_name(BinaryOp op) {
  switch (op) {
    case BinaryOp::add:
      return "add";
    case BinaryOp::sub:
      return "sub";
    case BinaryOp::mul:
      return "mul";
    case BinaryOp::div:
      return "div";
  }
  return "?";
}

void check_same_device_dtype(const Tensor& a, const Tensor& b, const char* op) {
  R2G2_CHECK(a.device() == b.device(), op, ": operands are on different devices (", a.device().str(), " and ",
             b.device().str(), ")");
  R2G2_CHECK(a.dtype() == b.dtype(), op, ": operands have different dtypes (", dtype_name(a.dtype()), " and ",
             dtype_name(b.dtype()), ")");
}

// Strides that read `t` as if broadcast to `out_shape` (0 along expanded axes).
void broadcast_strides(const Tensor& t, const Shape& out_shape, int64_t* strides) {
  int lead = static_cast<int>(out_shape.size()) - t.dim();
  for (int i = 0; i < static_cast<int>(out_shape.size()); ++i) {
    int j = i - lead;
    strides[i] = (j < 0 || t.shape()[j] == 1) ? 0 : t.strides()[j];
  }
}

Tensor binary_forward(BinaryOp op, const Tensor& a, const Tensor& b) {
  const char* name = binary_name(op);
  check_same_device_dtype(a, b, name);
  Shape out_shape = broadcast_shapes(a.shape(), b.shape(), name);
  R2G2_CHECK(out_shape.size() <= kernels::kMaxDims, name, ": more than ", kernels::kMaxDims, " dimensions");
  Tensor out = Tensor::empty(out_shape, a.dtype(), a.device());
  if (out.numel() == 0) return out;
  kernels::Strided2 g;
  g.ndim = static_cast<int>(out_shape.size());
  for (int i = 0; i < g.ndim; ++i) g.shape[i] = out_shape[i];
  broadcast_strides(a, out_shape, g.a_stride);
  broadcast_strides(b, out_shape, g.b_stride);
  dispatch_floating(a.dtype(), name, [&](auto tag) {
    using T = decltype(tag);
    R2G2_KERNEL(a.device(), binary<T>)(op, a.data<T>(), b.data<T>(), out.data<T>(), g);
  });
  return out;
}

Tensor scalar_forward(BinaryOp op, const Tensor& a, double s) {
  Tensor x = a.detach().contiguous();
  Tensor out = Tensor::empty(a.shape(), a.dtype(), a.device());
  dispatch_floating(a.dtype(), binary_name(op), [&](auto tag) {
    using T = decltype(tag);
    R2G2_KERNEL(a.device(), binary_scalar<T>)(op, x.data<T>(), static_cast<T>(s), out.data<T>(), a.numel());
  });
  return out;
}

const char* unary_name(UnaryOp op) {
  switch (op) {
    case UnaryOp::neg:
      return "neg";
    case UnaryOp::exp:
      return "exp";
    case UnaryOp::log:
      return "log";
    case UnaryOp::log1p:
      return "log1p";
    case UnaryOp::sqrt:
      return "sqrt";
    case UnaryOp::square:
      return "square";
    case UnaryOp::softplus:
      return "softplus";
    case UnaryOp::sigmoid:
      return "sigmoid";
    case UnaryOp::tanh:
      return "tanh";
    case UnaryOp::relu:
      return "relu";
    case UnaryOp::log_softplus:
      return "log_softplus";
  }
  return "?";
}

Tensor unary_op(UnaryOp op, const Tensor& a) {
  const char* name = unary_name(op);
  Tensor x = a.detach().contiguous();
  Tensor y = Tensor::empty(a.shape(), a.dtype(), a.device());
  dispatch_floating(a.dtype(), name, [&](auto tag) {
    using T = decltype(tag);
    R2G2_KERNEL(a.device(), unary<T>)(op, x.data<T>(), y.data<T>(), a.numel());
  });
  Tensor y_saved = y.detach();  // saving the output itself would make a cycle through its node
  return record(name, y, {a}, [op, x, y_saved](const Tensor& g) {
    Tensor gc = g.contiguous();
    Tensor gx = Tensor::empty(x.shape(), x.dtype(), x.device());
    dispatch_floating(x.dtype(), "unary_backward", [&](auto tag) {
      using T = decltype(tag);
      R2G2_KERNEL(x.device(), unary_backward<T>)(op, x.data<T>(), y_saved.data<T>(), gc.data<T>(), gx.data<T>(),
                                                 x.numel());
    });
    return std::vector<Tensor>{gx};
  });
}

}  // namespace

Tensor sum_to(const Tensor& g, const Shape& shape) {
  if (g.shape() == shape) return g;
  int lead = g.dim() - static_cast<int>(shape.size());
  R2G2_CHECK(lead >= 0, "sum_to: cannot reduce shape ", shape_str(g.shape()), " to ", shape_str(shape));
  std::vector<int> axes;
  for (int i = 0; i < g.dim(); ++i) {
    if (i < lead)
      axes.push_back(i);
    else if (shape[i - lead] == 1 && g.shape()[i] != 1)
      axes.push_back(i);
    else
      R2G2_CHECK(shape[i - lead] == g.shape()[i], "sum_to: cannot reduce shape ", shape_str(g.shape()),
                 " to ", shape_str(shape));
  }
  return reshape(sum(g, axes, /*keepdim=*/false), shape);
}

Tensor add(const Tensor& a, const Tensor& b) {
  Tensor out = binary_forward(BinaryOp::add, a, b);
  Shape sa = a.shape(), sb = b.shape();
  return record("add", out, {a, b}, [sa, sb](const Tensor& g) {
    return std::vector<Tensor>{sum_to(g, sa), sum_to(g, sb)};
  });
}

Tensor sub(const Tensor& a, const Tensor& b) {
  Tensor out = binary_forward(BinaryOp::sub, a, b);
  Shape sa = a.shape(), sb = b.shape();
  return record("sub", out, {a, b}, [sa, sb](const Tensor& g) {
    return std::vector<Tensor>{sum_to(g, sa), sum_to(neg(g), sb)};
  });
}

Tensor mul(const Tensor& a, const Tensor& b) {
  Tensor out = binary_forward(BinaryOp::mul, a, b);
  Tensor a_saved = b.requires_grad() ? a.detach() : Tensor();  // only what backward needs
  Tensor b_saved = a.requires_grad() ? b.detach() : Tensor();
  Shape sa = a.shape(), sb = b.shape();
  return record("mul", out, {a, b}, [a_saved, b_saved, sa, sb](const Tensor& g) {
    return std::vector<Tensor>{b_saved.defined() ? sum_to(mul(g, b_saved), sa) : Tensor(),
                               a_saved.defined() ? sum_to(mul(g, a_saved), sb) : Tensor()};
  });
}

Tensor div(const Tensor& a, const Tensor& b) {
  Tensor out = binary_forward(BinaryOp::div, a, b);
  Tensor a_saved = a.detach(), b_saved = b.detach();
  bool need_b = b.requires_grad();
  Shape sa = a.shape(), sb = b.shape();
  return record("div", out, {a, b}, [a_saved, b_saved, need_b, sa, sb](const Tensor& g) {
    Tensor ga = sum_to(div(g, b_saved), sa);
    Tensor gb = need_b ? sum_to(neg(div(mul(g, a_saved), square(b_saved))), sb) : Tensor();
    return std::vector<Tensor>{ga, gb};
  });
}

Tensor add(const Tensor& a, double s) {
  return record("add_scalar", scalar_forward(BinaryOp::add, a, s), {a},
                [](const Tensor& g) { return std::vector<Tensor>{g}; });
}

Tensor mul(const Tensor& a, double s) {
  return record("mul_scalar", scalar_forward(BinaryOp::mul, a, s), {a},
                [s](const Tensor& g) { return std::vector<Tensor>{mul(g, s)}; });
}

Tensor neg(const Tensor& a) { return unary_op(UnaryOp::neg, a); }
Tensor exp(const Tensor& a) { return unary_op(UnaryOp::exp, a); }
Tensor log(const Tensor& a) { return unary_op(UnaryOp::log, a); }
Tensor log1p(const Tensor& a) { return unary_op(UnaryOp::log1p, a); }
Tensor sqrt(const Tensor& a) { return unary_op(UnaryOp::sqrt, a); }
Tensor square(const Tensor& a) { return unary_op(UnaryOp::square, a); }
Tensor softplus(const Tensor& a) { return unary_op(UnaryOp::softplus, a); }
Tensor sigmoid(const Tensor& a) { return unary_op(UnaryOp::sigmoid, a); }
Tensor tanh(const Tensor& a) { return unary_op(UnaryOp::tanh, a); }
Tensor relu(const Tensor& a) { return unary_op(UnaryOp::relu, a); }
Tensor log_softplus(const Tensor& a) { return unary_op(UnaryOp::log_softplus, a); }

}  // namespace r2g2
