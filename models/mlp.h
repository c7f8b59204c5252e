#pragma once
// A deterministic multilayer perceptron (ReLU hidden layers, logits out): the first
// demo model and the baseline the Bayesian MLP is compared with. A Sequential of Linear
// ([out, in] weights) and ReLU modules; parameters "0.weight", "0.bias", "2.weight", ...
#include <cstdint>
#include <vector>

#include "r2g2/core/tensor.h"
#include "r2g2/layers/sequential.h"

namespace r2g2 {

class MLP : public Sequential {
 public:
  // sizes = {784, 256, 10}: input, hidden..., classes. He-normal weights from `seed`.
  MLP(const std::vector<int64_t>& sizes, uint64_t seed, DType dtype = DType::f32, Device device = {});
  Tensor forward(const Tensor& x) override;  // x [B, sizes[0]] -> logits [B, sizes.back()]
  const std::vector<int64_t>& sizes() const { return sizes_; }

 private:
  std::vector<int64_t> sizes_;
};

}  // namespace r2g2
