#include "r2g2/layers/linear.h"

#include "r2g2/core/ops.h"

namespace r2g2 {

Linear::Linear(int64_t in_features, int64_t out_features, const LinearOptions& options)
    : in_(in_features), out_(out_features) {
  R2G2_CHECK(in_features > 0 && out_features > 0, "Linear: sizes must be positive, got ", in_features, " -> ",
             out_features);
  weight = init_weight({out_, in_}, in_, out_, options.init, options.seed, options.dtype);
  register_parameter("weight", &weight);
  if (options.bias) {
    bias = Tensor::zeros({out_}, options.dtype);
    register_parameter("bias", &bias);
  }
}

Tensor Linear::apply(const Tensor& x) const {
  R2G2_CHECK(x.dim() == 2 && x.size(1) == in_, "Linear(", in_, " -> ", out_, "): input ",
             shape_str(x.shape()), " must be [N, ", in_, "]");
  Tensor y = matmul(x, weight.t());
  return bias.defined() ? add(y, bias) : y;
}

}  // namespace r2g2
