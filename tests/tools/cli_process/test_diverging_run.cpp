// A run whose loss becomes NaN stops with an error that names the step and points at
// --detect-anomaly (exit status 1: the invocation was valid, the run failed); with
// --detect-anomaly the error names the op that first produced a NaN or Inf.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "process_util.h"
#include "tools/experiment_test_util.h"

namespace {

using namespace r2g2::test;

// An absurd learning rate: Adam moves every weight by about 1e30 in the first step, and the
// forward pass of the second overflows.
std::vector<std::string> diverging_run(const TempDir& data) {
  return {"train", "--model", "mlp", "--hidden", "32", "--lr", "1e30", "--steps", "20", "--batch", "16",
          "--data-dir", data.path().string(), "--no-eval", "--device", "cpu", "--log-every", "1"};
}

TEST_CASE("a diverging run stops at the first non-finite loss and says to use --detect-anomaly") {
  TempDir data, work;
  write_tiny_fashion_mnist(data, 96, 20);
  const std::pair<int, std::string> run = run_r2g2(diverging_run(data), work.file("run.log"));
  // Named, not a structured binding: doctest's message macros capture them in a lambda.
  const int status = run.first;
  const std::string& output = run.second;
  CHECK_MESSAGE(status == 1, output);
  CHECK_MESSAGE(output.find("r2g2 train: error: training stopped at step ") != std::string::npos, output);
  CHECK_MESSAGE(output.find("--detect-anomaly") != std::string::npos, output);
}

TEST_CASE("a diverging run with --detect-anomaly names the op that produced the first NaN or Inf") {
  TempDir data, work;
  write_tiny_fashion_mnist(data, 96, 20);
  std::vector<std::string> args = diverging_run(data);
  args.push_back("--detect-anomaly");
  const std::pair<int, std::string> run = run_r2g2(args, work.file("run.log"));
  // Named, not a structured binding: doctest's message macros capture them in a lambda.
  const int status = run.first;
  const std::string& output = run.second;
  CHECK_MESSAGE(status == 1, output);
  CHECK_MESSAGE(output.find("r2g2 train: error: anomaly: ") != std::string::npos, output);
  CHECK_MESSAGE((output.find("forward of #") != std::string::npos ||
                 output.find("backward of #") != std::string::npos),
                output);
}

}  // namespace
