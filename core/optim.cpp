// SGD and Adam: argument checks here, the arithmetic in one fused kernel per
// parameter (kernels/{cpu,cuda}/optim.h), applied in place outside the tape.
#include "r2g2/core/optim.h"

#include <cmath>

#include "r2g2/core/autograd.h"
#include "r2g2/core/dispatch.h"
#include "r2g2/core/profiler.h"

namespace r2g2 {

namespace {

// The gradient of parameter i as a contiguous buffer the update kernel can read.
Tensor checked_grad(const Tensor& p, size_t i, const char* who) {
  Tensor g = p.grad();
  R2G2_CHECK(g.shape() == p.shape(), who, ": gradient of parameter ", i, " has shape ", shape_str(g.shape()),
             ", the parameter has shape ", shape_str(p.shape()));
  R2G2_CHECK(g.device() == p.device(), who, ": gradient of parameter ", i, " is on ", g.device().str(),
             ", the parameter is on ", p.device().str());
  if (g.dtype() != p.dtype()) g = g.to(p.dtype());
  return g.contiguous();
}

// Puts an optimizer state tensor (moment, momentum buffer) on its parameter's device and
// dtype, values kept: a module moved or converted in place (Module::to) keeps its
// parameters' TensorImpls, and their state follows at the next step.
void follow_parameter(Tensor& state, const Tensor& p) {
  if (!state.defined()) return;
  if (state.device() != p.device()) state = state.to(p.device());
  if (state.dtype() != p.dtype()) state = state.to(p.dtype());
}

void check_finite(double v, const char* who, const char* name) {
  R2G2_CHECK(std::isfinite(v), who, ": ", name, " must be finite, got ", v);
}

}  // namespace

Optimizer::Optimizer(std::vector<Tensor> params) : params_(std::move(params)) {
  for (size_t i = 0; i < params_.size(); ++i) {
    const Tensor& p = params_[i];
    R2G2_CHECK(p.defined(), "optimizer: parameter ", i, " is an undefined tensor");
    R2G2_CHECK(is_floating(p.dtype()), "optimizer: parameter ", i, " of shape ", shape_str(p.shape()), " is ",
               dtype_name(p.dtype()), "; parameters must be float32 or float64");
    R2G2_CHECK(p.is_leaf(), "optimizer: parameter ", i, " of shape ", shape_str(p.shape()),
               " is not a leaf (it was produced by ", p.grad_fn()->name, "); optimise the leaf it came from");
    R2G2_CHECK(p.requires_grad(), "optimizer: parameter ", i, " of shape ", shape_str(p.shape()),
               " does not require a gradient; call requires_grad_() on it");
    // The update kernels walk the buffer linearly.
    R2G2_CHECK(p.is_contiguous(), "optimizer: parameter ", i, " of shape ", shape_str(p.shape()),
               " is a strided view; parameters must be contiguous");
  }
}

void Optimizer::set_steps_taken(int64_t s) {
  R2G2_CHECK(s >= 0, kind(), ": steps taken must be >= 0, got ", s);
  step_ = s;
}

void Optimizer::zero_grad() {
  for (auto& p : params_) p.zero_grad();
}

SGD::SGD(std::vector<Tensor> params, SGDOptions opts) : Optimizer(std::move(params)), options(opts) {
  check_finite(options.lr, "SGD", "lr");
  R2G2_CHECK(options.lr > 0, "SGD: lr must be > 0, got ", options.lr);
  R2G2_CHECK(options.momentum >= 0 && options.momentum < 1, "SGD: momentum must be in [0, 1), got ",
             options.momentum);
  R2G2_CHECK(options.weight_decay >= 0 && std::isfinite(options.weight_decay),
             "SGD: weight_decay must be finite and >= 0, got ", options.weight_decay);
  momentum_.resize(params_.size());
}

void SGD::step() {
  NoGrad no_grad;
  ++step_;
  for (size_t i = 0; i < params_.size(); ++i) {
    Tensor& p = params_[i];
    if (!p.grad().defined()) continue;
    Tensor g = checked_grad(p, i, "SGD");
    // A momentum buffer starts as the first gradient it sees (PyTorch's rule), per
    // parameter; without momentum the kernels need none (buf null).
    bool first = false;
    if (options.momentum != 0 && !momentum_[i].defined()) {
      momentum_[i] = Tensor::zeros(p.shape(), p.dtype(), p.device());
      first = true;
    }
    follow_parameter(momentum_[i], p);
    dispatch_floating(p.dtype(), "SGD", [&](auto tag) {
      using T = decltype(tag);
      T* buf = momentum_[i].defined() ? momentum_[i].data<T>() : nullptr;
      const T lr = static_cast<T>(options.lr), mom = static_cast<T>(options.momentum),
              wd = static_cast<T>(options.weight_decay);
      R2G2_KERNEL(p.device(), sgd_step<T>)(p.data<T>(), g.data<T>(), buf, p.numel(), lr, mom, wd, first);
    });
  }
  // Its own row, instead of adding its kernels to the next step's first op.
  if (profiler::enabled()) profiler::count_op("sgd step");
}

Adam::Adam(std::vector<Tensor> params, AdamOptions opts) : Optimizer(std::move(params)), options(opts) {
  check_finite(options.lr, "Adam", "lr");
  R2G2_CHECK(options.lr > 0, "Adam: lr must be > 0, got ", options.lr);
  R2G2_CHECK(options.beta1 >= 0 && options.beta1 < 1, "Adam: beta1 must be in [0, 1), got ", options.beta1);
  R2G2_CHECK(options.beta2 >= 0 && options.beta2 < 1, "Adam: beta2 must be in [0, 1), got ", options.beta2);
  R2G2_CHECK(options.eps >= 0 && std::isfinite(options.eps), "Adam: eps must be finite and >= 0, got ",
             options.eps);
  R2G2_CHECK(options.weight_decay >= 0 && std::isfinite(options.weight_decay),
             "Adam: weight_decay must be finite and >= 0, got ", options.weight_decay);
  for (const Tensor& p : params_) {
    m_.push_back(Tensor::zeros(p.shape(), p.dtype(), p.device()));
    v_.push_back(Tensor::zeros(p.shape(), p.dtype(), p.device()));
  }
}

void Adam::step() {
  NoGrad no_grad;
  ++step_;  // one count for all parameters: bias correction uses steps taken
  // Parameters sharing a device and a dtype are updated by one multi-tensor kernel: one
  // pass over the thread pool on the CPU, one launch per group of tensors on CUDA.
  std::vector<size_t> pending;
  std::vector<Tensor> grads(params_.size());  // alive until the kernels have read them
  for (size_t i = 0; i < params_.size(); ++i) {
    if (!params_[i].grad().defined()) continue;
    grads[i] = checked_grad(params_[i], i, "Adam");
    follow_parameter(m_[i], params_[i]);
    follow_parameter(v_[i], params_[i]);
    pending.push_back(i);
  }
  while (!pending.empty()) {
    const Device device = params_[pending.front()].device();
    const DType dtype = params_[pending.front()].dtype();
    std::vector<size_t> group, rest;
    for (size_t i : pending)
      (params_[i].device() == device && params_[i].dtype() == dtype ? group : rest).push_back(i);
    dispatch_floating(dtype, "Adam", [&](auto tag) {
      using T = decltype(tag);
      std::vector<kernels::AdamTensor<T>> tensors;
      for (size_t i : group)
        tensors.push_back(
            {params_[i].data<T>(), grads[i].data<T>(), m_[i].data<T>(), v_[i].data<T>(), params_[i].numel()});
      const T lr = static_cast<T>(options.lr), b1 = static_cast<T>(options.beta1),
              b2 = static_cast<T>(options.beta2), eps = static_cast<T>(options.eps),
              wd = static_cast<T>(options.weight_decay);
      R2G2_KERNEL(device, adam_step_many<T>)(tensors.data(), static_cast<int>(tensors.size()), lr, b1, b2, eps, wd,
                                             step_);
    });
    pending = std::move(rest);
  }
  // Its own row, instead of adding its kernels to the next step's first op.
  if (profiler::enabled()) profiler::count_op("adam step");
}

}  // namespace r2g2
