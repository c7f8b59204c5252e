// save_module / load_module: the key layout is in layers/serialize.h. Loading reads the
// whole file, builds a plan of every copy it will make, checks the plan, then copies, so
// a bad file changes nothing.
#include "r2g2/layers/serialize.h"

#include <limits>
#include <set>
#include <utility>
#include <vector>

#include "r2g2/core/autograd.h"
#include "r2g2/core/checkpoint.h"
#include "r2g2/core/error.h"
#include "r2g2/layers/bayes_module.h"

namespace r2g2 {

namespace {

const std::string kFormatKey = "module/format";
const std::string kFormat = "1";
const std::string kParamPrefix = "param/";
const std::string kOptimizerStatePrefix = "optimizer/";  // + "<state list>/<parameter name>"
const std::string kOptimizerKindKey = "optimizer/kind";
const std::string kOptimizerStepsKey = "optimizer/steps";
const std::string kGeneratorPrefix = "generator/";
const std::string kUserPrefix = "user/";

// "'a', 'b', 'c' and 2 more": enough to act on without flooding the message.
std::string quoted_list(const std::vector<std::string>& names) {
  constexpr size_t kShown = 5;
  std::string out;
  for (size_t i = 0; i < names.size() && i < kShown; ++i) out += (i ? ", '" : "'") + names[i] + "'";
  if (names.size() > kShown) out += detail::concat(" and ", names.size() - kShown, " more");
  return out;
}

std::string state_key(const Optimizer::StateList& list, const std::string& param_name) {
  return kOptimizerStatePrefix + list.name + "/" + param_name;
}

// The module's name for each of the optimizer's parameters (matched by identity, so the
// optimizer may list them in any order, or only some of them).
std::vector<std::string> names_in_module(const Module& module, const Optimizer& optimizer, const char* who) {
  const auto named = module.named_parameters();
  std::vector<std::string> names;
  const auto& params = optimizer.params();
  for (size_t i = 0; i < params.size(); ++i) {
    const std::string* found = nullptr;
    for (const auto& [name, p] : named)
      if (p.same(params[i])) found = &name;
    R2G2_CHECK(found != nullptr, who, ": optimizer parameter ", i, " of shape ", shape_str(params[i].shape()),
               " is not a parameter of the module (build the optimizer from module.parameters())");
    names.push_back(*found);
  }
  return names;
}

std::string generator_key(const std::string& name, const char* field) {
  return kGeneratorPrefix + name + "/" + field;
}

// One tensor to overwrite with one from the file.
struct Copy {
  Tensor destination;
  const Tensor* source;
};

class Loader {
 public:
  Loader(const std::string& path, const LoadOptions& options)
      : path_(path), options_(options), file_(load_checkpoint(path, Device::cpu())) {
    auto format = file_.metadata.find(kFormatKey);
    if (format == file_.metadata.end())
      fail("was not written by save_module: it has no '", kFormatKey, "' entry");
    if (format->second != kFormat)
      fail("has module format '", format->second, "'; this build reads format '", kFormat, "'");
  }

  void plan_parameters(const Module& module) {
    std::set<std::string> expected;
    std::vector<std::string> missing;
    for (const auto& [name, p] : module.named_parameters()) {
      expected.insert(name);
      auto it = file_.tensors.find(kParamPrefix + name);
      if (it == file_.tensors.end()) {
        missing.push_back(name);
        continue;
      }
      check_like(it->second, p, "parameter '" + name + "'", "the module's");
      copies_.push_back({p, &it->second});
    }
    std::vector<std::string> unexpected;
    for (const auto& [key, t] : file_.tensors)
      if (key.starts_with(kParamPrefix) && !expected.contains(key.substr(kParamPrefix.size())))
        unexpected.push_back(key.substr(kParamPrefix.size()));
    if (!options_.strict) return;
    if (!missing.empty())
      fail("lacks ", missing.size(), " of the module's ", expected.size(),
           " parameters: ", quoted_list(missing),
           " (LoadOptions::strict = false keeps their current values)");
    if (!unexpected.empty())
      fail("holds parameters the module does not have: ", quoted_list(unexpected),
           " (LoadOptions::strict = false ignores them)");
  }

  void plan_optimizer(const Module& module, Optimizer& optimizer) {
    const std::string kind = optimizer.kind();
    auto stored = file_.metadata.find(kOptimizerKindKey);
    if (stored == file_.metadata.end()) fail("holds no optimizer state (it was saved without one)");
    if (stored->second != kind)
      fail("holds the state of a '", stored->second, "' optimizer; the optimizer to restore is '", kind, "'");
    optimizer_ = &optimizer;
    steps_ = uint_entry(kOptimizerStepsKey);
    if (steps_ > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
      fail("is inconsistent: '", kOptimizerStepsKey, "' = ", steps_, " does not fit in int64");
    const auto names = names_in_module(module, optimizer, "load_module");
    for (const Optimizer::StateList& list : optimizer.state_lists())
      for (size_t i = 0; i < names.size(); ++i) {
        const std::string key = state_key(list, names[i]);
        Tensor* slot = &(*list.tensors)[i];
        auto it = file_.tensors.find(key);
        if (it == file_.tensors.end()) {
          // A lazy entry absent from the file had not been created yet when it was saved.
          if (list.lazy) state_.push_back({slot, Tensor()});
          else if (options_.strict)
            fail("has no ", kind, " state '", key, "' for parameter '", names[i], "'");
          continue;
        }
        // Against the parameter, not the current state: after Module::to the state
        // follows its parameter's device and dtype only at the next step.
        const Tensor& param = optimizer.params()[i];
        check_like(it->second, param, kind + " state '" + key + "'", "parameter '" + names[i] + "'");
        state_.push_back({slot, it->second.to(param.device()).contiguous()});
      }
  }

  void plan_generators(const std::map<std::string, Generator*>& generators) {
    for (const auto& [name, gen] : generators) {
      R2G2_CHECK(gen != nullptr, "load_module: generator '", name, "' is a null pointer");
      const std::string seed_key = generator_key(name, "seed");
      if (!file_.metadata.contains(seed_key)) fail("has no generator '", name, "'", present_generators());
      generators_.push_back(
          {gen, Generator(uint_entry(seed_key), uint_entry(generator_key(name, "offset")))});
    }
  }

  // Everything was checked: nothing below throws for a reason the file could cause.
  void apply(std::map<std::string, std::string>* metadata) {
    NoGrad no_grad;
    for (auto& copy : copies_) copy.destination.copy_(*copy.source);
    for (auto& [slot, value] : state_) *slot = value;
    if (optimizer_ != nullptr) optimizer_->set_steps_taken(static_cast<int64_t>(steps_));
    for (auto& [gen, value] : generators_) *gen = value;
    if (metadata == nullptr) return;
    metadata->clear();
    for (const auto& [key, value] : file_.metadata)
      if (key.starts_with(kUserPrefix)) (*metadata)[key.substr(kUserPrefix.size())] = value;
  }

 private:
  template <class... Parts>
  [[noreturn]] void fail(const Parts&... parts) const {
    throw Error(detail::concat("load_module: '", path_, "' ", parts...));
  }

  void check_like(const Tensor& found, const Tensor& expected, const std::string& what,
                  const std::string& whose) const {
    if (found.shape() != expected.shape())
      fail("stores ", what, " with shape ", shape_str(found.shape()), "; ", whose, " has shape ",
           shape_str(expected.shape()));
    if (found.dtype() != expected.dtype())
      fail("stores ", what, " as ", dtype_name(found.dtype()), "; ", whose, " is ",
           dtype_name(expected.dtype()));
  }

  uint64_t uint_entry(const std::string& key) const {
    try {
      return file_.get_uint(key);
    } catch (const Error& e) {
      fail("is inconsistent: ", e.what());
    }
  }

  std::string present_generators() const {
    std::vector<std::string> names;
    for (const auto& [key, value] : file_.metadata)
      if (key.starts_with(kGeneratorPrefix) && key.ends_with("/seed"))
        names.push_back(key.substr(kGeneratorPrefix.size(), key.size() - kGeneratorPrefix.size() - 5));
    return names.empty() ? std::string(" (it holds none)") : " (it holds " + quoted_list(names) + ")";
  }

  const std::string path_;
  LoadOptions options_;
  Checkpoint file_;
  std::vector<Copy> copies_;
  std::vector<std::pair<Tensor*, Tensor>> state_;  // replaced whole, already on the device
  Optimizer* optimizer_ = nullptr;
  uint64_t steps_ = 0;
  std::vector<std::pair<Generator*, Generator>> generators_;
};

void load_into(Module& module, const std::string& path, TrainingState* state, const LoadOptions& options) {
  Loader loader(path, options);
  loader.plan_parameters(module);
  if (state != nullptr && state->optimizer != nullptr) loader.plan_optimizer(module, *state->optimizer);
  if (state != nullptr) loader.plan_generators(state->generators);
  loader.apply(state != nullptr ? &state->metadata : nullptr);
}

}  // namespace

namespace {

void collect_noise_generators(Module& module, const std::string& path, std::set<const Generator*>& seen,
                              std::map<std::string, Generator*>& out) {
  if (auto* layer = dynamic_cast<BayesianModule*>(&module)) {
    Generator* gen = &layer->generator();
    if (seen.insert(gen).second) out[path.empty() ? "noise" : path + ".noise"] = gen;
  }
  for (const auto& [name, child] : module.named_children())
    collect_noise_generators(*child, path.empty() ? name : path + "." + name, seen, out);
}

}  // namespace

std::map<std::string, Generator*> noise_generators(Module& module) {
  std::set<const Generator*> seen;
  std::map<std::string, Generator*> out;
  collect_noise_generators(module, "", seen, out);
  return out;
}

void save_module(const Module& module, const std::string& path, const TrainingState& state) {
  Checkpoint ck;
  ck.metadata[kFormatKey] = kFormat;
  for (const auto& [name, p] : module.named_parameters()) {
    R2G2_CHECK(ck.tensors.emplace(kParamPrefix + name, p).second,
               "save_module: the module has two parameters named '", name, "'");
  }
  if (state.optimizer != nullptr) {
    Optimizer& optimizer = *state.optimizer;
    ck.metadata[kOptimizerKindKey] = optimizer.kind();
    ck.set_uint(kOptimizerStepsKey, static_cast<uint64_t>(optimizer.steps_taken()));
    const auto names = names_in_module(module, optimizer, "save_module");
    for (const Optimizer::StateList& list : optimizer.state_lists())
      for (size_t i = 0; i < names.size(); ++i) {
        const Tensor& value = (*list.tensors)[i];
        if (!value.defined()) continue;  // a lazy entry not created yet
        // In the parameter's dtype: after Module::to the state follows only at the next step.
        ck.tensors[state_key(list, names[i])] = value.to(optimizer.params()[i].dtype());
      }
  }
  for (const auto& [name, gen] : state.generators) {
    R2G2_CHECK(gen != nullptr, "save_module: generator '", name, "' is a null pointer");
    R2G2_CHECK(!name.empty(), "save_module: a generator has an empty name");
    ck.set_uint(generator_key(name, "seed"), gen->seed);
    ck.set_uint(generator_key(name, "offset"), gen->offset);
  }
  for (const auto& [key, value] : state.metadata) ck.metadata[kUserPrefix + key] = value;
  save_checkpoint(path, ck);
}

void load_module(Module& module, const std::string& path, TrainingState& state, const LoadOptions& options) {
  load_into(module, path, &state, options);
}

void load_module(Module& module, const std::string& path, const LoadOptions& options) {
  load_into(module, path, nullptr, options);
}

}  // namespace r2g2
