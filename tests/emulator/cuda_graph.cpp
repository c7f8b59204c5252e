// Stream capture and graph replay for the emulator (the rules are in cuda_emulator.h).
#include <atomic>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include "emulator/capture_hooks.h"
#include "emulator/cuda_emulator.h"

struct CUstream_st {
  unsigned flags = 0;
};

namespace {

// One recorded operation. A kernel node keeps what a launch needs; a copy or memset node
// is its operation, bound to its pointers and size at capture.
struct Node {
  const char* name = nullptr;  // null: not a kernel
  const void* kernel = nullptr;
  dim3 grid, block;
  size_t shared_bytes = 0;
  std::function<void()> body;
};

}  // namespace

struct CUgraph_st {
  std::vector<Node> nodes;
};
struct CUgraphExec_st {
  std::vector<Node> nodes;
};

namespace {

struct CaptureState {
  std::recursive_mutex mutex;
  std::atomic<bool> active{false};
  cudaStream_t stream = nullptr;
  bool invalidated = false;
  std::unique_ptr<CUgraph_st> graph;
  std::atomic<int64_t> live_graphs{0};
};

CaptureState& state() {
  static CaptureState* s = new CaptureState;  // never destroyed, like the emulator
  return *s;
}

}  // namespace

namespace r2g2_emu {

bool capturing() { return state().active.load(std::memory_order_acquire); }

void record(const char* name, const void* kernel, dim3 grid, dim3 block, size_t shared_bytes,
            std::function<void()> body) {
  CaptureState& s = state();
  {
    std::lock_guard lock(s.mutex);
    const bool valid = valid_launch_config(grid, block, shared_bytes, kernel);
    if (s.active.load(std::memory_order_relaxed) && valid) {
      if (!s.invalidated)
        s.graph->nodes.push_back(Node{name, kernel, grid, block, shared_bytes, std::move(body)});
      return;
    }
    // A failed launch fails as it would outside a capture, and the capture cannot complete.
    if (s.active.load(std::memory_order_relaxed)) s.invalidated = true;
  }
  run(name, kernel, grid, block, shared_bytes, body);  // an invalid one sets the launch error, runs nothing
}

int64_t live_graphs() { return state().live_graphs.load(); }

namespace capture_hooks {

cudaError_t refuse(cudaError_t error) {
  CaptureState& s = state();
  std::lock_guard lock(s.mutex);
  if (!s.active.load(std::memory_order_relaxed)) return cudaSuccess;
  s.invalidated = true;
  return error;
}

cudaError_t enqueue(cudaStream_t stream, std::function<void()> op, bool* recorded) {
  CaptureState& s = state();
  std::lock_guard lock(s.mutex);
  *recorded = false;
  if (!s.active.load(std::memory_order_relaxed)) return cudaSuccess;
  if (stream != s.stream) {
    s.invalidated = true;
    return cudaErrorStreamCaptureImplicit;
  }
  if (!s.invalidated) s.graph->nodes.push_back(Node{nullptr, nullptr, dim3(), dim3(), 0, std::move(op)});
  *recorded = true;
  return cudaSuccess;
}

}  // namespace capture_hooks
}  // namespace r2g2_emu

cudaError_t cudaStreamCreateWithFlags(cudaStream_t* stream, unsigned flags) {
  if (!stream) return cudaErrorInvalidValue;
  if (const cudaError_t refused = r2g2_emu::capture_hooks::refuse(cudaErrorStreamCaptureUnsupported))
    return refused;
  *stream = new CUstream_st{flags};
  return cudaSuccess;
}

cudaError_t cudaStreamDestroy(cudaStream_t stream) {
  if (!stream) return cudaErrorInvalidResourceHandle;
  {
    std::lock_guard lock(state().mutex);
    if (state().active.load() && state().stream == stream) return cudaErrorIllegalState;
  }
  delete stream;
  return cudaSuccess;
}

cudaError_t cudaStreamBeginCapture(cudaStream_t stream, cudaStreamCaptureMode mode) {
  CaptureState& s = state();
  std::lock_guard lock(s.mutex);
  if (mode != cudaStreamCaptureModeGlobal && mode != cudaStreamCaptureModeThreadLocal &&
      mode != cudaStreamCaptureModeRelaxed)
    return cudaErrorInvalidValue;
  if (stream == nullptr) return cudaErrorStreamCaptureUnsupported;  // the legacy stream cannot capture
  if (s.active.load()) return cudaErrorIllegalState;                // one capture at a time here
  s.stream = stream;
  s.invalidated = false;
  s.graph = std::make_unique<CUgraph_st>();
  s.active.store(true, std::memory_order_release);
  return cudaSuccess;
}

cudaError_t cudaStreamEndCapture(cudaStream_t stream, cudaGraph_t* graph) {
  CaptureState& s = state();
  std::lock_guard lock(s.mutex);
  if (!graph) return cudaErrorInvalidValue;
  *graph = nullptr;
  if (!s.active.load() || stream != s.stream) return cudaErrorIllegalState;
  s.active.store(false, std::memory_order_release);
  s.stream = nullptr;
  std::unique_ptr<CUgraph_st> captured = std::move(s.graph);
  if (s.invalidated) return cudaErrorStreamCaptureInvalidated;
  *graph = captured.release();
  ++s.live_graphs;
  return cudaSuccess;
}

cudaError_t cudaStreamIsCapturing(cudaStream_t stream, cudaStreamCaptureStatus* status) {
  CaptureState& s = state();
  std::lock_guard lock(s.mutex);
  if (!status) return cudaErrorInvalidValue;
  *status = cudaStreamCaptureStatusNone;
  if (!s.active.load()) return cudaSuccess;
  // Asking about the legacy stream while a blocking stream captures synchronises with it.
  if (stream == nullptr && (s.stream->flags & cudaStreamNonBlocking) == 0) {
    s.invalidated = true;
    return cudaErrorStreamCaptureImplicit;
  }
  if (stream == s.stream)
    *status = s.invalidated ? cudaStreamCaptureStatusInvalidated : cudaStreamCaptureStatusActive;
  return cudaSuccess;
}

cudaError_t cudaGraphInstantiate(cudaGraphExec_t* exec, cudaGraph_t graph, unsigned long long flags) {
  if (!exec || !graph || flags != 0) return cudaErrorInvalidValue;
  *exec = new CUgraphExec_st{graph->nodes};
  ++state().live_graphs;
  return cudaSuccess;
}

cudaError_t cudaGraphLaunch(cudaGraphExec_t exec, cudaStream_t stream) {
  if (!exec) return cudaErrorInvalidResourceHandle;
  {
    CaptureState& s = state();
    std::lock_guard lock(s.mutex);
    // Launching a graph into a capture would add it as a child graph: not emulated.
    if (s.active.load()) {
      s.invalidated = true;
      return stream == s.stream ? cudaErrorStreamCaptureUnsupported : cudaErrorStreamCaptureImplicit;
    }
  }
  for (const Node& node : exec->nodes) {
    if (node.name)
      r2g2_emu::run(node.name, node.kernel, node.grid, node.block, node.shared_bytes, node.body);
    else
      node.body();
  }
  return cudaSuccess;
}

cudaError_t cudaGraphExecDestroy(cudaGraphExec_t exec) {
  if (!exec) return cudaErrorInvalidResourceHandle;
  delete exec;
  --state().live_graphs;
  return cudaSuccess;
}

cudaError_t cudaGraphDestroy(cudaGraph_t graph) {
  if (!graph) return cudaErrorInvalidResourceHandle;
  delete graph;
  --state().live_graphs;
  return cudaSuccess;
}
