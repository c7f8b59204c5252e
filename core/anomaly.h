#pragma once
// Finding NaNs: anomaly mode, the non-finite-loss guard of training loops, and the layer
// names the reports use. The tape (core/autograd.h) calls the two hooks at the bottom.
#include <cstdint>
#include <string>
#include <vector>

#include "r2g2/core/tensor.h"

namespace r2g2 {

struct Node;

// Anomaly mode (like torch.autograd.set_detect_anomaly): off by default, process-wide.
// While on, record() checks every recorded op's output and backward checks every gradient
// a node produces; the first NaN or Inf throws r2g2::Error naming the node (op and tape
// number), forward or backward, the input and output shapes, dtype, device, the layer and
// the first offending index and value. Tensors are copied to the host for the check, so
// it is slow: a debugging mode. Off, it costs one branch per op.
bool detect_anomaly();
void set_detect_anomaly(bool on);

// RAII guard: anomaly mode on inside its scope, the previous state restored after.
class DetectAnomaly {
 public:
  explicit DetectAnomaly(bool on = true) : prev_(detect_anomaly()) { set_detect_anomaly(on); }
  ~DetectAnomaly() { set_detect_anomaly(prev_); }
  DetectAnomaly(const DetectAnomaly&) = delete;
  DetectAnomaly& operator=(const DetectAnomaly&) = delete;

 private:
  bool prev_;
};

// How many tensors anomaly mode has checked in this process (tests use it to show that
// the mode costs nothing when off).
uint64_t anomaly_checks_run();

// Throws r2g2::Error when `loss` (one element) is NaN or +-Inf. The message names the value
// and the step and says to rerun with --detect-anomaly (API: set_detect_anomaly(true)) to
// find the op. Reads the value (a device sync on CUDA); the overload taking the value is
// for loops that have read it already.
void require_finite_loss(const Tensor& loss, int64_t step);
void require_finite_loss(double loss, int64_t step);

// The module running now, per thread, for anomaly reports: Module::operator() pushes one
// while anomaly mode is on. The innermost scope names the layer; nodes recorded outside
// any scope are named by the parameters they read (see set_parameter_layer_resolver).
class LayerScope {
 public:
  explicit LayerScope(std::string name);
  ~LayerScope();
  LayerScope(const LayerScope&) = delete;
  LayerScope& operator=(const LayerScope&) = delete;
};
// The innermost LayerScope's name on this thread; empty outside any.
std::string current_layer();

// Maps a leaf tensor to the qualified name of the module that owns it as a parameter (""
// when none). layers/ installs one, so that ops of layers whose forward pushes no scope
// are still named; the tape itself knows nothing of modules.
using ParameterLayerResolver = std::string (*)(const TensorImpl& leaf);
void set_parameter_layer_resolver(ParameterLayerResolver resolver);

namespace anomaly_detail {
// Called by record() in anomaly mode: names the node's layer, keeps its input shapes and
// throws at the first non-finite value of `output`.
void check_forward(Node& node, const Tensor& output, const std::vector<Tensor>& inputs);
// Called by backward() in anomaly mode on the gradients `node` produced for its inputs.
void check_backward(const Node& node, const std::vector<Tensor>& grads);
}  // namespace anomaly_detail

}  // namespace r2g2
