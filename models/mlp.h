#pragma once
// A deterministic multilayer perceptron (ReLU hidden layers, logits out): the first
// demo model and the baseline the Bayesian MLP is compared with.
#include <cstdint>
#include <vector>

#include "r2g2/core/tensor.h"

namespace r2g2 {

class MLP {
 public:
  // sizes = {784, 256, 10}: input, hidden..., classes. He-normal weights from `seed`.
  MLP(const std::vector<int64_t>& sizes, uint64_t seed, DType dtype = DType::f32, Device device = {});
  Tensor forward(const Tensor& x) const;  // x [B, sizes[0]] -> logits [B, sizes.back()]
  std::vector<Tensor> parameters() const;
  const std::vector<int64_t>& sizes() const { return sizes_; }

 private:
  std::vector<int64_t> sizes_;
  std::vector<Tensor> weights_;  // [in, out], so forward is x W + b without a transpose
  std::vector<Tensor> biases_;
};

}  // namespace r2g2
