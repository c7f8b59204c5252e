#pragma once
// Parameter-free modules for building networks in a Sequential: ReLU, Flatten, MaxPool2d.
#include <cstdint>

#include "r2g2/layers/module.h"

namespace r2g2 {

class ReLU : public Module {
 public:
  Tensor forward(const Tensor& x) override;
};

// [N, d1, d2, ...] -> [N, d1 * d2 * ...]; a 2-D input passes through unchanged.
class Flatten : public Module {
 public:
  Tensor forward(const Tensor& x) override;
};

// Max over kernel x kernel windows of an [N, C, H, W] input, `stride` apart (0: = kernel).
class MaxPool2d : public Module {
 public:
  explicit MaxPool2d(int kernel, int stride = 0);
  Tensor forward(const Tensor& x) override;
  int kernel() const { return kernel_; }
  int stride() const { return stride_; }

 private:
  int kernel_, stride_;
};

}  // namespace r2g2
