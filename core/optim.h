#pragma once
// Optimizers over a list of parameter tensors (leaves with requires_grad). Each step
// runs one fused update kernel per parameter, outside the tape.
#include <vector>

#include "r2g2/core/tensor.h"

namespace r2g2 {

class Optimizer {
 public:
  explicit Optimizer(std::vector<Tensor> params);
  virtual ~Optimizer() = default;
  void zero_grad();
  virtual void step() = 0;
  const std::vector<Tensor>& params() const { return params_; }
  int64_t steps_taken() const { return step_; }

 protected:
  std::vector<Tensor> params_;
  int64_t step_ = 0;
};

struct SGDOptions {
  double lr = 0.01;
  double momentum = 0.0;
  double weight_decay = 0.0;
};

class SGD : public Optimizer {
 public:
  SGD(std::vector<Tensor> params, SGDOptions options);
  void step() override;
  SGDOptions options;

 private:
  std::vector<Tensor> momentum_;
};

struct AdamOptions {
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.0;
};

class Adam : public Optimizer {
 public:
  Adam(std::vector<Tensor> params, AdamOptions options);
  void step() override;
  AdamOptions options;
  // First and second moments, one per parameter (for checkpoints).
  std::vector<Tensor>& first_moments() { return m_; }
  std::vector<Tensor>& second_moments() { return v_; }
  void set_steps_taken(int64_t s) { step_ = s; }

 private:
  std::vector<Tensor> m_, v_;
};

}  // namespace r2g2
