#pragma once
// A small module base shared by every layer and model: named parameters, children, a
// common forward, device and dtype moves, the train/eval switch and the noise source of
// the Bayesian layers below it. Parameters stay ordinary Tensor members of the derived
// class; the base keeps pointers to them, so modules are neither copied nor moved.
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "r2g2/core/device.h"
#include "r2g2/core/random.h"
#include "r2g2/core/tensor.h"

namespace r2g2 {

class BayesianModule;

class Module {
 public:
  Module();
  virtual ~Module();
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  // The module applied to one input. Modules whose forward needs more than one input
  // (LatentLinear) keep their own signature; calling this one on them is an error that
  // names the module.
  virtual Tensor forward(const Tensor& x);
  // forward(x); in anomaly mode (core/autograd.h) inside a LayerScope named layer_name(),
  // so that a non-finite value is reported with the module it appeared in.
  Tensor operator()(const Tensor& x);
  // "BayesLinear", "Sequential", ...: the class name, for error messages.
  virtual std::string type_name() const;
  // The dotted name named_parameters() gives this module's parameters in its root
  // ("fc2", "features.4"); the class name for a root module.
  std::string layer_name() const;
  // Direct parent, or null for a root module.
  const Module* parent() const { return parent_; }

  // Own parameters, then each child's, in registration order (a stable order that
  // optimizers and checkpoints rely on).
  std::vector<Tensor> parameters() const;
  // Dotted names: "fc1.mu", "fc1.rho", ...
  std::vector<std::pair<std::string, Tensor>> named_parameters() const;
  int64_t parameter_count() const;
  // Direct children, in registration order.
  const std::vector<std::pair<std::string, Module*>>& named_children() const { return children_; }

  // Moves every parameter to `device` (or converts it to `dtype`) in place: each
  // parameter keeps its TensorImpl and only its storage changes, so every Tensor handle
  // taken before (an optimizer's, a test's) sees the moved values. Gradients are dropped.
  // Not virtual: a model has nothing of its own to move (optimizers follow by themselves).
  void to(Device device);
  void to(DType dtype);
  Device device() const { return device_; }

  // Training mode: Bayesian layers use their estimator. Evaluation mode: see
  // BayesianModule::set_eval_mode. Applies to the whole tree.
  void train(bool on = true);
  void eval() { train(false); }
  bool is_training() const { return training_; }

  void zero_grad();
  // Every Bayesian layer in the tree, this module included, in registration order
  // (estimator schedules, KL sums, noise sources).
  std::vector<BayesianModule*> bayesian_modules();

  // Makes every Bayesian layer in the tree draw its noise from `source`: one stream,
  // advanced in the order the layers run, so the same seed and the same sequence of
  // forwards give the same numbers. See BayesianModule::generator.
  void set_noise_source(std::shared_ptr<Generator> source);

 protected:
  // `slot` must be a member of the derived module; it is read and updated through the pointer.
  void register_parameter(const std::string& name, Tensor* slot);
  void register_module(const std::string& name, Module* child);
  virtual void on_train(bool on) { (void)on; }  // hook for derived classes

 private:
  void collect(const std::string& prefix, std::vector<std::pair<std::string, Tensor>>& out) const;
  void move_parameters(Device device, DType dtype, bool convert_dtype);
  std::vector<std::pair<std::string, Tensor*>> params_;
  std::vector<std::pair<std::string, Module*>> children_;
  const Module* parent_ = nullptr;
  std::string name_in_parent_;
  Device device_;
  bool training_ = true;
};

}  // namespace r2g2
