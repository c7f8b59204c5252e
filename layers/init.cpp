#include "r2g2/layers/init.h"

#include <cmath>

#include "r2g2/core/autograd.h"
#include "r2g2/core/ops.h"

namespace r2g2 {

WeightInit parse_weight_init(const std::string& name) {
  if (name == "he") return WeightInit::he;
  if (name == "glorot") return WeightInit::glorot;
  throw Error("unknown weight initialisation '" + name + "'; known: he, glorot");
}

const char* weight_init_name(WeightInit w) { return w == WeightInit::he ? "he" : "glorot"; }

Tensor init_weight(const Shape& shape, int64_t fan_in, int64_t fan_out, WeightInit init, uint64_t seed,
                   DType dtype) {
  NoGrad no_grad;
  const double var = init == WeightInit::he ? 2.0 / static_cast<double>(fan_in)
                                            : 2.0 / static_cast<double>(fan_in + fan_out);
  return mul(Tensor::randn(shape, seed, 0, dtype), std::sqrt(var));
}

}  // namespace r2g2
