// `r2g2 compare`: the main job. Trains the paper's Bayesian MLP once per estimator
// (same initialisation, same batches, same number of steps), evaluates each with the
// Monte-Carlo predictive, and prints one table. The gradient-variance table comes from
// `r2g2 variance` (tools/demo.sh runs both).
#include <chrono>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "r2g2/core/autograd.h"
#include "r2g2/core/data/batches.h"
#include "r2g2/core/data/datasets.h"
#include "r2g2/core/device.h"
#include "r2g2/models/bayes_mlp.h"
#include "tools/cli.h"

namespace {

using namespace r2g2;

struct Row {
  std::string estimator;
  int64_t steps = 0;
  double train_seconds = 0;
  double nll = 0;             // the two terms of the per-example negative ELBO, averaged over
  double kl_per_example = 0;  // the last logging window
  BayesEvalStats eval;
};

Row train_one(const std::string& schedule, const BayesMLPConfig& base, const data::Dataset& train,
              const data::Dataset& test, Device device, int64_t steps, int64_t batch, int samples,
              int64_t log_every) {
  BayesMLPConfig cfg = base;
  cfg.schedule = schedule;
  BayesMLP model(cfg);
  model.to(device);
  data::BatchLoader loader(train, {.batch_size = batch,
                                   .shuffle = true,
                                   .seed = cfg.seed,
                                   .drop_last = true,
                                   .flatten = true,
                                   .device = device});
  Row row;
  row.estimator = schedule;
  double window_nll = 0, window_kl = 0;
  int64_t in_window = 0;
  auto close_window = [&] {
    row.nll = window_nll / static_cast<double>(in_window);
    row.kl_per_example = window_kl / static_cast<double>(in_window);
    window_nll = window_kl = 0;
    in_window = 0;
  };
  auto start = std::chrono::steady_clock::now();
  for (uint64_t epoch = 0; row.steps < steps; ++epoch) {
    for (const data::Batch& b : loader.epoch(epoch)) {
      if (row.steps >= steps) break;
      BayesStepStats s = model.step(b.images, b.labels);
      try {
        require_finite_loss(s.loss, s.step);
      } catch (const Error& e) {
        throw Error("training with " + schedule + ": " + e.what());
      }
      ++row.steps;
      window_nll += s.nll;
      window_kl += s.kl / static_cast<double>(cfg.train_size);
      ++in_window;
      if (log_every > 0 && row.steps % log_every == 0) {
        close_window();
        std::printf("  %-10s step %6lld  NLL %.4f  KL/N %.3f  (%s)\n", schedule.c_str(), (long long)row.steps,
                    row.nll, row.kl_per_example, s.estimator.c_str());
        std::fflush(stdout);
      }
    }
  }
  row.train_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (in_window > 0) close_window();
  row.eval = model.evaluate(test, samples);
  return row;
}

struct ComparePlan {
  std::vector<std::string> estimators;
  std::string data_name, data_dir;
  std::vector<int64_t> hidden;
  double lr = 1e-3;
  uint64_t seed = 1;
  int64_t steps = 1500, batch = 80, train_size = 0, log_every = 250;
  int samples = 10;
  Device device = Device::cpu();
  bool detect_anomaly = false;
};

ComparePlan parse_compare(const std::vector<std::string>& words) {
  cli::Args args(words, {"estimators", "data", "data-dir", "steps", "batch", "lr", "hidden", "seed", "device",
                         "samples", "train-size", "log-every"},
                {"detect-anomaly"});
  R2G2_CHECK(args.positional().empty(), "compare takes no positional arguments, got '", args.positional()[0],
             "'");
  ComparePlan p;
  p.estimators = cli::split_list(args.get("estimators", "rt,lrt,r2g2"));
  R2G2_CHECK(!p.estimators.empty(), "--estimators is empty");
  for (const auto& e : p.estimators) EstimatorSchedule check(e);  // reject a bad name before reading data
  p.hidden = cli::parse_sizes(args.get("hidden", "1024,1024"), "hidden");
  p.lr = args.get_positive("lr", 1e-3);
  p.seed = static_cast<uint64_t>(args.get_int("seed", 1, 0, cli::kMaxSeed));
  p.steps = args.get_int("steps", 1500, 1, cli::kMaxSteps);
  p.batch = args.get_int("batch", 80, 1, cli::kMaxBatch);
  p.samples = static_cast<int>(args.get_int("samples", 10, 0, cli::kMaxSamples));
  p.train_size = args.get_int("train-size", 0, 1, cli::kMaxExamples);
  p.log_every = args.get_int("log-every", 250, 0, cli::kMaxSteps);
  p.data_name = args.get("data", "fashion-mnist");
  p.data_dir = args.get("data-dir", "");
  cli::check_data_name("option --data", p.data_name);
  if (args.has("data-dir")) cli::check_input_dir("data-dir", p.data_dir);
  p.device = parse_device(args.get("device", "auto"));
  p.detect_anomaly = args.flag("detect-anomaly");
  return p;
}

int run_compare(const std::vector<std::string>& words) {
  const ComparePlan plan = cli::checking_usage([&] { return parse_compare(words); });
  const Device device = plan.device;
  if (plan.detect_anomaly) set_detect_anomaly(true);
  auto train = data::load_dataset(plan.data_name, plan.data_dir, "train").flattened();
  auto test = data::load_dataset(plan.data_name, plan.data_dir, "test").flattened();
  const int64_t train_size = plan.train_size > 0 ? plan.train_size : train.size();
  if (train_size > train.size())
    throw cli::UsageError(detail::concat("--train-size must be in [1, ", train.size(), "], got ", train_size));
  if (plan.batch > train_size)
    throw cli::UsageError(detail::concat("--batch must be in [1, ", train_size, "], got ", plan.batch));
  if (train_size < train.size()) train = train.slice(0, train_size);

  BayesMLPConfig cfg;
  cfg.sizes = {train.example_numel()};
  for (int64_t h : plan.hidden) cfg.sizes.push_back(h);
  cfg.sizes.push_back(train.num_classes);
  cfg.train_size = train.size();
  cfg.adam.lr = plan.lr;
  cfg.seed = plan.seed;
  const int64_t steps = plan.steps, batch = plan.batch;
  const int samples = plan.samples;

  std::printf(
      "Bayesian MLP %s on %s (%lld training examples), batch %lld, %lld steps per estimator, Adam lr %g, "
      "device %s\n",
      shape_str(cfg.sizes).c_str(), train.name.c_str(), (long long)train.size(), (long long)batch,
      (long long)steps, cfg.adam.lr, device.str().c_str());
  std::vector<Row> rows;
  for (const auto& e : plan.estimators)
    rows.push_back(train_one(e, cfg, train, test, device, steps, batch, samples, plan.log_every));

  std::printf("\n%-12s %7s %9s %10s %9s %9s %10s %8s\n", "estimator", "steps", "steps/s", "train NLL", "KL/N",
              "test acc", "test LL", "ECE");
  for (const Row& r : rows)
    std::printf("%-12s %7lld %9.2f %10.4f %9.3f %8.2f%% %10.4f %8.4f\n", r.estimator.c_str(),
                (long long)r.steps, r.steps / r.train_seconds, r.nll, r.kl_per_example,
                100.0 * r.eval.accuracy, r.eval.test_ll, r.eval.ece);
  std::printf(
      "(train NLL, KL/N: the terms of the per-example negative ELBO over the last logging window;\n"
      " test: Monte-Carlo predictive over %d weight samples, %lld examples; ECE with 15 bins)\n",
      samples, (long long)test.size());
  return 0;
}

}  // namespace

R2G2_COMMAND(
    "compare", "train the Bayesian MLP with several estimators and compare them (the main job)",
    "usage: r2g2 compare [--estimators rt,lrt,r2g2] [--steps 1500] [--batch 80] [--lr 1e-3]\n"
    "                    [--hidden 1024,1024] [--data fashion-mnist] [--data-dir DIR] [--samples 10]\n"
    "                    [--train-size N] [--seed 1] [--device auto|cpu|cuda] [--log-every 250]\n"
    "                    [--detect-anomaly]\n\n"
    "Trains the Bayesian MLP (784-1024-1024-10, ReLU, mini-batch ELBO with the likelihood scaled by N/B)\n"
    "once per estimator from the same initialisation and batches, then prints test accuracy, test\n"
    "log-likelihood and expected calibration error of the Monte-Carlo predictive, and steps/s.\n"
    "An estimator may be a schedule such as r2g2:2000,rt.",
    run_compare);
