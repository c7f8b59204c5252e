// `r2g2 train --save-every 1`, killed with SIGKILL at 20 moments (a fixed pseudo-random
// sequence of fractions of up to three steps after training starts, a step being measured
// in the first round; every third one just after a checkpoint's temporary file appears,
// so that several kills land in the middle of a write): after each kill the checkpoint on
// disk is whole and loads, the next round resumes from it, and the last round runs to the end.
#include <doctest/doctest.h>

#include <chrono>
#include <filesystem>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "process_util.h"
#include "tools/experiment.h"
#include "tools/experiment_test_util.h"

namespace {

using namespace r2g2;
using namespace r2g2::test;
namespace fs = std::filesystem;

// Loads the checkpoint as `eval` and `train --resume` do; its step count.
int64_t load_steps(const std::string& path, const std::string& data_dir) {
  cli::ExperimentOptions o = cli::Experiment::read_options(path);
  o.data_dir = data_dir;
  o.device = Device::cpu();
  auto run = cli::Experiment::create(o);
  run->load(path);
  return run->steps_taken();
}

// The temporary files of interrupted writes next to `path` ("<path>.tmp.<pid>"), removed.
int remove_partial_writes(const TempDir& dir, const std::string& name) {
  int found = 0;
  for (const auto& entry : fs::directory_iterator(dir.path())) {
    const std::string file = entry.path().filename().string();
    if (file.rfind(name + ".tmp", 0) == 0) {
      ++found;
      fs::remove(entry.path());
    }
  }
  return found;
}

TEST_CASE("train --save-every 1 killed with SIGKILL 20 times: the checkpoint always loads and resumes") {
  TempDir data, work;
  write_tiny_fashion_mnist(data, 480, 20);
  const std::string ck = work.file("ck.safetensors");
  const std::string data_dir = data.path().string();
  // A model whose checkpoint (about 16 MB with Adam's moments) takes a while to write.
  const std::vector<std::string> run_args{"train",   "--model",          "mlp",   "--hidden", "512,512",
                                          "--batch", "16",               "--lr",  "1e-3",     "--data-dir",
                                          data_dir,  "--train-examples", "480",   "--save",   ck,
                                          "--save-every", "1",           "--no-eval", "--device", "cpu"};
  std::mt19937_64 moments(20260401);  // fixed: the same kill moments on every run
  std::uniform_real_distribution<double> fraction(0.0, 1.0);
  int64_t step_us = 0;
  int64_t steps_on_disk = 0;
  int mid_write_kills = 0, rounds_with_checkpoint = 0;
  for (int round = 0; round < 20; ++round) {
    std::vector<std::string> args = run_args;
    const bool resume = fs::exists(ck);
    if (resume) args.insert(args.end(), {"--resume", ck});
    args.insert(args.end(), {"--steps", "1000000"});  // never reached: every round is killed
    const Child child = spawn(args, work.file("round.log"));
    // The moments count from the start of training, so that a slow start (a loaded
    // machine) does not turn every round into a kill before the first step.
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    auto still_running = [&] {
      int status = 0;
      REQUIRE_MESSAGE(::waitpid(child.pid, &status, WNOHANG) == 0, "round ", round,
                      ": r2g2 stopped before it was killed: ", read_text(child.log));
      REQUIRE_MESSAGE(std::chrono::steady_clock::now() < give_up, "round ", round, ": r2g2 made no progress");
      std::this_thread::sleep_for(std::chrono::microseconds(200));
      return true;
    };
    while (read_text(child.log).find("\nsteps ") == std::string::npos && still_running())
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    if (round == 0) {
      // One step and its checkpoint, after the first (which warms up): the time unit of the
      // kill moments.
      while (!fs::exists(ck) && still_running()) {
      }
      const auto first_write = fs::last_write_time(ck);
      const auto started = std::chrono::steady_clock::now();
      while (fs::last_write_time(ck) == first_write && still_running()) {
      }
      step_us = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - started)
                    .count();
    }
    const auto wait = static_cast<int64_t>(fraction(moments) * 3.0 * static_cast<double>(step_us));
    if (round % 3 == 2) {
      // Kill the moment a checkpoint write has begun.
      const std::string tmp = ck + ".tmp." + std::to_string(child.pid);
      while (!fs::exists(tmp) && still_running()) {
      }
      std::this_thread::sleep_for(std::chrono::microseconds(wait / 400));  // somewhere inside the write
    } else {
      std::this_thread::sleep_for(std::chrono::microseconds(wait));  // up to three steps in
    }
    ::kill(child.pid, SIGKILL);
    const int status = wait_for(child);
    REQUIRE_MESSAGE(status == 128 + SIGKILL, "round ", round, ": r2g2 ended with status ", status,
                    ", not by the kill: ", read_text(child.log));
    mid_write_kills += remove_partial_writes(work, "ck.safetensors") > 0 ? 1 : 0;
    if (!fs::exists(ck)) {
      CHECK_MESSAGE(!resume, "round ", round, ": the checkpoint disappeared");
      continue;
    }
    ++rounds_with_checkpoint;
    int64_t steps = -1;
    REQUIRE_NOTHROW(steps = load_steps(ck, data_dir));
    CHECK(steps >= steps_on_disk);  // a resumed round never goes back
    steps_on_disk = steps;
  }
  MESSAGE("kills during a checkpoint write: ", mid_write_kills, " of 20; steps on disk: ", steps_on_disk,
          "; a step with its checkpoint: ", step_us / 1000, " ms");
  CHECK(mid_write_kills >= 5);
  CHECK(rounds_with_checkpoint >= 15);
  REQUIRE(steps_on_disk > 0);

  // The last round resumes and finishes.
  std::vector<std::string> args = run_args;
  args.insert(args.end(), {"--resume", ck, "--steps", std::to_string(steps_on_disk + 2)});
  const std::pair<int, std::string> run = run_r2g2(args, work.file("last.log"));
  // Named, not a structured binding: doctest's message macros capture them in a lambda.
  const int status = run.first;
  const std::string& output = run.second;
  REQUIRE_MESSAGE(status == 0, output);
  CHECK(output.find("resumed " + ck + " at step " + std::to_string(steps_on_disk)) != std::string::npos);
  CHECK(load_steps(ck, data_dir) == steps_on_disk + 2);
  CHECK(remove_partial_writes(work, "ck.safetensors") == 0);
}

}  // namespace
