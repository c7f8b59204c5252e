#include "r2g2/core/autograd.h"

#include <algorithm>
#include <atomic>
#include <ostream>
#include <unordered_map>
#include <unordered_set>

#include "r2g2/core/dispatch.h"
#include "r2g2/core/ops.h"
#include "r2g2/core/profiler.h"

namespace r2g2 {

namespace {
thread_local bool g_grad_enabled = true;
std::atomic<uint64_t> g_next_seq{1};

// Nodes reaching `root`, sorted by tape position, last recorded first. Owning pointers:
// a node releases its inputs as soon as it has run, and upstream nodes must outlive that.
std::vector<std::shared_ptr<Node>> reachable_nodes(const std::shared_ptr<Node>& root) {
  std::vector<std::shared_ptr<Node>> order, stack{root};
  std::unordered_set<Node*> seen{root.get()};
  while (!stack.empty()) {
    std::shared_ptr<Node> n = stack.back();
    stack.pop_back();
    for (auto& in : n->inputs)
      if (in && in->grad_fn && seen.insert(in->grad_fn.get()).second) stack.push_back(in->grad_fn);
    order.push_back(std::move(n));
  }
  std::sort(order.begin(), order.end(), [](const auto& a, const auto& b) { return a->seq > b->seq; });
  return order;
}

// The node's closure; with profiling on, timed as its backward row, and the kernels it
// ran are not left pending for the next op.
std::vector<Tensor> run_backward(Node& node, const Tensor& g_out) {
  if (!profiler::enabled()) [[likely]]
    return node.backward(g_out);
  profiler::discard_pending();
  std::vector<Tensor> g_in;
  {
    profiler::ScopeTimer timer(profiler::Kind::backward, node.name);
    g_in = node.backward(g_out);
  }
  profiler::discard_pending();
  return g_in;
}

// True when nothing but `g` can see its buffer: a gradient nobody else holds, contiguous
// from its storage's start, with no view sharing that storage. (Only for tensors the tape
// made: a caller's variable passed by reference also counts once.)
bool sole_owner(const Tensor& g) {
  return g.impl_shared().use_count() == 1 && g.impl().storage.use_count() == 1 && g.offset() == 0 &&
         g.is_contiguous() && !g.requires_grad();
}

// A leaf's gradient buffer must be its own (later accumulation writes into it): a gradient
// the tape computed that nobody else can see is taken as it is, any other is copied.
void accumulate(std::shared_ptr<TensorImpl>& slot, const Tensor& g, bool computed_by_tape) {
  if (!slot) {
    slot = computed_by_tape && sole_owner(g) ? g.impl_shared() : g.clone().impl_shared();
    return;
  }
  Tensor acc(slot);
  if (acc.shape() == g.shape() && acc.is_contiguous() && g.is_contiguous() && acc.dtype() == g.dtype() &&
      acc.device() == g.device()) {
    dispatch_floating(acc.dtype(), "gradient accumulation", [&](auto tag) {
      using T = decltype(tag);
      R2G2_KERNEL(acc.device(), axpy<T>)(T(1), g.data<T>(), acc.data<T>(), acc.numel());
    });
  } else {
    acc.copy_(add(acc, g));
  }
}
}  // namespace

bool grad_enabled() { return g_grad_enabled; }
void set_grad_enabled(bool on) { g_grad_enabled = on; }

bool needs_grad(std::initializer_list<const Tensor*> inputs) {
  if (!g_grad_enabled) return false;
  for (const Tensor* t : inputs)
    if (t && t->defined() && t->requires_grad()) return true;
  return false;
}

bool needs_grad(const std::vector<Tensor>& inputs) {
  if (!g_grad_enabled) return false;
  for (const Tensor& t : inputs)
    if (t.defined() && t.requires_grad()) return true;
  return false;
}

Tensor record(const char* name, Tensor output, const std::vector<Tensor>& inputs, BackwardFn backward) {
  if (profiler::enabled()) [[unlikely]]
    profiler::count_op(name);
  if (!needs_grad(inputs)) return output;
  auto node = std::make_shared<Node>();
  node->seq = g_next_seq++;
  node->name = name;
  node->output_shape = output.shape();
  for (const Tensor& t : inputs)
    node->inputs.push_back(t.defined() && t.requires_grad() ? t.impl_shared() : nullptr);
  node->backward = std::move(backward);
  if (detect_anomaly()) [[unlikely]]
    anomaly_detail::check_forward(*node, output, inputs);
  // A view shares storage but gets its own impl, so attaching the node here never
  // touches a tensor the caller still holds under another name.
  output.impl().grad_fn = std::move(node);
  output.impl().requires_grad = true;
  return output;
}

void backward(const Tensor& loss, const BackwardOptions& options) {
  R2G2_CHECK(loss.numel() == 1, "backward: the loss must have one element, got shape ",
             shape_str(loss.shape()), "; pass a seed gradient for other outputs");
  backward(loss, Tensor::ones(loss.shape(), loss.dtype(), loss.device()), options);
}

void backward(const Tensor& output, const Tensor& seed, const BackwardOptions& options) {
  R2G2_CHECK(output.requires_grad(),
             "backward: the output does not require a gradient "
             "(no input had requires_grad, or it was computed under NoGrad)");
  R2G2_CHECK(seed.shape() == output.shape(), "backward: seed gradient shape ", shape_str(seed.shape()),
             " differs from output shape ", shape_str(output.shape()));
  NoGrad no_grad;
  if (!output.grad_fn()) {  // a leaf: its gradient is the seed
    accumulate(output.impl().grad, seed, false);
    return;
  }
  std::unordered_map<Node*, Tensor> grad_of;
  grad_of[output.grad_fn().get()] = seed;
  for (const std::shared_ptr<Node>& node_ptr : reachable_nodes(output.grad_fn())) {
    Node* node = node_ptr.get();
    auto it = grad_of.find(node);
    if (it == grad_of.end()) continue;  // reachable only through inputs that need no gradient
    R2G2_CHECK(!node->released, "backward: node #", node->seq, " (", node->name,
               ") was already freed by an earlier backward; pass retain_graph = true to run "
               "backward twice through the same graph");
    Tensor g_out = it->second;
    grad_of.erase(it);
    std::vector<Tensor> g_in = run_backward(*node, g_out);
    R2G2_CHECK(g_in.size() == node->inputs.size(), "backward of ", node->name, " returned ", g_in.size(),
               " gradients for ", node->inputs.size(), " inputs");
    if (detect_anomaly()) [[unlikely]]
      anomaly_detail::check_backward(*node, g_in);
    if (options.trace) {
      *options.trace << "#" << node->seq << " " << node->name << "  dL/dout " << shape_str(g_out.shape());
      if (g_out.numel() <= 8) {
        *options.trace << " =";
        for (double v : g_out.to_vector()) *options.trace << " " << v;
      }
      *options.trace << "\n";
    }
    for (size_t i = 0; i < g_in.size(); ++i) {
      auto& in = node->inputs[i];
      if (!in || !g_in[i].defined()) continue;
      R2G2_CHECK(g_in[i].shape() == in->shape, "backward of ", node->name, ": gradient for input ", i,
                 " has shape ", shape_str(g_in[i].shape()), ", the input has shape ", shape_str(in->shape));
      if (in->grad_fn) {
        Tensor& slot = grad_of[in->grad_fn.get()];
        slot = slot.defined() ? add(slot, g_in[i]) : g_in[i];
      } else {
        accumulate(in->grad, g_in[i], true);
      }
    }
    if (!options.retain_graph) {
      // Frees the saved tensors and the inputs' buffers now, not when the loss dies:
      // memory shrinks as backward walks down the tape.
      node->backward = nullptr;
      node->inputs.clear();
      node->released = true;
    }
  }
  // Gradient accumulation into the leaves belongs to no op.
  if (profiler::enabled()) [[unlikely]]
    profiler::discard_pending();
}

void print_tape(std::ostream& os, const Tensor& output) {
  if (!output.grad_fn()) {
    os << "(no recorded nodes: the tensor is a leaf)\n";
    return;
  }
  auto nodes = reachable_nodes(output.grad_fn());
  std::reverse(nodes.begin(), nodes.end());
  for (const auto& n : nodes) {
    os << "#" << n->seq << " " << n->name << " " << shape_str(n->output_shape) << " <-";
    for (auto& in : n->inputs) {
      if (!in)
        os << " const";
      else if (in->grad_fn)
        os << " #" << in->grad_fn->seq;
      else
        os << " leaf" << shape_str(in->shape);
    }
    if (!n->layer.empty()) os << "  (in " << n->layer << ")";
    os << "\n";
  }
}

}  // namespace r2g2
