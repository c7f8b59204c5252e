#pragma once
// Optimizers over a list of parameter tensors (leaves with requires_grad). Each step
// runs one fused update kernel per parameter, outside the tape. The optimizer holds the
// parameters' TensorImpls, so a module moved or converted in place (Module::to) keeps
// its optimizer: at the next step each state tensor (moments, momentum buffer) follows
// its parameter to the new device and dtype, values kept.
#include <string>
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
  // Resuming from a checkpoint: the next step is s + 1, so s must not be negative (Adam's
  // bias correction is undefined before step 1).
  void set_steps_taken(int64_t s);

  // What a checkpoint needs: a name for the kind ("adam", "sgd") and the per-parameter
  // state lists, each as long as params(). A lazy list creates an entry at the first step
  // that needs it, so an undefined entry is a valid state to save and restore.
  struct StateList {
    std::string name;
    std::vector<Tensor>* tensors;
    bool lazy;
  };
  virtual const char* kind() const = 0;
  virtual std::vector<StateList> state_lists() = 0;

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
  const char* kind() const override { return "sgd"; }
  std::vector<StateList> state_lists() override { return {{"momentum", &momentum_, true}}; }
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
  const char* kind() const override { return "adam"; }
  std::vector<StateList> state_lists() override { return {{"m", &m_, false}, {"v", &v_, false}}; }
  AdamOptions options;
  // First and second moments, one per parameter (for checkpoints).
  std::vector<Tensor>& first_moments() { return m_; }
  std::vector<Tensor>& second_moments() { return v_; }

 private:
  std::vector<Tensor> m_, v_;
};

}  // namespace r2g2
