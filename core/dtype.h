#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

#include "r2g2/core/error.h"

namespace r2g2 {

// float32 and float64 are differentiable; int32 holds labels and row indices only.
enum class DType { f32, f64, i32 };

inline size_t dtype_size(DType t) { return t == DType::f64 ? 8 : 4; }
inline const char* dtype_name(DType t) {
  switch (t) {
    case DType::f32:
      return "float32";
    case DType::f64:
      return "float64";
    case DType::i32:
      return "int32";
  }
  return "?";
}
inline bool is_floating(DType t) { return t != DType::i32; }

template <class T>
constexpr DType dtype_of();
template <>
constexpr DType dtype_of<float>() {
  return DType::f32;
}
template <>
constexpr DType dtype_of<double>() {
  return DType::f64;
}
template <>
constexpr DType dtype_of<int32_t>() {
  return DType::i32;
}

// Calls f(T{}) with T = float or double for a floating dtype.
template <class F>
decltype(auto) dispatch_floating(DType t, const char* op, F&& f) {
  switch (t) {
    case DType::f32:
      return f(float{});
    case DType::f64:
      return f(double{});
    default:
      break;
  }
  throw Error(detail::concat(op, ": expected a float32 or float64 tensor, got ", dtype_name(t)));
}

}  // namespace r2g2
