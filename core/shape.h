#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace r2g2 {

using Shape = std::vector<int64_t>;

std::string shape_str(const Shape& s);  // "[128, 784]"
int64_t numel_of(const Shape& s);
Shape contiguous_strides(const Shape& s);
// Normalises a possibly negative axis; throws naming the op and shape when out of range.
int normalize_axis(int axis, int ndim, const char* op, const Shape& shape);
// NumPy broadcasting; throws "op: shapes [a] and [b] cannot be broadcast".
Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op);

}  // namespace r2g2
