#include "r2g2/layers/activations.h"

#include "r2g2/core/error.h"
#include "r2g2/core/ops.h"

namespace r2g2 {

Tensor ReLU::forward(const Tensor& x) { return relu(x); }

Tensor Flatten::forward(const Tensor& x) {
  R2G2_CHECK(x.dim() >= 2, "Flatten: input ", shape_str(x.shape()), " needs a batch dimension and at least one more");
  return x.dim() == 2 ? x : reshape(x, {x.size(0), -1});
}

MaxPool2d::MaxPool2d(int kernel, int stride) : kernel_(kernel), stride_(stride == 0 ? kernel : stride) {
  R2G2_CHECK(kernel >= 1 && stride >= 0, "MaxPool2d: kernel must be >= 1 and stride >= 0, got kernel ", kernel,
             ", stride ", stride);
}

Tensor MaxPool2d::forward(const Tensor& x) {
  R2G2_CHECK(x.dim() == 4, "MaxPool2d: input ", shape_str(x.shape()), " must be [N, C, H, W]");
  return max_pool2d(x, kernel_, stride_);
}

}  // namespace r2g2
