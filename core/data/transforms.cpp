#include "r2g2/core/data/transforms.h"

#include <algorithm>
#include <string>
#include <vector>

#include "r2g2/core/error.h"
#include "r2g2/core/shape.h"

namespace r2g2::data {

Dataset pad_to_rgb(const Dataset& data, int64_t size) {
  const Shape& shape = data.images.shape();
  R2G2_CHECK(shape.size() == 4 && shape[1] == 1, "pad_to_rgb: ", data.name,
             " needs single-channel images [n, 1, h, w], got ", shape_str(shape));
  const int64_t n = shape[0], h = shape[2], w = shape[3];
  R2G2_CHECK(h <= size && w <= size, "pad_to_rgb: ", data.name, " images of ", h, "x", w, " do not fit a ",
             size, "x", size, " canvas");
  const int64_t top = (size - h) / 2, left = (size - w) / 2;
  // Written straight into the result's storage: the full split is large enough that a
  // second copy would double the peak memory.
  Tensor padded = Tensor::zeros({n, 3, size, size}, DType::f32);
  float* out = padded.data<float>();
  const int64_t chunk = 1000;  // images read back at once, so that the float64 copy stays small
  for (int64_t first = 0; first < n; first += chunk) {
    const int64_t count = std::min(chunk, n - first);
    const std::vector<double> pixels = data.images.slice(0, first, first + count).to_vector();
    for (int64_t k = 0; k < count; ++k)
      for (int64_t c = 0; c < 3; ++c)
        for (int64_t y = 0; y < h; ++y)
          for (int64_t x = 0; x < w; ++x)
            out[(((first + k) * 3 + c) * size + top + y) * size + left + x] =
                static_cast<float>(pixels[static_cast<size_t>((k * h + y) * w + x)]);
  }
  Dataset result = data;
  // Appended piece by piece: GCC 12's -Wrestrict misfires on chained concatenation at -O3.
  const size_t slash = std::min(data.name.find('/'), data.name.size());
  result.name = data.name.substr(0, slash);
  result.name.append("-")
      .append(std::to_string(size))
      .append("x3")
      .append(data.name, slash, std::string::npos);
  result.images = data.images.device().is_cpu() ? padded : padded.to(data.images.device());
  return result;
}

}  // namespace r2g2::data
