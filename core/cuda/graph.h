#pragma once
// A static step captured as a CUDA graph and replayed (core/cuda/graph.cpp; in a build
// without CUDA every entry point throws r2g2::Error).
//
//   StepGraph graph;
//   graph.follow(generator);                 // every Generator the step draws from
//   graph.capture([&] { ...one step... });   // records; runs nothing
//   for (...) { graph.set_adam(lr, b1, b2, t); graph.replay(); }
//
// Capture records everything the step queues on r2g2's stream. Values a launch would
// freeze but that change per step are read from device memory at replay
// (kernels/cuda/graph.h): the Philox offsets of the followed Generators, and Adam's lr and
// step count. The step's allocations come from a private pool of the caching allocator,
// so the captured addresses stay the graph's until it is destroyed; the step must have
// run eagerly first, so that the cache already holds those blocks (cudaMalloc cannot run
// during a capture). Tensors that the step reads and that were made before the capture
// (parameters, optimizer state, input buffers) must be kept alive and in place by the
// caller for as long as the graph is replayed.
#include <cstdint>
#include <functional>
#include <memory>

#include "r2g2/core/random.h"

namespace r2g2::cuda_backend {

class StepGraph {
 public:
  StepGraph();
  ~StepGraph();
  StepGraph(const StepGraph&) = delete;
  StepGraph& operator=(const StepGraph&) = delete;

  // A Generator the step draws from: each replay draws what the eager step would draw
  // at the Generator's current offset, then advances it by what the step draws.
  void follow(Generator& gen);
  // Captures `step` once. Nothing runs on the device; the followed Generators end where
  // they started. Throws r2g2::Error naming why the step cannot be captured (a host
  // synchronisation such as item() or a copy to the host, an allocation the cache cannot
  // serve, a draw from a Generator not followed, ...); the object can then be discarded.
  void capture(const std::function<void()>& step);
  bool captured() const;
  // Queues, inside the capture, the device-side check that sets the replay's "loss is
  // finite" flag from `n` values at `loss`; a captured Adam update skips when it is clear.
  void mark_loss_finite(const float* loss, int64_t n);
  void mark_loss_finite(const double* loss, int64_t n);
  // Whether the captured step holds an Adam update, and its values for the next replay
  // (lr and the step count t that the update applies, bias corrections as adam_step's).
  bool captured_adam() const;
  void set_adam(double lr, double beta1, double beta2, int64_t step);
  // Queues one replay on r2g2's stream and advances the followed Generators.
  void replay();

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace r2g2::cuda_backend
