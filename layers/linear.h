#pragma once
// Deterministic fully connected layer: y = x W^T + b, W [out, in].
#include <cstdint>

#include "r2g2/core/tensor.h"
#include "r2g2/layers/init.h"
#include "r2g2/layers/module.h"

namespace r2g2 {

struct LinearOptions {
  bool bias = true;
  WeightInit init = WeightInit::glorot;
  uint64_t seed = 0;  // initialisation stream
  DType dtype = DType::f32;
};

class Linear : public Module {
 public:
  Linear(int64_t in_features, int64_t out_features, const LinearOptions& options = {});
  // x [N, in] -> [N, out].
  Tensor forward(const Tensor& x) override { return apply(x); }
  Tensor apply(const Tensor& x) const;  // forward on a const layer
  int64_t in_features() const { return in_; }
  int64_t out_features() const { return out_; }

  Tensor weight;  // [out, in]
  Tensor bias;    // [out] or undefined

 private:
  int64_t in_, out_;
};

}  // namespace r2g2
