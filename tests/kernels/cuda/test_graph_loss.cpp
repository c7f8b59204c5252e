// kernels/cuda/graph_loss.cu under the emulator: the cross entropy a captured step holds
// equals kernels/cuda/softmax.cu's to the bit, reports a bad label on the device, and
// replays from a graph.
#include "emulator/cuda_emulator.h"
#include "r2g2/kernels/cuda/graph_loss.cu"

#include <cmath>
#include <cstring>
#include <vector>

#include "kernels/cuda/emulated_test_util.h"
#include "r2g2/core/cuda/allocator_impl.h"
#include "r2g2/kernels/cases/softmax.h"
#include "r2g2/kernels/cuda/softmax.h"
#include "r2g2/kernels/cuda/stream.h"

namespace {

namespace gpu = r2g2::kernels::cuda;
namespace cases = r2g2::kernels::cases;
using namespace r2g2::test::emulated;

std::vector<int32_t> some_labels(int64_t rows, int64_t cols) {
  std::vector<int32_t> labels(static_cast<size_t>(rows));
  for (int64_t r = 0; r < rows; ++r)
    labels[static_cast<size_t>(r)] = static_cast<int32_t>((r * 7 + 3) % cols);
  return labels;
}

template <class T>
bool same_bits(T a, T b) {
  return std::memcmp(&a, &b, sizeof(T)) == 0;
}

TEST_CASE_TEMPLATE("graph loss: cross_entropy_on_device is softmax's cross_entropy, bit for bit", T, float,
                   double) {
  for (const auto& shape : cases::test_cross_entropy_shapes()) {
    const int64_t rows = shape.first, cols = shape.second;
    if (rows == 0 || cols == 0) continue;
    CAPTURE(rows);
    CAPTURE(cols);
    const auto n = static_cast<size_t>(rows * cols);
    const auto x = values<T>(n, 60 + cols, -4, 4);
    const auto labels = some_labels(rows, cols);
    std::vector<T> lp(n), lp_ref(n);
    T loss = 0;
    int32_t bad = 7;
    gpu::cross_entropy_on_device(x.data(), labels.data(), lp.data(), &loss, &bad, rows, cols);
    const T want = gpu::cross_entropy(x.data(), labels.data(), lp_ref.data(), rows, cols);
    CHECK(same_bits(loss, want));
    CHECK(bad == -1);
    CHECK(std::memcmp(lp.data(), lp_ref.data(), n * sizeof(T)) == 0);
  }
}

TEST_CASE("graph loss: a bad label leaves a NaN loss and the first bad row on the device") {
  const int64_t rows = 40, cols = 7;
  const auto x = values<float>(rows * cols, 61);
  auto labels = some_labels(rows, cols);
  labels[33] = 7;
  labels[17] = -1;
  labels[21] = 100;
  std::vector<float> lp(rows * cols);
  float loss = 0;
  int32_t bad = -1;
  const auto [first, second] = in_both_thread_orders([&] {
    gpu::cross_entropy_on_device(x.data(), labels.data(), lp.data(), &loss, &bad, rows, cols);
    return std::make_pair(std::isnan(loss), bad);
  });
  CHECK(first == std::make_pair(true, 17));
  CHECK(second == std::make_pair(true, 17));
}

TEST_CASE("graph loss: captured, it reads the logits and labels of each replay") {
  r2g2::test::emulated::FreshDevice fresh;
  const int64_t rows = 9, cols = 5;
  auto x = values<double>(rows * cols, 62);
  auto labels = some_labels(rows, cols);
  std::vector<double> lp(rows * cols), lp_ref(rows * cols);
  double loss = 0;
  int32_t bad = 0;
  // The scratch the loss uses must come from the cache during the capture: caching on, and
  // one eager call first.
  r2g2::cuda_backend::detail::allocator().set_caching(true);
  struct CachingOff {
    ~CachingOff() { r2g2::cuda_backend::detail::allocator().set_caching(false); }
  } restore;
  gpu::cross_entropy_on_device(x.data(), labels.data(), lp.data(), &loss, &bad, rows, cols);
  cudaStream_t stream = gpu::current_stream();
  REQUIRE(cudaStreamBeginCapture(stream, cudaStreamCaptureModeGlobal) == cudaSuccess);
  gpu::cross_entropy_on_device(x.data(), labels.data(), lp.data(), &loss, &bad, rows, cols);
  cudaGraph_t graph = nullptr;
  REQUIRE(cudaStreamEndCapture(stream, &graph) == cudaSuccess);
  cudaGraphExec_t exec = nullptr;
  REQUIRE(cudaGraphInstantiate(&exec, graph, 0) == cudaSuccess);
  for (int replay = 0; replay < 3; ++replay) {
    CAPTURE(replay);
    for (auto& v : x) v = v * 0.5 + 0.25;
    labels[static_cast<size_t>(replay)] = (labels[static_cast<size_t>(replay)] + 1) % cols;
    REQUIRE(cudaGraphLaunch(exec, stream) == cudaSuccess);
    CHECK(same_bits(loss, gpu::cross_entropy(x.data(), labels.data(), lp_ref.data(), rows, cols)));
    CHECK(bad == -1);
  }
  CHECK(cudaGraphExecDestroy(exec) == cudaSuccess);
  CHECK(cudaGraphDestroy(graph) == cudaSuccess);
}

}  // namespace
