// StepGraph (core/cuda/graph.h): capture, the private memory pool and replay. Plain C++
// over the runtime API, so that the emulated test suite builds it against the emulator.
#include "r2g2/core/cuda/graph.h"

#include <algorithm>
#include <exception>
#include <string>
#include <vector>

#include "r2g2/core/cuda/allocator_impl.h"
#include "r2g2/core/error.h"
#include "r2g2/kernels/cuda/check.h"
#include "r2g2/kernels/cuda/cuda_api.h"
#include "r2g2/kernels/cuda/graph.h"
#include "r2g2/kernels/cuda/optim.h"
#include "r2g2/kernels/cuda/stream.h"

namespace r2g2::cuda_backend {

struct StepGraph::State {
  struct Followed {
    Generator* gen;
    uint64_t seed = 0;             // at capture
    uint64_t captured_offset = 0;  // where the captured step drew from
    uint64_t advance = 0;          // how far one step moves it
  };
  kernels::cuda::ReplayScalars scalars;
  int pool = 0;
  std::vector<Followed> followed;
  cudaGraphExec_t exec = nullptr;
};

StepGraph::StepGraph() : state_(std::make_unique<State>()) {
  state_->pool = detail::allocator().create_pool();
}

StepGraph::~StepGraph() {
  // Replays still queued finish first: destroying an executable graph does not cancel them,
  // and the pool's blocks go back to the cache, whose next users queue behind them.
  if (state_->exec && cudaGraphExecDestroy(state_->exec) != cudaSuccess) cudaGetLastError();
  detail::allocator().release_pool(state_->pool);
}

void StepGraph::follow(Generator& gen) {
  for (const State::Followed& f : state_->followed) {
    if (f.gen == &gen) return;
    R2G2_CHECK(f.gen->seed != gen.seed, "CUDA graph: two followed Generators share seed ", gen.seed,
               "; a captured draw could not tell them apart");
  }
  R2G2_CHECK(!state_->exec, "CUDA graph: follow() a Generator before the capture");
  state_->followed.push_back({&gen, gen.seed, gen.offset, 0});
}

bool StepGraph::captured() const { return state_->exec != nullptr; }

void StepGraph::capture(const std::function<void()>& step) {
  State& s = *state_;
  R2G2_CHECK(!s.exec, "CUDA graph: the step is already captured");
  for (State::Followed& f : s.followed) {
    f.seed = f.gen->seed;
    f.captured_offset = f.gen->offset;
  }
  cudaStream_t stream = kernels::cuda::current_stream();
  R2G2_CUDA_CHECK(cudaStreamBeginCapture(stream, cudaStreamCaptureModeGlobal));
  detail::allocator().set_capture_pool(s.pool);
  kernels::cuda::set_capturing_scalars(&s.scalars);
  std::string failure;
  try {
    step();
  } catch (const std::exception& e) {
    failure = e.what();
  }
  cudaGraph_t graph = nullptr;
  const cudaError_t ended = cudaStreamEndCapture(stream, &graph);
  kernels::cuda::set_capturing_scalars(nullptr);
  detail::allocator().set_capture_pool(0);
  // The capture ran nothing: the Generators go back to where the first replay draws.
  for (State::Followed& f : s.followed) {
    f.advance = f.gen->offset - f.captured_offset;
    f.gen->offset = f.captured_offset;
  }
  if (failure.empty() && ended != cudaSuccess)
    failure = ::r2g2::detail::concat("cudaStreamEndCapture: ", cudaGetErrorString(ended),
                                     " (a call the capture forbids failed inside the step)");
  if (failure.empty()) {
    for (uint64_t seed : s.scalars.philox_seeds()) {
      const bool known = std::any_of(s.followed.begin(), s.followed.end(),
                                     [&](const State::Followed& f) { return f.seed == seed; });
      if (!known)
        failure = ::r2g2::detail::concat(
            "the step draws from the random stream with seed ", seed,
            ", which no followed Generator has: its offsets would repeat at every replay");
    }
  }
  if (!failure.empty()) {
    if (graph && cudaGraphDestroy(graph) != cudaSuccess) cudaGetLastError();
    cudaGetLastError();
    throw Error("the step cannot be captured as a CUDA graph: " + failure +
                ". A captured step may only queue device work: no item(), copy to the host or other "
                "synchronisation, and no allocation the cache cannot serve (run the step eagerly first)");
  }
  const cudaError_t instantiated = cudaGraphInstantiate(&s.exec, graph, 0);
  if (cudaGraphDestroy(graph) != cudaSuccess) cudaGetLastError();
  if (instantiated != cudaSuccess) {
    s.exec = nullptr;
    kernels::cuda::throw_cuda_error("cudaGraphInstantiate", __FILE__, __LINE__,
                                    cudaGetErrorString(instantiated));
  }
}

void StepGraph::mark_loss_finite(const float* loss, int64_t n) { kernels::cuda::mark_loss_finite(loss, n); }
void StepGraph::mark_loss_finite(const double* loss, int64_t n) { kernels::cuda::mark_loss_finite(loss, n); }

bool StepGraph::captured_adam() const { return state_->scalars.captured_adam(); }

void StepGraph::set_adam(double lr, double beta1, double beta2, int64_t step) {
  state_->scalars.set_adam(lr, beta1, beta2, step);
}

void StepGraph::replay() {
  State& s = *state_;
  R2G2_CHECK(s.exec, "CUDA graph: replay() before a successful capture()");
  const auto& seeds = s.scalars.philox_seeds();
  for (const State::Followed& f : s.followed) {
    R2G2_CHECK(f.gen->seed == f.seed, "CUDA graph: a followed Generator's seed changed from ", f.seed, " to ",
               f.gen->seed, " after the capture; capture the step again");
    if (std::find(seeds.begin(), seeds.end(), f.seed) != seeds.end())
      s.scalars.set_philox_shift(f.seed, f.gen->offset - f.captured_offset);
  }
  s.scalars.upload();
  R2G2_CUDA_CHECK(cudaGraphLaunch(s.exec, kernels::cuda::current_stream()));
  for (State::Followed& f : s.followed) f.gen->offset += f.advance;
}

}  // namespace r2g2::cuda_backend
