// The emulator's stream capture and graphs (tests/emulator/cuda_graph.cpp): launches,
// async copies and memsets are recorded and replayed in order with the arguments they
// were captured with, and the calls CUDA forbids during a capture fail it.
#include "emulator/cuda_emulator.h"

#include <vector>

#include "kernels/cuda/emulated_test_util.h"
#include "r2g2/kernels/cuda/launch.cuh"

namespace {

__global__ void scale_add_kernel(float* x, int n, float scale, const float* add) {
  for (int i = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x); i < n; i += gridDim.x * blockDim.x)
    x[i] = x[i] * scale + add[i];
}

struct Stream {
  cudaStream_t s = nullptr;
  Stream() { REQUIRE(cudaStreamCreateWithFlags(&s, cudaStreamDefault) == cudaSuccess); }
  ~Stream() { cudaStreamDestroy(s); }
};

// Captures `work` on a fresh stream; returns what cudaStreamEndCapture returned.
template <class Work>
cudaError_t capture(cudaStream_t stream, cudaGraph_t* graph, Work work) {
  REQUIRE(cudaStreamBeginCapture(stream, cudaStreamCaptureModeGlobal) == cudaSuccess);
  work();
  return cudaStreamEndCapture(stream, graph);
}

TEST_CASE("graph capture: launches, copies and memsets are recorded, then replayed in order") {
  r2g2::test::emulated::FreshDevice fresh;
  Stream stream;
  const int64_t graphs_before = r2g2_emu::live_graphs();
  std::vector<float> x(40, 1.0f), add(40, 0.5f), staged(40, 2.0f);
  float scale = 3.0f;
  const int64_t launches_before = r2g2_emu::launch_count();
  cudaGraph_t graph = nullptr;
  REQUIRE(capture(stream.s, &graph, [&] {
            cudaStreamCaptureStatus status{};
            REQUIRE(cudaStreamIsCapturing(stream.s, &status) == cudaSuccess);
            CHECK(status == cudaStreamCaptureStatusActive);
            REQUIRE(cudaMemcpyAsync(x.data(), staged.data(), 40 * sizeof(float), cudaMemcpyHostToDevice,
                                    stream.s) == cudaSuccess);
            R2G2_LAUNCH(scale_add_kernel, 1, 32, x.data(), 40, scale, add.data());  // x = 2 * 3 + 0.5
            REQUIRE(cudaMemsetAsync(x.data(), 0, 4 * sizeof(float), stream.s) == cudaSuccess);
          }) == cudaSuccess);
  REQUIRE(graph != nullptr);
  // Nothing ran: the launch and the copies only became nodes.
  CHECK(r2g2_emu::launch_count() == launches_before);
  CHECK(x[10] == 1.0f);
  cudaStreamCaptureStatus status{};
  REQUIRE(cudaStreamIsCapturing(stream.s, &status) == cudaSuccess);
  CHECK(status == cudaStreamCaptureStatusNone);

  cudaGraphExec_t exec = nullptr;
  REQUIRE(cudaGraphInstantiate(&exec, graph, 0) == cudaSuccess);
  REQUIRE(cudaGraphDestroy(graph) == cudaSuccess);  // the executable keeps its own nodes
  scale = 100.0f;                                   // a value argument was frozen at capture...
  staged[5] = 4.0f;                                 // ... but memory is read when the replay runs
  REQUIRE(cudaGraphLaunch(exec, stream.s) == cudaSuccess);
  CHECK(r2g2_emu::launch_count() == launches_before + 1);
  CHECK(x[0] == 0.0f);
  CHECK(x[3] == 0.0f);
  CHECK(x[4] == 6.5f);
  CHECK(x[5] == 12.5f);
  // Replayed again: the copy comes first, so the result does not compound.
  REQUIRE(cudaGraphLaunch(exec, stream.s) == cudaSuccess);
  CHECK(x[4] == 6.5f);
  REQUIRE(cudaGraphExecDestroy(exec) == cudaSuccess);
  CHECK(r2g2_emu::live_graphs() == graphs_before);
}

TEST_CASE("graph capture: a synchronisation, a synchronous copy, cudaMalloc or cudaFree fails the capture") {
  r2g2::test::emulated::FreshDevice fresh;
  Stream stream;
  std::vector<float> x(8, 1.0f);
  float host = 0;
  struct Forbidden {
    const char* call;
    cudaError_t expected;
    std::function<cudaError_t()> run;
  };
  void* block = nullptr;
  REQUIRE(cudaMalloc(&block, 64) == cudaSuccess);
  const std::vector<Forbidden> forbidden = {
      {"cudaStreamSynchronize", cudaErrorStreamCaptureUnsupported,
       [&] { return cudaStreamSynchronize(stream.s); }},
      {"cudaDeviceSynchronize", cudaErrorStreamCaptureUnsupported, [] { return cudaDeviceSynchronize(); }},
      {"cudaMemcpy", cudaErrorStreamCaptureImplicit,
       [&] { return cudaMemcpy(&host, x.data(), sizeof host, cudaMemcpyDeviceToHost); }},
      {"cudaMemset", cudaErrorStreamCaptureImplicit, [&] { return cudaMemset(x.data(), 0, 4); }},
      {"cudaMalloc", cudaErrorStreamCaptureUnsupported,
       [] {
         void* p = nullptr;
         return cudaMalloc(&p, 16);
       }},
      {"cudaFree", cudaErrorStreamCaptureUnsupported, [&] { return cudaFree(block); }},
      {"a copy on the legacy stream", cudaErrorStreamCaptureImplicit,
       [&] { return cudaMemcpyAsync(x.data(), &host, sizeof host, cudaMemcpyHostToDevice, nullptr); }},
  };
  for (const Forbidden& f : forbidden) {
    CAPTURE(f.call);
    cudaGraph_t graph = reinterpret_cast<cudaGraph_t>(&host);  // must be overwritten with null
    const cudaError_t ended = capture(stream.s, &graph, [&] {
      R2G2_LAUNCH(scale_add_kernel, 1, 32, x.data(), 8, 2.0f, x.data());
      CHECK(f.run() == f.expected);
      cudaStreamCaptureStatus status{};
      REQUIRE(cudaStreamIsCapturing(stream.s, &status) == cudaSuccess);
      CHECK(status == cudaStreamCaptureStatusInvalidated);
    });
    CHECK(ended == cudaErrorStreamCaptureInvalidated);
    CHECK(graph == nullptr);
    CHECK(cudaGetLastError() == f.expected);  // the refused call set it; nothing else stays behind
    CHECK(cudaGetLastError() == cudaSuccess);
    CHECK(x[0] == 1.0f);  // the captured launch never ran
  }
  CHECK(cudaFree(block) == cudaSuccess);  // outside a capture it works again
}

TEST_CASE("graph capture: the legacy stream cannot capture, and captures do not nest") {
  Stream stream;
  CHECK(cudaStreamBeginCapture(nullptr, cudaStreamCaptureModeGlobal) == cudaErrorStreamCaptureUnsupported);
  REQUIRE(cudaStreamBeginCapture(stream.s, cudaStreamCaptureModeGlobal) == cudaSuccess);
  CHECK(cudaStreamBeginCapture(stream.s, cudaStreamCaptureModeGlobal) == cudaErrorIllegalState);
  cudaGraph_t graph = nullptr;
  CHECK(cudaStreamEndCapture(nullptr, &graph) == cudaErrorIllegalState);  // not the capturing stream
  REQUIRE(cudaStreamEndCapture(stream.s, &graph) == cudaSuccess);
  REQUIRE(graph != nullptr);
  cudaGraph_t none = nullptr;
  CHECK(cudaStreamEndCapture(stream.s, &none) == cudaErrorIllegalState);  // nothing to end
  cudaGraphExec_t exec = nullptr;
  REQUIRE(cudaGraphInstantiate(&exec, graph, 0) == cudaSuccess);
  CHECK(cudaGraphLaunch(exec, stream.s) == cudaSuccess);  // an empty graph runs nothing
  CHECK(cudaGraphExecDestroy(exec) == cudaSuccess);
  CHECK(cudaGraphDestroy(graph) == cudaSuccess);
}

}  // namespace
