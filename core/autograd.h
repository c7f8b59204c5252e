#pragma once
// The tape. Every differentiable op records a Node: its name, the inputs that need a
// gradient, and a backward closure holding only the tensors that backward needs.
// Nodes are numbered in recording order; backward(loss) visits the nodes that reach
// `loss` in reverse recording order (a valid reverse topological order) and
// accumulates each node's input gradients with +=.
#include <cstdint>
#include <functional>
#include <iosfwd>
#include <memory>
#include <string>
#include <vector>

#include "r2g2/core/anomaly.h"  // anomaly mode and require_finite_loss, which the tape calls
#include "r2g2/core/tensor.h"

namespace r2g2 {

// Given dLoss/d(output), returns dLoss/d(input_i) for each input (an undefined Tensor
// where an input needs none). Runs with gradient recording off.
using BackwardFn = std::function<std::vector<Tensor>(const Tensor& grad_output)>;

struct Node {
  uint64_t seq = 0;  // position on the tape
  std::string name;  // "matmul", "relu", ...
  Shape output_shape;
  // Filled only in anomaly mode (the cost stays off the normal path): the module the op
  // ran in ("fc2", "features.4"; empty when unknown) and every input's shape.
  std::string layer;
  std::vector<Shape> input_shapes;
  std::vector<std::shared_ptr<TensorImpl>> inputs;  // null where no gradient is needed
  BackwardFn backward;                              // cleared after use unless the graph is retained
  bool released = false;
};

// Gradient recording is on by default, per thread.
bool grad_enabled();
void set_grad_enabled(bool on);

// RAII guard: no recording inside its scope (evaluation, optimizer steps).
class NoGrad {
 public:
  NoGrad() : prev_(grad_enabled()) { set_grad_enabled(false); }
  ~NoGrad() { set_grad_enabled(prev_); }
  NoGrad(const NoGrad&) = delete;
  NoGrad& operator=(const NoGrad&) = delete;

 private:
  bool prev_;
};

// True when an op over `inputs` must be recorded.
bool needs_grad(std::initializer_list<const Tensor*> inputs);
bool needs_grad(const std::vector<Tensor>& inputs);

// Records `output` as produced by `name` from `inputs` when any input requires a
// gradient and recording is on; returns `output` (marked requires_grad) either way.
// This is the one extension point: ops and estimators both use it.
Tensor record(const char* name, Tensor output, const std::vector<Tensor>& inputs, BackwardFn backward);

struct BackwardOptions {
  bool retain_graph = false;      // keep closures so that backward can run again
  std::ostream* trace = nullptr;  // when set, prints each node and the gradient it produced
};

// Seeds dLoss/dloss = 1 (loss must have one element) and runs the tape backward,
// accumulating into .grad() of every leaf that requires a gradient.
void backward(const Tensor& loss, const BackwardOptions& options = {});
// Same with an explicit seed gradient of loss's shape.
void backward(const Tensor& output, const Tensor& seed, const BackwardOptions& options = {});

// Lists the recorded nodes that reach `output`, in tape order: "#3 matmul [2, 4] <- #1 #2",
// followed by "  (in fc1)" when the node was recorded in anomaly mode inside a layer.
void print_tape(std::ostream& os, const Tensor& output);

}  // namespace r2g2
