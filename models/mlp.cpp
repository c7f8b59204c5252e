#include "r2g2/models/mlp.h"

#include <cmath>

#include "r2g2/core/autograd.h"
#include "r2g2/core/ops.h"
#include "r2g2/core/random.h"
#include "r2g2/layers/activations.h"
#include "r2g2/layers/linear.h"

namespace r2g2 {

MLP::MLP(const std::vector<int64_t>& sizes, uint64_t seed, DType dtype, Device device) : sizes_(sizes) {
  R2G2_CHECK(sizes.size() >= 2, "MLP: need at least an input and an output size, got ", sizes.size());
  for (int64_t s : sizes) R2G2_CHECK(s > 0, "MLP: layer sizes must be positive, got ", shape_str(sizes));
  Generator gen(seed);
  for (size_t i = 0; i + 1 < sizes.size(); ++i) {
    if (i > 0) emplace_back<ReLU>();
    Linear& layer = emplace_back<Linear>(sizes[i], sizes[i + 1], LinearOptions{.dtype = dtype});
    // He initialisation keeps ReLU activations at unit scale through depth. The normals are
    // drawn in [in, out] order, so a seed gives the same network whatever the layout.
    NoGrad no_grad;
    const double scale = std::sqrt(2.0 / static_cast<double>(sizes[i]));
    layer.weight.copy_(mul(gen.randn({sizes[i], sizes[i + 1]}, dtype), scale).t());
  }
  to(device);
}

Tensor MLP::forward(const Tensor& x) {
  R2G2_CHECK(x.dim() == 2 && x.size(1) == sizes_[0], "MLP: expected input [batch, ", sizes_[0], "], got ",
             shape_str(x.shape()));
  return Sequential::forward(x);
}

}  // namespace r2g2
