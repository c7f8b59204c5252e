// A training-like step captured as a CUDA graph under the emulator (core/cuda/graph.h,
// kernels/cuda/graph.h): each replay must draw the normals and apply the Adam update that
// the eager step with the same host state applies, bit for bit, and leave the host state
// (Generator offsets, step count) where eager steps leave it.
#include "emulator/cuda_emulator.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "kernels/cuda/emulated_test_util.h"
#include "r2g2/core/cuda/allocator_impl.h"
#include "r2g2/core/cuda/graph.h"
#include "r2g2/core/error.h"
#include "r2g2/kernels/cuda/launch.cuh"
#include "r2g2/kernels/cuda/optim.h"
#include "r2g2/kernels/cuda/random.h"
#include "r2g2/kernels/runtime/device_memory.h"

namespace {

namespace gpu = r2g2::kernels::cuda;
using r2g2::Generator;
using r2g2::cuda_backend::StepGraph;

// g = eps * x + p - 0.5: a gradient that depends on this step's draws and parameters.
__global__ void gradient_kernel(const float* eps, const float* x, const float* p, float* g, int n) {
  for (int i = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x); i < n; i += gridDim.x * blockDim.x)
    g[i] = eps[i] * x[i] + p[i] - 0.5f;
}

constexpr int kN = 37;  // not a multiple of 4: draws straddle Philox blocks differently each step
constexpr double kBeta1 = 0.9, kBeta2 = 0.999, kEps = 1e-8;

// The state of a small model: "device" buffers are host memory under the emulator.
struct Model {
  std::vector<float> p = std::vector<float>(kN), m = std::vector<float>(kN, 0.0f),
                     v = std::vector<float>(kN, 0.0f);
  std::vector<float> g = std::vector<float>(kN), x = std::vector<float>(kN), eps = std::vector<float>(kN);
  std::vector<double> noise = std::vector<double>(17);  // a second stream, two draws, another dtype
  float loss = 1.0f;
  Generator weights{0x5eed0001, 3}, other{0x5eed0002, 1};
  int64_t t = 0;
  Model() {
    for (int i = 0; i < kN; ++i) {
      p[i] = 0.1f * static_cast<float>(i % 7) - 0.3f;
      x[i] = 1.0f + 0.05f * static_cast<float>(i);
    }
  }
  // One step's device work. The Adam update applies step t + 1 and is what a finite loss
  // allows; `graph` adds the captured finite check in front of it.
  void step(double lr, StepGraph* graph) {
    gpu::philox_normal(weights.seed, weights.take(kN), eps.data(), kN);
    gpu::philox_normal(other.seed, other.take(10), noise.data(), 10);
    gpu::philox_normal(other.seed, other.take(7), noise.data() + 10, 7);
    R2G2_LAUNCH(gradient_kernel, 1, 64, eps.data(), x.data(), p.data(), g.data(), kN);
    if (graph) graph->mark_loss_finite(&loss, 1);
    const r2g2::kernels::AdamTensor<float> tensor{p.data(), g.data(), m.data(), v.data(), kN};
    ++t;
    gpu::adam_step_many(&tensor, 1, static_cast<float>(lr), static_cast<float>(kBeta1),
                        static_cast<float>(kBeta2), static_cast<float>(kEps), 0.0f, t);
  }
};

template <class T>
bool identical(const std::vector<T>& a, const std::vector<T>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0;
}

// The emulated backend leaves caching off (tests see each buffer's bounds); graphs need it.
struct CachingOn {
  CachingOn() { r2g2::cuda_backend::detail::allocator().set_caching(true); }
  ~CachingOn() { r2g2::cuda_backend::detail::allocator().set_caching(false); }
};

double lr_at(int step) { return 1e-2 / (1 + step); }  // a schedule: lr changes every step

TEST_CASE(
    "graph step: replays draw and update exactly as eager steps, and host state ends where theirs does") {
  r2g2::test::emulated::FreshDevice fresh;
  CachingOn caching;
  const int64_t graphs_before = r2g2_emu::live_graphs();
  Model eager, graphed;
  {
    StepGraph graph;
    graph.follow(graphed.weights);
    graph.follow(graphed.other);
    const int64_t launches_before = r2g2_emu::launch_count();
    graph.capture([&] { graphed.step(lr_at(0), &graph); });
    CHECK(r2g2_emu::launch_count() == launches_before);  // captured, not run
    CHECK(graph.captured_adam());
    // The capture advanced nothing that the first replay must not find where it was.
    CHECK(graphed.weights.offset == 3);
    CHECK(graphed.other.offset == 1);
    graphed.t = 0;

    constexpr int kSteps = 5, kNonFinite = 2;
    for (int k = 0; k < kSteps; ++k) {
      CAPTURE(k);
      const bool finite = k != kNonFinite;
      graphed.loss = finite ? 1.0f : std::numeric_limits<float>::quiet_NaN();
      const std::vector<float> p_before = graphed.p, m_before = graphed.m;
      // Eager: a non-finite loss stops the step before the update (as BayesTrainer does).
      if (finite) {
        eager.step(lr_at(k), nullptr);
      } else {
        Model scratch = eager;  // draws as the step would, without the update
        scratch.step(lr_at(k), nullptr);
        eager.weights = scratch.weights;
        eager.other = scratch.other;
        eager.eps = scratch.eps;
        eager.noise = scratch.noise;
        eager.g = scratch.g;
      }
      graph.set_adam(lr_at(k), kBeta1, kBeta2, graphed.t + 1);
      graph.replay();
      if (finite) ++graphed.t;
      CHECK(identical(graphed.eps, eager.eps));
      CHECK(identical(graphed.noise, eager.noise));
      CHECK(identical(graphed.g, eager.g));
      CHECK(identical(graphed.p, eager.p));
      CHECK(identical(graphed.m, eager.m));
      CHECK(identical(graphed.v, eager.v));
      CHECK(graphed.weights.offset == eager.weights.offset);
      CHECK(graphed.other.offset == eager.other.offset);
      CHECK(graphed.t == eager.t);
      if (!finite) {
        CHECK(identical(graphed.p, p_before));  // the captured update skipped itself
        CHECK(identical(graphed.m, m_before));
      } else {
        CHECK(!identical(graphed.p, p_before));
      }
    }
    CHECK(eager.t == kSteps - 1);
    CHECK(eager.weights.offset == 3 + kSteps * kN);
    CHECK(r2g2_emu::live_graphs() > graphs_before);
  }
  CHECK(r2g2_emu::live_graphs() == graphs_before);
}

TEST_CASE("graph step: a host synchronisation in the step fails the capture with an error that says so") {
  r2g2::test::emulated::FreshDevice fresh;
  CachingOn caching;
  Model model;
  StepGraph graph;
  graph.follow(model.weights);
  graph.follow(model.other);
  float host = 0;
  CHECK_THROWS_WITH_AS(
      graph.capture([&] {
        model.step(1e-3, &graph);
        r2g2::kernels::runtime::copy_to_host(&host, model.p.data(), sizeof host);  // like item()
      }),
      doctest::Contains("cannot be captured as a CUDA graph: CUDA error: operation not permitted "
                        "when stream is capturing (in cudaStreamSynchronize"),
      r2g2::Error);
  CHECK(!graph.captured());
  CHECK(model.weights.offset == 3);  // put back, as after any capture
  CHECK_THROWS_WITH_AS(graph.replay(), doctest::Contains("before a successful capture"), r2g2::Error);
  CHECK(cudaGetLastError() == cudaSuccess);
}

TEST_CASE("graph step: a copy from host memory in the step is refused: replays would reread the buffer") {
  r2g2::test::emulated::FreshDevice fresh;
  CachingOn caching;
  Model model;
  StepGraph graph;
  graph.follow(model.weights);
  graph.follow(model.other);
  const std::vector<float> host(kN, 2.0f);
  CHECK_THROWS_WITH_AS(graph.capture([&] {
    r2g2::kernels::runtime::copy_to_device(model.x.data(), host.data(), kN * sizeof(float));
    model.step(1e-3, &graph);
  }),
                       doctest::Contains("bytes from host memory inside a step captured as a CUDA graph"),
                       r2g2::Error);
  CHECK(model.x[0] != 2.0f);  // nothing ran
}

TEST_CASE("graph step: a draw from a Generator the graph does not follow is refused") {
  r2g2::test::emulated::FreshDevice fresh;
  CachingOn caching;
  Model model;
  StepGraph graph;
  graph.follow(model.weights);  // not model.other
  CHECK_THROWS_WITH_AS(graph.capture([&] { model.step(1e-3, &graph); }),
                       doctest::Contains("seed 1592590338, which no followed Generator has"), r2g2::Error);
  Generator twin(model.weights.seed, 100);
  CHECK_THROWS_WITH_AS(graph.follow(twin), doctest::Contains("share seed"), r2g2::Error);
}

TEST_CASE("graph step: two Adam updates with different step counts cannot share one capture") {
  r2g2::test::emulated::FreshDevice fresh;
  CachingOn caching;
  Model model;
  StepGraph graph;
  graph.follow(model.weights);
  graph.follow(model.other);
  CHECK_THROWS_WITH_AS(graph.capture([&] {
    model.step(1e-3, &graph);
    model.step(1e-3, &graph);
  }),
                       doctest::Contains("a captured step holds one Adam step"), r2g2::Error);
}

TEST_CASE("graph step: the finite check and SGD refuse to run outside / inside a capture") {
  float loss = 1.0f, p = 0.0f, g = 1.0f;
  CHECK_THROWS_WITH_AS(gpu::mark_loss_finite(&loss, 1), doctest::Contains("only a captured step"),
                       r2g2::Error);
  r2g2::test::emulated::FreshDevice fresh;
  CachingOn caching;
  StepGraph graph;
  CHECK_THROWS_WITH_AS(
      graph.capture([&] { gpu::sgd_step(&p, &g, static_cast<float*>(nullptr), 1, 0.1f, 0.0f, 0.0f, true); }),
      doctest::Contains("SGD cannot be captured"), r2g2::Error);
}

}  // namespace
