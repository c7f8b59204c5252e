#include "r2g2/models/mlp.h"

#include <cmath>

#include "r2g2/core/ops.h"
#include "r2g2/core/random.h"

namespace r2g2 {

MLP::MLP(const std::vector<int64_t>& sizes, uint64_t seed, DType dtype, Device device) : sizes_(sizes) {
  R2G2_CHECK(sizes.size() >= 2, "MLP: need at least an input and an output size, got ", sizes.size());
  for (int64_t s : sizes) R2G2_CHECK(s > 0, "MLP: layer sizes must be positive, got ", shape_str(sizes));
  Generator gen(seed);
  for (size_t i = 0; i + 1 < sizes.size(); ++i) {
    // He initialisation keeps ReLU activations at unit scale through depth.
    double scale = std::sqrt(2.0 / static_cast<double>(sizes[i]));
    Tensor w = mul(gen.randn({sizes[i], sizes[i + 1]}, dtype), scale).to(device);
    weights_.push_back(w.requires_grad_());
    biases_.push_back(Tensor::zeros({sizes[i + 1]}, dtype, device).requires_grad_());
  }
}

Tensor MLP::forward(const Tensor& x) const {
  R2G2_CHECK(x.dim() == 2 && x.size(1) == sizes_[0], "MLP: expected input [batch, ", sizes_[0], "], got ",
             shape_str(x.shape()));
  Tensor h = x;
  for (size_t i = 0; i < weights_.size(); ++i) {
    h = add(matmul(h, weights_[i]), biases_[i]);
    if (i + 1 < weights_.size()) h = relu(h);
  }
  return h;
}

std::vector<Tensor> MLP::parameters() const {
  std::vector<Tensor> out;
  for (size_t i = 0; i < weights_.size(); ++i) {
    out.push_back(weights_[i]);
    out.push_back(biases_[i]);
  }
  return out;
}

}  // namespace r2g2
