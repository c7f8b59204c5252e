// CPU-only build: a CUDA graph needs CUDA.
#include "r2g2/core/cuda/graph.h"
#include "r2g2/core/error.h"

namespace r2g2::cuda_backend {

struct StepGraph::State {};

StepGraph::StepGraph() {
  throw Error(
      "CUDA graphs need a CUDA device, and r2g2 was built without CUDA (nvcc was not found at configure "
      "time)");
}
StepGraph::~StepGraph() = default;
void StepGraph::follow(Generator&) {}
void StepGraph::capture(const std::function<void()>&) {}
bool StepGraph::captured() const { return false; }
void StepGraph::mark_loss_finite(const float*, int64_t) {}
void StepGraph::mark_loss_finite(const double*, int64_t) {}
bool StepGraph::captured_adam() const { return false; }
void StepGraph::set_adam(double, double, double, int64_t) {}
void StepGraph::replay() {}

}  // namespace r2g2::cuda_backend
