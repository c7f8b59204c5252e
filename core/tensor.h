#pragma once
// Tensor: a shape and strides over shared storage on one device, with the autograd
// fields the tape needs. Views (reshape of a contiguous tensor, transpose, slice)
// share storage and never copy.
#include <cstdint>
#include <memory>
#include <vector>

#include "r2g2/core/device.h"
#include "r2g2/core/dtype.h"
#include "r2g2/core/shape.h"

namespace r2g2 {

struct Node;

struct Storage {
  void* data = nullptr;
  size_t bytes = 0;
  Device device;
  Storage(size_t bytes, Device device);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
};

class Tensor;

struct TensorImpl {
  std::shared_ptr<Storage> storage;
  Shape shape;
  Shape strides;       // in elements
  int64_t offset = 0;  // in elements
  DType dtype = DType::f32;
  bool requires_grad = false;
  std::shared_ptr<TensorImpl> grad;  // accumulated gradient of a leaf
  std::shared_ptr<Node> grad_fn;     // the node that produced this tensor, if recorded
};

class Tensor {
 public:
  Tensor() = default;
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  // --- creation ---------------------------------------------------------------
  static Tensor empty(const Shape& shape, DType dtype = DType::f32, Device device = {});
  static Tensor zeros(const Shape& shape, DType dtype = DType::f32, Device device = {});
  static Tensor ones(const Shape& shape, DType dtype = DType::f32, Device device = {});
  static Tensor full(const Shape& shape, double value, DType dtype = DType::f32, Device device = {});
  static Tensor scalar(double value, DType dtype = DType::f32, Device device = {});
  // Copies host values (converted to dtype) into a new tensor on `device`.
  static Tensor from_vector(const std::vector<double>& values, const Shape& shape, DType dtype = DType::f32,
                            Device device = {});
  static Tensor from_vector(const std::vector<float>& values, const Shape& shape, Device device = {});
  static Tensor from_vector(const std::vector<int32_t>& values, const Shape& shape, Device device = {});
  // Standard normals from the counter-based generator: element i is normal number
  // offset + i of the stream `seed` (see core/random.h).
  static Tensor randn(const Shape& shape, uint64_t seed, uint64_t offset, DType dtype = DType::f32,
                      Device device = {});

  // --- metadata ---------------------------------------------------------------
  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const { return impl().shape; }
  const Shape& strides() const { return impl().strides; }
  int64_t offset() const { return impl().offset; }
  int dim() const { return static_cast<int>(impl().shape.size()); }
  int64_t size(int axis) const;
  int64_t numel() const { return numel_of(impl().shape); }
  DType dtype() const { return impl().dtype; }
  Device device() const { return impl().storage->device; }
  bool is_contiguous() const;
  TensorImpl* impl_ptr() const { return impl_.get(); }
  const std::shared_ptr<TensorImpl>& impl_shared() const { return impl_; }
  bool same(const Tensor& o) const { return impl_ == o.impl_; }

  // Typed pointer to element [0,...,0]; checks the dtype.
  template <class T>
  T* data() const {
    R2G2_CHECK(dtype_of<T>() == dtype(), "Tensor::data: tensor holds ", dtype_name(dtype()), ", asked for ",
               dtype_name(dtype_of<T>()));
    return static_cast<T*>(impl().storage->data) + impl().offset;
  }
  void* raw_data() const {
    return static_cast<char*>(impl().storage->data) + impl().offset * dtype_size(dtype());
  }

  // --- copies and conversions (not recorded on the tape unless noted) ----------
  Tensor contiguous() const;              // recorded: a copy when strided, else itself
  Tensor clone() const;                   // recorded: always a fresh contiguous copy
  Tensor to(Device device) const;         // recorded
  Tensor to(DType dtype) const;           // recorded for float<->float
  std::vector<double> to_vector() const;  // host copy in logical (row-major) order
  std::vector<int32_t> to_int_vector() const;
  double item() const;            // the single element; throws if numel != 1
  void fill_(double value);       // in place, outside the tape
  void copy_(const Tensor& src);  // in place, same shape, any device/dtype

  // --- views (recorded) -------------------------------------------------------
  Tensor reshape(const Shape& shape) const;  // a view when contiguous, else a copy; one -1 allowed
  Tensor transpose(int a, int b) const;
  Tensor t() const { return transpose(-2, -1); }
  Tensor slice(int axis, int64_t start, int64_t end) const;  // [start, end) along axis

  // --- autograd ---------------------------------------------------------------
  bool requires_grad() const { return impl().requires_grad; }
  Tensor& requires_grad_(bool on = true);
  Tensor grad() const { return Tensor(impl().grad); }  // undefined until backward reaches it
  void set_grad(const Tensor& g) { impl().grad = g.impl_; }
  void zero_grad() { impl().grad.reset(); }
  // Same storage, cut from the tape: no gradient flows through the result.
  Tensor detach() const;
  const std::shared_ptr<Node>& grad_fn() const { return impl().grad_fn; }
  bool is_leaf() const { return !impl().grad_fn; }

  TensorImpl& impl() const {
    R2G2_CHECK(impl_ != nullptr, "use of an undefined Tensor");
    return *impl_;
  }

 private:
  std::shared_ptr<TensorImpl> impl_;
};

// A new tensor with the same storage and a different view (no tape record).
Tensor make_view(const Tensor& base, const Shape& shape, const Shape& strides, int64_t offset);

}  // namespace r2g2
