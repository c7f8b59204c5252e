#include "r2g2/core/anomaly.h"

#include <atomic>
#include <cmath>
#include <optional>

#include "r2g2/core/autograd.h"
#include "r2g2/core/error.h"

namespace r2g2 {

namespace {
std::atomic<bool> g_detect_anomaly{false};
std::atomic<uint64_t> g_anomaly_checks{0};
std::atomic<ParameterLayerResolver> g_parameter_layer_resolver{nullptr};
thread_local std::vector<std::string> g_layer_scopes;

struct NonFinite {
  int64_t index;  // flat, in logical (row-major) order
  double value;
};

// Reads the whole tensor back (host copy, any device): anomaly mode is for debugging.
std::optional<NonFinite> first_non_finite(const Tensor& t) {
  g_anomaly_checks.fetch_add(1, std::memory_order_relaxed);
  if (!is_floating(t.dtype()) || t.numel() == 0) return std::nullopt;
  NoGrad no_grad;
  const std::vector<double> values = t.to_vector();
  for (size_t i = 0; i < values.size(); ++i)
    if (!std::isfinite(values[i])) return NonFinite{static_cast<int64_t>(i), values[i]};
  return std::nullopt;
}

std::string index_str(int64_t flat, const Shape& shape) {
  Shape index(shape.size());
  for (size_t d = shape.size(); d-- > 0;) {
    index[d] = shape[d] > 0 ? flat % shape[d] : 0;
    flat = shape[d] > 0 ? flat / shape[d] : 0;
  }
  return shape_str(index);
}

std::string shapes_str(const std::vector<Shape>& shapes) {
  std::string out;
  for (const Shape& s : shapes) out += (out.empty() ? "" : ", ") + shape_str(s);
  return out.empty() ? "none" : out;
}

std::string layer_str(const Node& node) { return node.layer.empty() ? "no layer scope" : "layer " + node.layer; }

// The module an op belongs to: the owner of a parameter it reads (the most specific),
// else the innermost scope, else the layer of its latest recorded input (a matmul with a
// transposed weight, an activation between layers of a model that calls them directly).
std::string layer_of(const std::vector<Tensor>& inputs) {
  if (ParameterLayerResolver resolve = g_parameter_layer_resolver.load()) {
    for (const Tensor& t : inputs) {
      if (!t.defined() || !t.is_leaf()) continue;
      std::string layer = resolve(t.impl());
      if (!layer.empty()) return layer;
    }
  }
  if (!g_layer_scopes.empty()) return g_layer_scopes.back();
  const Node* latest = nullptr;
  for (const Tensor& t : inputs) {
    const Node* n = t.defined() ? t.grad_fn().get() : nullptr;
    if (n && !n->layer.empty() && (!latest || n->seq > latest->seq)) latest = n;
  }
  return latest ? latest->layer : std::string();
}

[[noreturn]] void throw_forward_anomaly(const Node& node, const Tensor& output, const NonFinite& bad) {
  throw Error(detail::concat("anomaly: forward of #", node.seq, " ", node.name, " (", layer_str(node),
                             ") produced ", bad.value, " at index ", index_str(bad.index, output.shape()),
                             " of its output ", shape_str(output.shape()), " (", dtype_name(output.dtype()), ", ",
                             output.device().str(), "); input shapes: ", shapes_str(node.input_shapes)));
}

[[noreturn]] void throw_backward_anomaly(const Node& node, size_t input, const Tensor& grad, const NonFinite& bad) {
  std::vector<Shape> input_shapes = node.input_shapes;
  if (input_shapes.empty())  // recorded with the mode off: the inputs that need a gradient are still known
    for (const auto& in : node.inputs) input_shapes.push_back(in ? in->shape : Shape{});
  throw Error(detail::concat("anomaly: backward of #", node.seq, " ", node.name, " (", layer_str(node),
                             ") produced ", bad.value, " at index ", index_str(bad.index, grad.shape()),
                             " of the gradient for input ", input, " ", shape_str(grad.shape()), " (",
                             dtype_name(grad.dtype()), ", ", grad.device().str(), "); input shapes: ",
                             shapes_str(input_shapes), ", output shape ", shape_str(node.output_shape),
                             "; the forward values were finite"));
}

}  // namespace

bool detect_anomaly() { return g_detect_anomaly.load(std::memory_order_relaxed); }
void set_detect_anomaly(bool on) { g_detect_anomaly.store(on, std::memory_order_relaxed); }
uint64_t anomaly_checks_run() { return g_anomaly_checks.load(std::memory_order_relaxed); }

void require_finite_loss(double loss, int64_t step) {
  if (std::isfinite(loss)) [[likely]]
    return;
  throw Error(detail::concat("training stopped at step ", step, ": the loss is ", loss,
                             ". Rerun with --detect-anomaly (API: r2g2::set_detect_anomaly(true)) to stop at "
                             "the first op whose output or gradient is not finite; the error names it and its "
                             "layer. Common causes: a learning rate too large, log or division at 0, bad input "
                             "data."));
}

void require_finite_loss(const Tensor& loss, int64_t step) {
  R2G2_CHECK(loss.numel() == 1, "require_finite_loss: the loss must have one element, got shape ",
             shape_str(loss.shape()));
  require_finite_loss(loss.item(), step);
}

LayerScope::LayerScope(std::string name) { g_layer_scopes.push_back(std::move(name)); }
LayerScope::~LayerScope() { g_layer_scopes.pop_back(); }
std::string current_layer() { return g_layer_scopes.empty() ? std::string() : g_layer_scopes.back(); }
void set_parameter_layer_resolver(ParameterLayerResolver resolver) { g_parameter_layer_resolver.store(resolver); }

namespace anomaly_detail {

void check_forward(Node& node, const Tensor& output, const std::vector<Tensor>& inputs) {
  node.layer = layer_of(inputs);
  for (const Tensor& t : inputs) node.input_shapes.push_back(t.defined() ? t.shape() : Shape{});
  if (auto bad = first_non_finite(output)) throw_forward_anomaly(node, output, *bad);
}

void check_backward(const Node& node, const std::vector<Tensor>& g_in) {
  for (size_t i = 0; i < g_in.size(); ++i) {
    if (!g_in[i].defined()) continue;
    if (auto bad = first_non_finite(g_in[i])) throw_backward_anomaly(node, i, g_in[i], *bad);
  }
}

}  // namespace anomaly_detail

}  // namespace r2g2
