// The op profiler: what a forward/backward records (op, backward and kernel rows with
// exact call counts), that nothing is recorded while it is off, reset, the order and
// shares of the report, the printed table, and counting from several threads at once.
#include <doctest/doctest.h>

#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "r2g2/core/ops.h"
#include "r2g2/core/profiler.h"

using namespace r2g2;

namespace {

// Profiling on, from empty counters, for one test; off and empty again afterwards.
struct ProfilingOn {
  ProfilingOn() {
    profiler::reset();
    profiler::enable(true);
  }
  ~ProfilingOn() {
    profiler::enable(false);
    profiler::reset();
  }
};

std::optional<profiler::Row> find_row(const std::vector<profiler::Row>& rows, profiler::Kind kind,
                                      const std::string& name) {
  for (const auto& row : rows)
    if (row.kind == kind && row.name == name) return row;
  return std::nullopt;
}

uint64_t calls_of(const std::vector<profiler::Row>& rows, profiler::Kind kind, const std::string& name) {
  auto row = find_row(rows, kind, name);
  return row ? row->calls : 0;
}

Tensor leaf(std::vector<float> values, Shape shape) {
  return Tensor::from_vector(values, shape).requires_grad_();
}

}  // namespace

TEST_CASE("profiler: a forward and backward record their ops, backward closures and kernels") {
  Tensor x = leaf({1, -2, 3, -4, 5, -6}, {2, 3});
  ProfilingOn on;
  Tensor y = relu(x);
  auto rows = profiler::report();
  CHECK(calls_of(rows, profiler::Kind::op, "relu") == 1);
  CHECK(calls_of(rows, profiler::Kind::kernel, "unary<T>") == 1);
  CHECK(calls_of(rows, profiler::Kind::backward, "relu") == 0);

  backward(y, Tensor::ones({2, 3}));
  rows = profiler::report();
  CHECK(calls_of(rows, profiler::Kind::backward, "relu") == 1);
  CHECK(calls_of(rows, profiler::Kind::kernel, "unary_backward<T>") == 1);
  CHECK(calls_of(rows, profiler::Kind::op, "relu") == 1);  // backward reruns no forward op

  // Two more rounds count twice more.
  for (int round = 0; round < 2; ++round) backward(relu(x), Tensor::ones({2, 3}));
  rows = profiler::report();
  CHECK(calls_of(rows, profiler::Kind::op, "relu") == 3);
  CHECK(calls_of(rows, profiler::Kind::kernel, "unary<T>") == 3);
  CHECK(calls_of(rows, profiler::Kind::backward, "relu") == 3);
  CHECK(calls_of(rows, profiler::Kind::kernel, "unary_backward<T>") == 3);
}

TEST_CASE("profiler: a matmul chain names each node kind, and backward rows contain their kernels") {
  Tensor x = leaf({1, 2, 3, 4, 5, 6}, {2, 3});
  Tensor w = leaf({0.5f, -1, 2, 0.25f, -0.5f, 1}, {3, 2});
  ProfilingOn on;
  backward(sum(relu(matmul(x, w))));
  const auto rows = profiler::report();
  for (const char* node : {"matmul", "relu", "sum"}) {
    CAPTURE(node);
    CHECK(calls_of(rows, profiler::Kind::op, node) >= 1);
    CHECK(calls_of(rows, profiler::Kind::backward, node) == 1);
  }
  CHECK(calls_of(rows, profiler::Kind::kernel, "gemm<T>") >= 1);
  // Every row's time is a part of the wall time; the largest total comes first.
  for (size_t i = 0; i < rows.size(); ++i) {
    CAPTURE(rows[i].name);
    CHECK(rows[i].calls > 0);
    CHECK(rows[i].total_seconds >= 0);
    CHECK(rows[i].share >= 0);
    CHECK(rows[i].share <= 1.0);
    if (i > 0) CHECK(rows[i - 1].total_seconds >= rows[i].total_seconds);
  }
  // The relu backward row includes the unary_backward kernel it ran.
  auto relu_backward = find_row(rows, profiler::Kind::backward, "relu");
  auto relu_kernel = find_row(rows, profiler::Kind::kernel, "unary_backward<T>");
  REQUIRE(relu_backward);
  REQUIRE(relu_kernel);
  CHECK(relu_backward->total_seconds >= relu_kernel->total_seconds);
}

TEST_CASE("profiler: off records nothing, and reset empties the table") {
  profiler::enable(false);
  profiler::reset();
  Tensor x = leaf({1, -2, 3}, {3});
  backward(sum(relu(x)));
  CHECK(profiler::report().empty());

  {
    ProfilingOn on;
    backward(sum(relu(x)));
    CHECK_FALSE(profiler::report().empty());
    profiler::reset();
    CHECK(profiler::report().empty());
  }
  CHECK_FALSE(profiler::enabled());
}

TEST_CASE("profiler: the printed table names its columns and lists the rows") {
  ProfilingOn on;
  Tensor x = leaf({1, -2, 3}, {3});
  backward(sum(relu(x)));
  std::ostringstream out;
  profiler::print(out);
  const std::string text = out.str();
  CHECK(text.find("r2g2 profile:") != std::string::npos);
  CHECK(text.find("kind") != std::string::npos);
  CHECK(text.find("total ms") != std::string::npos);
  CHECK(text.find("share") != std::string::npos);
  CHECK(text.find("unary_backward<T>") != std::string::npos);
}

TEST_CASE("profiler: kernels called from several threads are all counted") {
  ProfilingOn on;
  constexpr int threads = 4, calls_per_thread = 50;
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t)
    workers.emplace_back([] {
      Tensor x = Tensor::from_vector(std::vector<float>{1, -2, 3}, {3});
      for (int i = 0; i < calls_per_thread; ++i) relu(x);
    });
  for (auto& worker : workers) worker.join();
  const auto rows = profiler::report();
  CHECK(calls_of(rows, profiler::Kind::kernel, "unary<T>") == threads * calls_per_thread);
  CHECK(calls_of(rows, profiler::Kind::op, "relu") == threads * calls_per_thread);
}

TEST_CASE("profiler: a draw has its own op row, so the view after it shows no kernel time") {
  ProfilingOn on;
  Tensor eps = Tensor::randn({64, 32}, 7, 0);
  Tensor view = eps.t();
  auto rows = profiler::report();
  auto draw = find_row(rows, profiler::Kind::op, "randn");
  auto kernel = find_row(rows, profiler::Kind::kernel, "philox_normal<T>");
  auto transpose = find_row(rows, profiler::Kind::op, "transpose");
  REQUIRE(draw);
  REQUIRE(kernel);
  REQUIRE(transpose);
  CHECK(draw->calls == 1);
  CHECK(draw->total_seconds == kernel->total_seconds);
  CHECK(transpose->total_seconds == 0.0);
}
