#include "r2g2/layers/module.h"

#include <cxxabi.h>

#include <cstdlib>
#include <mutex>
#include <typeinfo>
#include <unordered_set>

#include "r2g2/core/autograd.h"
#include "r2g2/core/error.h"
#include "r2g2/layers/bayes_module.h"

namespace r2g2 {

namespace {
// Every live module, so that anomaly mode can name the layer that owns a parameter (ops
// of layers whose forward pushes no LayerScope). Only read in anomaly mode.
struct LiveModules {
  std::mutex mutex;
  std::unordered_set<const Module*> modules;
};

LiveModules& live_modules() {
  static LiveModules* instance = new LiveModules();  // never destroyed: static modules outlive it otherwise
  return *instance;
}

std::string layer_owning(const TensorImpl& leaf) {
  LiveModules& live = live_modules();
  std::lock_guard<std::mutex> lock(live.mutex);
  for (const Module* m : live.modules)
    for (auto& [name, p] : m->named_parameters())
      if (name.find('.') == std::string::npos && p.impl_ptr() == &leaf) return m->layer_name();  // m's own
  return {};
}
}  // namespace

Module::Module() {
  set_parameter_layer_resolver(&layer_owning);
  LiveModules& live = live_modules();
  std::lock_guard<std::mutex> lock(live.mutex);
  live.modules.insert(this);
}

Module::~Module() {
  LiveModules& live = live_modules();
  std::lock_guard<std::mutex> lock(live.mutex);
  live.modules.erase(this);
}

Tensor Module::operator()(const Tensor& x) {
  if (!detect_anomaly()) [[likely]]
    return forward(x);
  LayerScope scope(layer_name());
  return forward(x);
}

std::string Module::layer_name() const {
  if (!parent_) return type_name();
  std::string name = name_in_parent_;
  for (const Module* m = parent_; m->parent_; m = m->parent_) name = m->name_in_parent_ + "." + name;
  return name;
}

Tensor Module::forward(const Tensor& x) {
  throw Error(type_name() + " has no single-input forward (called with input " + shape_str(x.shape()) + ")");
}

std::string Module::type_name() const {
  const char* mangled = typeid(*this).name();
  int status = 0;
  char* demangled = abi::__cxa_demangle(mangled, nullptr, nullptr, &status);
  std::string name = status == 0 && demangled ? demangled : mangled;
  std::free(demangled);
  if (name.rfind("r2g2::", 0) == 0) name = name.substr(6);
  return name;
}

void Module::register_parameter(const std::string& name, Tensor* slot) {
  R2G2_CHECK(slot != nullptr && slot->defined(), "Module: parameter '", name, "' is undefined");
  for (auto& [n, p] : params_) R2G2_CHECK(n != name, "Module: parameter '", name, "' registered twice");
  slot->requires_grad_(true);
  params_.emplace_back(name, slot);
}

void Module::register_module(const std::string& name, Module* child) {
  R2G2_CHECK(child != nullptr, "Module: child '", name, "' is null");
  for (auto& [n, c] : children_) R2G2_CHECK(n != name, "Module: child '", name, "' registered twice");
  children_.emplace_back(name, child);
  child->parent_ = this;
  child->name_in_parent_ = name;
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

void Module::move_parameters(Device device, DType dtype, bool convert_dtype) {
  NoGrad no_grad;
  for (auto& [n, p] : params_) {
    if (convert_dtype) {
      R2G2_CHECK(is_floating(dtype), type_name(), ": parameter '", n, "' can only become float32 or float64, not ",
                 dtype_name(dtype));
      if (p->dtype() == dtype) continue;
    } else if (p->device() == device) {
      continue;
    }
    Tensor moved = convert_dtype ? p->detach().to(dtype) : p->detach().to(device);
    // The parameter's own TensorImpl takes the new storage, so handles shared with an
    // optimizer or a caller follow the move.
    TensorImpl& slot = p->impl();
    const TensorImpl& from = moved.impl();
    slot.storage = from.storage;
    slot.strides = from.strides;
    slot.offset = from.offset;
    slot.dtype = from.dtype;
    slot.grad.reset();
  }
  for (auto& [n, c] : children_) c->move_parameters(device, dtype, convert_dtype);
  if (!convert_dtype) device_ = device;
}

void Module::to(Device device) { move_parameters(device, DType::f32, false); }

void Module::to(DType dtype) { move_parameters(Device(), dtype, true); }

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

void Module::set_noise_source(std::shared_ptr<Generator> source) {
  R2G2_CHECK(source != nullptr, type_name(), "::set_noise_source: null generator");
  for (BayesianModule* m : bayesian_modules()) m->share_generator(source);
}

}  // namespace r2g2
