#pragma once
// A small module base shared by every layer and model: named parameters, children,
// device moves and the train/eval switch. Parameters stay ordinary Tensor members of
// the derived class; the base keeps pointers to them, so modules are neither copied
// nor moved.
#include <string>
#include <utility>
#include <vector>

#include "r2g2/core/device.h"
#include "r2g2/core/tensor.h"

namespace r2g2 {

class BayesianModule;

class Module {
 public:
  Module() = default;
  virtual ~Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  // Own parameters, then each child's, in registration order (a stable order that
  // optimizers and checkpoints rely on).
  std::vector<Tensor> parameters() const;
  // Dotted names: "fc1.mu", "fc1.rho", ...
  std::vector<std::pair<std::string, Tensor>> named_parameters() const;
  int64_t parameter_count() const;

  // Moves every parameter to `device` in place (a fresh leaf with requires_grad).
  // Gradients are dropped, so build the optimizer after moving.
  virtual void to(Device device);
  Device device() const { return device_; }

  // Training mode: Bayesian layers use their estimator. Evaluation mode: see
  // BayesianModule::set_eval_mode. Applies to the whole tree.
  void train(bool on = true);
  void eval() { train(false); }
  bool is_training() const { return training_; }

  void zero_grad();
  // Every Bayesian layer in the tree, in registration order (estimator schedules, KL sums).
  std::vector<BayesianModule*> bayesian_modules();

 protected:
  // `slot` must be a member of the derived module; it is read and replaced through the pointer.
  void register_parameter(const std::string& name, Tensor* slot);
  void register_module(const std::string& name, Module* child);
  virtual void on_train(bool on) { (void)on; }  // hook for derived classes

 private:
  void collect(const std::string& prefix, std::vector<std::pair<std::string, Tensor>>& out) const;
  std::vector<std::pair<std::string, Tensor*>> params_;
  std::vector<std::pair<std::string, Module*>> children_;
  Device device_;
  bool training_ = true;
};

}  // namespace r2g2
