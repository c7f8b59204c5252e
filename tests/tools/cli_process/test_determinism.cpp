// The same seed gives bit-identical parameters (and optimizer state, noise streams and
// loader position: the whole checkpoint) after a few CPU training steps, across runs and
// for kernel thread pools of 1 and 2 threads (OpenBLAS, when the build uses it, gets the
// same count): no reduction may depend on how its work was split. For the MLP, the tiny
// VGG-11 and a VAE.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "process_util.h"
#include "tools/experiment.h"
#include "tools/experiment_test_util.h"

namespace {

using namespace r2g2;
using namespace r2g2::test;

// Trains `model_args` for a few steps with `threads` threads and returns the checkpoint's bytes.
std::string train_with_threads(const TempDir& data, const TempDir& work, const std::vector<std::string>& model_args,
                               int threads, const std::string& name) {
  const std::string ck = work.file(name + ".safetensors");
  std::vector<std::string> args{"train",   "--steps",          "3",  "--batch",          "32",
                                "--seed",  "7",                "--data-dir", data.path().string(),
                                "--train-examples", "96",      "--test-examples", "20",
                                "--no-eval", "--device",       "cpu",  "--save",           ck};
  args.insert(args.end(), model_args.begin(), model_args.end());
  const std::string n = std::to_string(threads);
  const std::pair<int, std::string> run =
      run_r2g2(args, work.file(name + ".log"), {{"R2G2_NUM_THREADS", n}, {"OPENBLAS_NUM_THREADS", n}});
  // Named, not a structured binding: doctest's message macros capture them in a lambda.
  const int status = run.first;
  const std::string& output = run.second;
  REQUIRE_MESSAGE(status == 0, output);
  return read_text(ck);
}

// The first parameter (by name) whose values differ between two checkpoints of one run.
std::string first_difference(const TempDir& data, const std::string& a, const std::string& b) {
  auto load = [&](const std::string& path) {
    cli::ExperimentOptions o = cli::Experiment::read_options(path);
    o.data_dir = data.path().string();
    auto run = cli::Experiment::create(o);
    run->load(path);
    return run;
  };
  auto ra = load(a), rb = load(b);
  auto pa = ra->module().named_parameters(), pb = rb->module().named_parameters();
  for (size_t i = 0; i < pa.size() && i < pb.size(); ++i)
    if (pa[i].second.to_vector() != pb[i].second.to_vector()) return pa[i].first;
  return "(no parameter: the optimizer state or the metadata)";
}

void check_deterministic(const std::vector<std::string>& model_args, const std::string& name) {
  TempDir data, work;
  write_tiny_fashion_mnist(data, 96, 20);
  const std::string one = train_with_threads(data, work, model_args, 1, name + "-1");
  const std::string two = train_with_threads(data, work, model_args, 2, name + "-2");
  const std::string again = train_with_threads(data, work, model_args, 2, name + "-2b");
  REQUIRE(one.size() > 1000);
  CHECK_MESSAGE(one == two, name, ": 1 and 2 threads differ, first in ",
                first_difference(data, work.file(name + "-1.safetensors"), work.file(name + "-2.safetensors")));
  CHECK_MESSAGE(two == again, name, ": two runs with 2 threads differ, first in ",
                first_difference(data, work.file(name + "-2.safetensors"), work.file(name + "-2b.safetensors")));
}

TEST_CASE("determinism: the Bayesian MLP trains to the same bits with 1 and 2 threads and across runs") {
  // 1024 wide: its matmuls are large enough to be split into blocks across the threads.
  check_deterministic({"--model", "mlp", "--hidden", "1024,64"}, "mlp");
}

TEST_CASE("determinism: the tiny VGG-11 trains to the same bits with 1 and 2 threads and across runs") {
  check_deterministic({"--model", "vgg11", "--width-divisor", "16"}, "vgg11");
}

TEST_CASE("determinism: the VAE trains to the same bits with 1 and 2 threads and across runs") {
  check_deterministic({"--model", "vae1"}, "vae1");
}

}  // namespace
