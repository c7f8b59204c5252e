#pragma once
// A chain of owned modules applied in order: forward(x) = m_n(...m_1(m_0(x))). Children
// are named "0", "1", ... so parameters read "0.mu", "2.weight", ...
//
//   Sequential net(std::make_unique<BayesLinear>(784, 256), std::make_unique<ReLU>(),
//                  std::make_unique<BayesLinear>(256, 10));
//   net.set_noise_source(std::make_shared<Generator>(seed));
//   Tensor logits = net.forward(x);
#include <cstddef>
#include <memory>
#include <utility>
#include <vector>

#include "r2g2/core/error.h"
#include "r2g2/layers/module.h"

namespace r2g2 {

class Sequential : public Module {
 public:
  Sequential() = default;
  template <class... M>
  explicit Sequential(std::unique_ptr<M>&&... modules) {
    (push_back(std::move(modules)), ...);
  }

  // Appends `module` as child "<size()>" and returns this, for chaining.
  Sequential& push_back(std::unique_ptr<Module> module);
  // Builds a module in place and returns it: net.emplace_back<Linear>(784, 256).
  template <class M, class... Args>
  M& emplace_back(Args&&... args) {
    auto module = std::make_unique<M>(std::forward<Args>(args)...);
    M& ref = *module;
    push_back(std::move(module));
    return ref;
  }

  Tensor forward(const Tensor& x) override;

  size_t size() const { return modules_.size(); }
  bool empty() const { return modules_.empty(); }
  Module& operator[](size_t index) const;
  // The child at `index` as an M; an error names the index and both types otherwise.
  template <class M>
  M& at(size_t index) const {
    auto* m = dynamic_cast<M*>(&(*this)[index]);
    R2G2_CHECK(m != nullptr, "Sequential: module ", index, " is a ", (*this)[index].type_name(),
               ", not the requested type");
    return *m;
  }

 private:
  std::vector<std::unique_ptr<Module>> modules_;
};

}  // namespace r2g2
