#include "r2g2/layers/sequential.h"

#include <string>

namespace r2g2 {

Sequential& Sequential::push_back(std::unique_ptr<Module> module) {
  R2G2_CHECK(module != nullptr, "Sequential::push_back: null module at position ", modules_.size());
  register_module(std::to_string(modules_.size()), module.get());
  modules_.push_back(std::move(module));
  return *this;
}

Module& Sequential::operator[](size_t index) const {
  R2G2_CHECK(index < modules_.size(), "Sequential: index ", index, " out of range (", modules_.size(),
             " modules)");
  return *modules_[index];
}

Tensor Sequential::forward(const Tensor& x) {
  Tensor h = x;
  for (auto& m : modules_) h = (*m)(h);
  return h;
}

}  // namespace r2g2
