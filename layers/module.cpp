#include "r2g2/layers/module.h"

#include "r2g2/core/autograd.h"
#include "r2g2/core/error.h"
#include "r2g2/layers/bayes_module.h"

namespace r2g2 {

void Module::register_parameter(const std::string& name, Tensor* slot) {
  R2G2_CHECK(slot != nullptr && slot->defined(), "Module: parameter '", name, "' is undefined");
  for (auto& [n, p] : params_) R2G2_CHECK(n != name, "Module: parameter '", name, "' registered twice");
  slot->requires_grad_(true);
  params_.emplace_back(name, slot);
}

void Module::register_module(const std::string& name, Module* child) {
  R2G2_CHECK(child != nullptr, "Module: child '", name, "' is null");
  children_.emplace_back(name, child);
}

void Module::collect(const std::string& prefix, std::vector<std::pair<std::string, Tensor>>& out) const {
  for (auto& [n, p] : params_) out.emplace_back(prefix + n, *p);
  for (auto& [n, c] : children_) c->collect(prefix + n + ".", out);
}

std::vector<std::pair<std::string, Tensor>> Module::named_parameters() const {
  std::vector<std::pair<std::string, Tensor>> out;
  collect("", out);
  return out;
}

std::vector<Tensor> Module::parameters() const {
  std::vector<Tensor> out;
  for (auto& [n, p] : named_parameters()) out.push_back(p);
  return out;
}

int64_t Module::parameter_count() const {
  int64_t total = 0;
  for (auto& [n, p] : named_parameters()) total += p.numel();
  return total;
}

void Module::to(Device device) {
  NoGrad no_grad;
  for (auto& [n, p] : params_) {
    if (p->device() == device) continue;
    *p = p->detach().to(device);
    p->requires_grad_(true);
  }
  for (auto& [n, c] : children_) c->to(device);
  device_ = device;
}

void Module::train(bool on) {
  training_ = on;
  on_train(on);
  for (auto& [n, c] : children_) c->train(on);
}

void Module::zero_grad() {
  for (auto& [n, p] : params_) p->zero_grad();
  for (auto& [n, c] : children_) c->zero_grad();
}

std::vector<BayesianModule*> Module::bayesian_modules() {
  std::vector<BayesianModule*> out;
  if (auto* b = dynamic_cast<BayesianModule*>(this)) out.push_back(b);
  for (auto& [n, c] : children_) {
    auto sub = c->bayesian_modules();
    out.insert(out.end(), sub.begin(), sub.end());
  }
  return out;
}

}  // namespace r2g2
