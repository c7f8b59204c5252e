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

int run_eval(const std::vector<std::string>& words) {
  Args args(words, {"split", "examples", "samples", "iwae-samples", "iwae-chunk", "data-dir", "device",
                    "log-json", "seed"});
  R2G2_CHECK(args.positional().size() == 1,
             "eval takes one CHECKPOINT (a file written by r2g2 train --save), got ",
             args.positional().size(), " words");
  const std::string path = args.positional()[0];
  EvalOptions e;
  e.split = args.get("split", "test");
  R2G2_CHECK(e.split == "test" || e.split == "train", "--split must be test or train, got '", e.split, "'");
  e.max_examples = args.get_int("examples", 0);
  R2G2_CHECK(!args.has("examples") || e.max_examples > 0, "--examples must be positive, got ",
             e.max_examples);
  const long long samples = args.get_int("samples", 10);
  R2G2_CHECK(samples >= 0 && samples <= 1000000, "--samples must be in [0, 1000000], got ", samples);
  e.samples = static_cast<int>(samples);
  e.iwae_samples = args.get_int("iwae-samples", 5000);
  e.iwae_chunk = args.get_int("iwae-chunk", 100);
  R2G2_CHECK(e.iwae_samples > 0, "--iwae-samples must be positive, got ", e.iwae_samples);
  R2G2_CHECK(e.iwae_chunk > 0, "--iwae-chunk must be positive, got ", e.iwae_chunk);
  const long long seed = args.get_int("seed", 0);
  R2G2_CHECK(seed >= 0, "--seed must be >= 0, got ", seed);
  e.seed = static_cast<uint64_t>(seed);
  const Device device = parse_device(args.get("device", "auto"));

  ExperimentOptions o = Experiment::read_options(path);
  o.data_dir = args.get("data-dir", "");
  o.device = device;
  auto run = Experiment::create(o);
  run->load(path);
  std::printf("%s: %s, trained %lld steps\n", path.c_str(), run->describe().c_str(),
              (long long)run->steps_taken());
  EvalRecord r = run->evaluate(e);
  std::printf("%s\n", describe(r).c_str());
  if (args.has("log-json")) {
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
    write_file_atomically(args.get("log-json", ""), json.str() + "\n");
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
