// `r2g2 variance --model ...`: trains one Experiment with one estimator and, at step 0 and
// every --every steps, draws --draws gradients per compared estimator at the current
// parameters on one fixed batch; per parameter tensor of the compared layers it records
// the per-coordinate variance over the draws averaged over coordinates, and the mean
// |gradient|. The noise of draw d at step s is seeded from (seed, s, d) alone, so every
// compared estimator sees the same seeds (common random numbers) and a rerun the same bits.
#include "tools/variance_training.h"

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <sstream>
#include <limits>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "r2g2/core/autograd.h"
#include "r2g2/core/device.h"
#include "r2g2/estimators/estimator.h"
#include "r2g2/estimators/moments.h"
#include "r2g2/kernels/runtime/error.h"
#include "r2g2/kernels/runtime/hash.h"
#include "tools/cli.h"
#include "tools/experiment.h"
#include "tools/run_log.h"

namespace r2g2::cli {
namespace {

struct Settings {
  ExperimentOptions experiment;
  std::vector<std::string> compared;
  int64_t every = 0, steps = 0, draws = 0, fixed_batch = 0;
  std::string csv;
  bool detect_anomaly = false;
};

// One measurement: a compared estimator's moments for one parameter tensor at one step.
struct Row {
  int64_t step = 0;
  std::string parameter, estimator;
  double mean_variance = 0, mean_abs_grad = 0;
};

std::string default_compared(const std::string& model) {
  if (model == "mlp") return "rt,lrt,r2g2";
  if (model == "vgg11") return "rt,r2g2";
  return "rt,r2g2,r2g2-paper";
}

Settings parse_settings(const std::vector<std::string>& words) {
  Args args(words, variance_training_options(), {"detect-anomaly"});
  R2G2_CHECK(args.positional().empty(), "r2g2 variance takes no positional arguments, got '",
             args.positional().front(), "'");
  Settings s;
  ExperimentOptions& o = s.experiment;
  o.model = args.get("model", "mlp");
  o.estimator = args.get("estimator", "r2g2");
  o.solver = args.get("solver", "");
  o.data = args.get("data", "");
  o.data_dir = args.get("data-dir", "");
  o.batch = args.get_int("batch", 80, 1, kMaxBatch);
  o.lr = args.get_double("lr", 0.0, 0.0, std::numeric_limits<double>::max());  // 0: the paper's
  o.seed = static_cast<uint64_t>(args.get_int("seed", 1, 0, kMaxSeed));
  o.hidden = parse_sizes(args.get("hidden", "1024,1024"), "hidden");
  o.width_divisor = static_cast<int>(args.get_int("width-divisor", 1, 1, 64));
  o.train_examples = args.get_int("train-examples", 0, 0, kMaxExamples);  // 0: all
  s.every = args.get_int("every", 100, 1, kMaxSteps);
  s.steps = args.get_int("steps", 1000, 0, kMaxSteps);
  s.draws = args.get_int("draws", 50, 2, kMaxSamples);
  s.fixed_batch = args.get_int("fixed-batch", o.batch, 1, kMaxBatch);
  s.csv = args.get("csv", "");
  s.compared = split_list(args.get("compare", default_compared(o.model)));
  R2G2_CHECK(!s.compared.empty(), "--compare needs at least one estimator");
  for (const auto& name : s.compared) make_estimator(name);  // an unknown name lists the known ones
  if (args.has("data-dir")) check_input_dir("data-dir", o.data_dir);
  if (!o.data.empty() && o.data != "fashion-mnist-32x3") check_data_name("option --data", o.data);
  if (args.has("csv")) check_output_path("csv", s.csv);
  experiment_detail::checked_options(o);  // model, estimator, solver and data names
  o.device = parse_device(args.get("device", "auto"));
  s.detect_anomaly = args.flag("detect-anomaly");
  return s;
}

uint64_t noise_seed(uint64_t seed, int64_t step, int64_t draw) {
  return splitmix64(splitmix64(splitmix64(seed) ^ static_cast<uint64_t>(step)) ^ static_cast<uint64_t>(draw));
}

// Rewritten whole after every measurement (atomically: a temporary file, fsync'ed and
// renamed), so an interrupted run leaves a complete file of the steps measured so far.
void write_csv(const std::string& path, const Settings& s, const std::vector<Row>& rows) {
  std::ostringstream f;
  f << "model,trained_with,step,parameter,estimator,mean_variance,mean_abs_grad,draws\n";
  char buf[64];
  for (const Row& r : rows) {
    f << csv_field(s.experiment.model) << ',' << csv_field(s.experiment.estimator) << ',' << r.step << ','
      << csv_field(r.parameter) << ',' << csv_field(r.estimator) << ',';
    std::snprintf(buf, sizeof buf, "%.9e,%.9e,", r.mean_variance, r.mean_abs_grad);
    f << buf << s.draws << '\n';
  }
  write_file_atomically(path, f.str());
}

// The rows of one step: per parameter, the mean variance of each compared estimator and
// its ratio to rt's when rt is compared.
void print_step(const Settings& s, const std::vector<Row>& rows, size_t first, double seconds) {
  std::map<std::string, std::map<std::string, double>> by_parameter;
  std::vector<std::string> parameters;
  for (size_t i = first; i < rows.size(); ++i) {
    if (!by_parameter.count(rows[i].parameter)) parameters.push_back(rows[i].parameter);
    by_parameter[rows[i].parameter][rows[i].estimator] = rows[i].mean_variance;
  }
  bool has_rt = false;
  for (const auto& e : s.compared) has_rt = has_rt || e == "rt";
  for (const auto& p : parameters) {
    std::printf("%-8lld %-28s", (long long)rows[first].step, p.c_str());
    for (const auto& e : s.compared) std::printf(" %12.4e", by_parameter[p][e]);
    if (has_rt)
      for (const auto& e : s.compared)
        if (e != "rt") {
          const double rt = by_parameter[p]["rt"];
          std::printf(" %10.4g", rt > 0 ? by_parameter[p][e] / rt : 0.0);
        }
    std::printf("\n");
  }
  std::printf("         (%.1f s for %lld draws x %zu estimators)\n", seconds, (long long)s.draws,
              s.compared.size());
  std::fflush(stdout);
}

void print_header(const Settings& s, const Experiment& run) {
  std::printf("%s\n", run.describe().c_str());
  std::printf(
      "gradient variance over training: trained with %s for %lld steps; every %lld steps, %lld draws per "
      "estimator on one fixed batch of %lld; variance per coordinate over draws, averaged over coordinates\n\n",
      s.experiment.estimator.c_str(), (long long)s.steps, (long long)s.every, (long long)s.draws,
      (long long)s.fixed_batch);
  std::printf("%-8s %-28s", "step", "parameter");
  for (const auto& e : s.compared) std::printf(" %12s", ("var " + e).c_str());
  bool has_rt = false;
  for (const auto& e : s.compared) has_rt = has_rt || e == "rt";
  if (has_rt)
    for (const auto& e : s.compared)
      if (e != "rt") std::printf(" %10s", (e + "/rt").c_str());
  std::printf("\n");
}

}  // namespace

const std::vector<std::string>& variance_training_options() {
  static const std::vector<std::string> options{
      "model", "estimator", "compare", "every", "steps",  "draws", "fixed-batch", "csv",  "solver",
      "data",  "data-dir",  "batch",   "lr",    "seed",   "device", "hidden",     "width-divisor",
      "train-examples"};
  return options;
}

int run_variance_over_training(const std::vector<std::string>& words) {
  // Every option, including whether --csv can be written, is checked before any data is read.
  const Settings s = checking_usage([&] { return parse_settings(words); });
  if (s.detect_anomaly) set_detect_anomaly(true);
  std::unique_ptr<Experiment> run = Experiment::create(s.experiment);
  run->set_fixed_batch(s.fixed_batch, s.experiment.seed);
  print_header(s, *run);
  std::vector<Row> rows;
  // Step 0 is measured first, so a compared estimator the model does not support fails
  // before any training time is spent.
  for (int64_t step = 0;; ++step) {
    if (step % s.every == 0 || step == s.steps) {
      const auto t0 = std::chrono::steady_clock::now();
      const size_t first = rows.size();
      for (const auto& estimator : s.compared) {
        std::vector<Moments> moments;
        std::vector<std::string> names;
        for (int64_t d = 0; d < s.draws; ++d) {
          LayerGradients grads = run->gradient_draw(estimator, noise_seed(s.experiment.seed, step, d));
          if (moments.empty()) {
            moments.resize(grads.size());
            for (const auto& g : grads) names.push_back(g.first);
          }
          R2G2_CHECK(grads.size() == moments.size(), "gradient_draw returned ", grads.size(),
                     " parameter tensors, then ", moments.size());
          for (size_t p = 0; p < grads.size(); ++p) moments[p].add(grads[p].second);
        }
        for (size_t p = 0; p < moments.size(); ++p)
          rows.push_back({step, names[p], estimator, moments[p].mean_var(), moments[p].mean_abs()});
      }
      const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      print_step(s, rows, first, seconds);
      if (!s.csv.empty()) write_csv(s.csv, s, rows);
    }
    if (step == s.steps) break;
    run->step();
  }
  if (!s.csv.empty()) std::printf("wrote %s (%zu rows)\n", s.csv.c_str(), rows.size());
  return 0;
}

const char* const kVarianceTrainingUsage =
    "       r2g2 variance --model mlp|vgg11|vae1|vae2|vae3 [--estimator r2g2] [--compare LIST]\n"
    "                     [--every 100] [--steps 1000] [--draws 50] [--fixed-batch BATCH] [--csv PATH]\n"
    "                     [--data NAME] [--data-dir DIR] [--batch 80] [--lr 0] [--seed 1] [--device auto]\n"
    "                     [--hidden 1024,1024] [--width-divisor 1] [--train-examples 0] [--solver cheapest|cg|exact]\n"
    "                     [--detect-anomaly]\n\n"
    "With --model: gradient variance over training (the paper's variance figures). Trains the model\n"
    "with --estimator for --steps steps; at step 0, every --every steps and at the end, draws --draws\n"
    "gradients per --compare estimator at the current parameters on one fixed batch of --fixed-batch\n"
    "training examples, without moving the training run, and prints per parameter tensor of the\n"
    "compared layers (mlp: bottom and top layer; vgg11: 5th and 8th conv; VAEs: the v1 -> decoder\n"
    "layer) the per-coordinate variance averaged over coordinates and its ratio to rt.\n"
    "--compare defaults: mlp rt,lrt,r2g2; vgg11 rt,r2g2; VAEs rt,r2g2,r2g2-paper.\n"
    "--csv PATH: model,trained_with,step,parameter,estimator,mean_variance,mean_abs_grad,draws\n"
    "(mean_abs_grad: |mean gradient over the draws| averaged over coordinates); rewritten after each\n"
    "measured step; `python3 tools/plot.py variance PATH --out DIR` draws it.";

}  // namespace r2g2::cli
