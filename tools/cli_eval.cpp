// `r2g2 eval CHECKPOINT`: rebuilds the run a checkpoint of `r2g2 train` was written by,
// loads it and scores it.
#include <cstdio>
#include <string>
#include <vector>

#include "r2g2/core/device.h"
#include "tools/cli.h"
#include "tools/experiment.h"
#include "tools/run_log.h"

namespace {

using namespace r2g2;
using namespace r2g2::cli;

struct EvalPlan {
  std::string path, log_json;
  EvalOptions eval;
  ExperimentOptions experiment;
};

EvalPlan parse_eval(const std::vector<std::string>& words) {
  Args args(words, {"split", "examples", "samples", "iwae-samples", "iwae-chunk", "data-dir", "device",
                    "log-json", "seed"});
  R2G2_CHECK(args.positional().size() == 1,
             "eval takes one CHECKPOINT (a file written by r2g2 train --save), got ",
             args.positional().size(), " words");
  EvalPlan p;
  p.path = args.positional()[0];
  EvalOptions& e = p.eval;
  e.split = args.get("split", "test");
  R2G2_CHECK(e.split == "test" || e.split == "train", "--split must be test or train, got '", e.split, "'");
  e.max_examples = args.get_int("examples", 0, 1, kMaxExamples);
  e.samples = static_cast<int>(args.get_int("samples", 10, 0, kMaxSamples));
  e.iwae_samples = args.get_int("iwae-samples", 5000, 1, kMaxSamples);
  e.iwae_chunk = args.get_int("iwae-chunk", 100, 1, kMaxIwaeChunk);
  e.seed = static_cast<uint64_t>(args.get_int("seed", 0, 0, kMaxSeed));
  if (args.has("data-dir")) check_input_dir("data-dir", args.get("data-dir", ""));
  p.log_json = args.get("log-json", "");
  if (args.has("log-json")) check_output_path("log-json", p.log_json);
  check_input_file("eval CHECKPOINT", p.path);
  p.experiment = Experiment::read_options(p.path);
  p.experiment.data_dir = args.get("data-dir", "");
  p.experiment.device = parse_device(args.get("device", "auto"));
  return p;
}

int run_eval(const std::vector<std::string>& words) {
  const EvalPlan plan = checking_usage([&] { return parse_eval(words); });
  const std::string& path = plan.path;
  auto run = Experiment::create(plan.experiment);
  run->load(path);
  std::printf("%s: %s, trained %lld steps\n", path.c_str(), run->describe().c_str(),
              (long long)run->steps_taken());
  EvalRecord r = run->evaluate(plan.eval);
  std::printf("%s\n", describe(r).c_str());
  if (!plan.log_json.empty()) {
    JsonObject json;
    json.add("command", "eval")
        .add("checkpoint", path)
        .add("model", run->options().model)
        .add("estimator", run->options().estimator)
        .add("solver", run->options().solver)
        .add("data", run->options().data)
        .add("data_notice", run->data_notice())
        .add("seed", run->options().seed)
        .add("steps", run->steps_taken())
        .add(r.split, to_json(r));
    write_file_atomically(plan.log_json, json.str() + "\n");
  }
  return 0;
}

}  // namespace

R2G2_COMMAND(
    "eval", "score a checkpoint written by `r2g2 train --save` (accuracy, LL, ECE or the IWAE bound)",
    "usage: r2g2 eval CHECKPOINT [--split test|train] [--examples N] [--samples 10]\n"
    "                 [--iwae-samples 5000] [--iwae-chunk 100] [--seed 0] [--data-dir DIR]\n"
    "                 [--device auto|cpu|cuda] [--log-json PATH]\n\n"
    "Rebuilds the model, data set and sizes the checkpoint was trained with, loads it and prints, for\n"
    "the classifiers, accuracy, mean log-likelihood and ECE of the Monte-Carlo predictive over --samples\n"
    "weight draws (0: the mean weights), for the VAEs the importance-weighted bound with K =\n"
    "--iwae-samples (drawn --iwae-chunk at a time; --seed fixes its noise and the binarisation).\n"
    "--examples caps the split; --log-json writes the figures as JSON.",
    run_eval);
