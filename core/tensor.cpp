#include "r2g2/core/tensor.h"

#include <cmath>

#include "r2g2/core/autograd.h"
#include "r2g2/core/dispatch.h"
#include "r2g2/core/ops.h"

namespace r2g2 {

Storage::Storage(size_t b, Device d) : data(device_alloc(d, b)), bytes(b), device(d) {}
Storage::~Storage() { device_free(device, data, bytes); }

namespace {

// The allocators name the bytes and their pools; the shape and dtype are known only here.
std::shared_ptr<Storage> new_storage(const Shape& shape, DType dtype, Device device) {
  size_t bytes = dtype_size(dtype);
  bool overflow = false, empty = false;
  for (int64_t d : shape) {
    R2G2_CHECK(d >= 0, "Tensor: negative dimension in shape ", shape_str(shape));
    empty = empty || d == 0;
    overflow = overflow || __builtin_mul_overflow(bytes, static_cast<size_t>(d), &bytes);
  }
  if (empty) bytes = 0;
  R2G2_CHECK(empty || !overflow, "cannot allocate a ", dtype_name(dtype), " tensor of shape ", shape_str(shape),
             " on ", device.str(), ": its size in bytes overflows 64 bits");
  try {
    return std::make_shared<Storage>(bytes, device);
  } catch (const Error& e) {
    throw Error(detail::concat("cannot allocate a ", dtype_name(dtype), " tensor of shape ", shape_str(shape),
                               " on ", device.str(), ": ", e.what()));
  }
}

std::shared_ptr<TensorImpl> new_impl(const Shape& shape, DType dtype, Device device) {
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = new_storage(shape, dtype, device);
  impl->shape = shape;
  impl->strides = contiguous_strides(shape);
  impl->dtype = dtype;
  return impl;
}

kernels::Strided2 strided_geom(const Tensor& t) {
  R2G2_CHECK(t.dim() <= kernels::kMaxDims, "tensor of shape ", shape_str(t.shape()), " has more than ",
             kernels::kMaxDims, " dimensions");
  kernels::Strided2 g;
  g.ndim = t.dim();
  for (int i = 0; i < t.dim(); ++i) {
    g.shape[i] = t.shape()[i];
    g.a_stride[i] = t.strides()[i];
  }
  return g;
}

// A contiguous copy of `t` on the same device, outside the tape.
Tensor contiguous_copy(const Tensor& t) {
  Tensor out = Tensor::empty(t.shape(), t.dtype(), t.device());
  if (t.numel() == 0) return out;
  auto geom = strided_geom(t);
  auto run = [&](auto tag) {
    using T = decltype(tag);
    R2G2_KERNEL(t.device(), copy_strided<T>)(t.data<T>(), out.data<T>(), geom);
  };
  if (t.dtype() == DType::i32)
    run(int32_t{});
  else
    dispatch_floating(t.dtype(), "contiguous", run);
  if (profiler::enabled()) profiler::count_op("contiguous copy");
  return out;
}

template <class From, class To>
void cast_on(const Tensor& src, Tensor& dst) {
  R2G2_KERNEL(src.device(), cast<From, To>)(src.data<From>(), dst.data<To>(), src.numel());
}

// Converts a contiguous tensor's dtype, outside the tape.
Tensor cast_copy(const Tensor& src, DType dtype) {
  Tensor out = Tensor::empty(src.shape(), dtype, src.device());
  auto from = src.dtype();
  if (from == DType::f32 && dtype == DType::f64)
    cast_on<float, double>(src, out);
  else if (from == DType::f64 && dtype == DType::f32)
    cast_on<double, float>(src, out);
  else if (from == DType::i32 && dtype == DType::f32)
    cast_on<int32_t, float>(src, out);
  else if (from == DType::i32 && dtype == DType::f64)
    cast_on<int32_t, double>(src, out);
  else if (from == DType::f32 && dtype == DType::i32)
    cast_on<float, int32_t>(src, out);
  else if (from == DType::f64 && dtype == DType::i32)
    cast_on<double, int32_t>(src, out);
  else
    device_copy(out.raw_data(), out.device(), src.raw_data(), src.device(), src.numel() * dtype_size(dtype));
  return out;
}

}  // namespace

Tensor make_view(const Tensor& base, const Shape& shape, const Shape& strides, int64_t offset) {
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = base.impl().storage;
  impl->shape = shape;
  impl->strides = strides;
  impl->offset = offset;
  impl->dtype = base.dtype();
  return Tensor(std::move(impl));
}

Tensor Tensor::empty(const Shape& shape, DType dtype, Device device) {
  return Tensor(new_impl(shape, dtype, device));
}

Tensor Tensor::zeros(const Shape& shape, DType dtype, Device device) {
  return full(shape, 0.0, dtype, device);
}
Tensor Tensor::ones(const Shape& shape, DType dtype, Device device) {
  return full(shape, 1.0, dtype, device);
}
Tensor Tensor::scalar(double value, DType dtype, Device device) { return full({}, value, dtype, device); }

Tensor Tensor::full(const Shape& shape, double value, DType dtype, Device device) {
  Tensor t = empty(shape, dtype, device);
  t.fill_(value);
  return t;
}

Tensor Tensor::from_vector(const std::vector<double>& values, const Shape& shape, DType dtype,
                           Device device) {
  R2G2_CHECK(static_cast<int64_t>(values.size()) == numel_of(shape), "from_vector: ", values.size(),
             " values do not fill shape ", shape_str(shape));
  Tensor host = empty(shape, DType::f64);
  std::copy(values.begin(), values.end(), host.data<double>());
  Tensor converted = dtype == DType::f64 ? host : cast_copy(host, dtype);
  return device.is_cpu() ? converted : converted.to(device);
}

Tensor Tensor::from_vector(const std::vector<float>& values, const Shape& shape, Device device) {
  R2G2_CHECK(static_cast<int64_t>(values.size()) == numel_of(shape), "from_vector: ", values.size(),
             " values do not fill shape ", shape_str(shape));
  Tensor host = empty(shape, DType::f32);
  std::copy(values.begin(), values.end(), host.data<float>());
  return device.is_cpu() ? host : host.to(device);
}

Tensor Tensor::from_vector(const std::vector<int32_t>& values, const Shape& shape, Device device) {
  R2G2_CHECK(static_cast<int64_t>(values.size()) == numel_of(shape), "from_vector: ", values.size(),
             " values do not fill shape ", shape_str(shape));
  Tensor host = empty(shape, DType::i32);
  std::copy(values.begin(), values.end(), host.data<int32_t>());
  return device.is_cpu() ? host : host.to(device);
}

Tensor Tensor::randn(const Shape& shape, uint64_t seed, uint64_t offset, DType dtype, Device device) {
  Tensor t = empty(shape, dtype, device);
  dispatch_floating(dtype, "randn", [&](auto tag) {
    using T = decltype(tag);
    R2G2_KERNEL(device, philox_normal<T>)(seed, offset, t.data<T>(), t.numel());
  });
  if (profiler::enabled()) profiler::count_op("randn");
  return t;
}

int64_t Tensor::size(int axis) const { return shape()[normalize_axis(axis, dim(), "Tensor::size", shape())]; }

bool Tensor::is_contiguous() const {
  int64_t expect = 1;
  for (int i = dim() - 1; i >= 0; --i) {
    if (shape()[i] != 1 && strides()[i] != expect) return false;
    expect *= shape()[i];
  }
  return true;
}

Tensor Tensor::contiguous() const {
  if (is_contiguous()) return *this;
  return record("contiguous", contiguous_copy(*this), {*this},
                [](const Tensor& g) { return std::vector<Tensor>{g}; });
}

Tensor Tensor::clone() const {
  return record("clone", contiguous_copy(*this), {*this},
                [](const Tensor& g) { return std::vector<Tensor>{g}; });
}

Tensor Tensor::to(Device target) const {
  if (target == device()) return *this;
  Tensor src = is_contiguous() ? *this : contiguous_copy(*this);
  Tensor out = empty(shape(), dtype(), target);
  device_copy(out.raw_data(), target, src.raw_data(), src.device(), numel() * dtype_size(dtype()));
  Device from = device();
  return record("to_device", out, {*this},
                [from](const Tensor& g) { return std::vector<Tensor>{g.to(from)}; });
}

Tensor Tensor::to(DType target) const {
  if (target == dtype()) return *this;
  Tensor src = is_contiguous() ? *this : contiguous_copy(*this);
  Tensor out = cast_copy(src, target);
  if (!is_floating(target) || !is_floating(dtype())) return out;
  DType from = dtype();
  return record("to_dtype", out, {*this},
                [from](const Tensor& g) { return std::vector<Tensor>{g.to(from)}; });
}

std::vector<double> Tensor::to_vector() const {
  Tensor host = contiguous_copy(to(Device::cpu()).detach());
  std::vector<double> out(static_cast<size_t>(numel()));
  switch (dtype()) {
    case DType::f32:
      std::copy_n(host.data<float>(), numel(), out.begin());
      break;
    case DType::f64:
      std::copy_n(host.data<double>(), numel(), out.begin());
      break;
    case DType::i32:
      std::copy_n(host.data<int32_t>(), numel(), out.begin());
      break;
  }
  return out;
}

std::vector<int32_t> Tensor::to_int_vector() const {
  R2G2_CHECK(dtype() == DType::i32, "to_int_vector: tensor holds ", dtype_name(dtype()));
  Tensor host = contiguous_copy(to(Device::cpu()).detach());
  return std::vector<int32_t>(host.data<int32_t>(), host.data<int32_t>() + numel());
}

double Tensor::item() const {
  R2G2_CHECK(numel() == 1, "item: expected one element, tensor has shape ", shape_str(shape()));
  return to_vector()[0];
}

void Tensor::fill_(double value) {
  R2G2_CHECK(is_contiguous(), "fill_: tensor of shape ", shape_str(shape()), " is not contiguous");
  auto run = [&](auto tag) {
    using T = decltype(tag);
    R2G2_KERNEL(device(), fill<T>)(data<T>(), static_cast<T>(value), numel());
  };
  if (dtype() == DType::i32)
    run(int32_t{});
  else
    dispatch_floating(dtype(), "fill_", run);
  if (profiler::enabled()) profiler::count_op("fill");
}

void Tensor::copy_(const Tensor& src) {
  R2G2_CHECK(src.shape() == shape(), "copy_: source shape ", shape_str(src.shape()),
             " differs from destination shape ", shape_str(shape()));
  R2G2_CHECK(is_contiguous(), "copy_: destination of shape ", shape_str(shape()), " is not contiguous");
  Tensor s = src.detach();
  if (s.dtype() != dtype()) s = cast_copy(s.is_contiguous() ? s : contiguous_copy(s), dtype());
  if (!s.is_contiguous()) s = contiguous_copy(s);
  device_copy(raw_data(), device(), s.raw_data(), s.device(), numel() * dtype_size(dtype()));
}

Tensor Tensor::reshape(const Shape& new_shape) const { return r2g2::reshape(*this, new_shape); }
Tensor Tensor::transpose(int a, int b) const { return r2g2::transpose(*this, a, b); }
Tensor Tensor::slice(int axis, int64_t start, int64_t end) const {
  return r2g2::slice(*this, axis, start, end);
}

Tensor& Tensor::requires_grad_(bool on) {
  R2G2_CHECK(!on || is_floating(dtype()), "requires_grad_: a ", dtype_name(dtype()),
             " tensor cannot have a gradient");
  R2G2_CHECK(is_leaf(), "requires_grad_: only leaf tensors can be marked; this one was produced by ",
             grad_fn()->name);
  impl().requires_grad = on;
  return *this;
}

Tensor Tensor::detach() const { return make_view(*this, shape(), strides(), offset()); }

}  // namespace r2g2
