// `r2g2 train`: trains one of the paper's models (an Experiment), with progress, logs,
// resumable checkpoints and a final evaluation. `--model mlp-deterministic` keeps the
// plain (non-Bayesian) MLP trainer.
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "r2g2/core/autograd.h"
#include "r2g2/core/checkpoint.h"
#include "r2g2/core/cuda_backend.h"
#include "r2g2/core/data/datasets.h"
#include "r2g2/core/device.h"
#include "r2g2/models/mlp_train.h"
#include "tools/cli.h"
#include "tools/experiment.h"
#include "tools/run_log.h"

namespace {

using namespace r2g2;
using namespace r2g2::cli;

// clang-format off
const std::vector<std::string> kOptions{
    "model", "estimator", "solver", "data", "data-dir", "steps", "epochs", "batch", "lr", "seed", "device",
    "hidden", "width-divisor", "train-examples", "test-examples", "save", "save-every", "resume", "log-csv",
    "log-json", "log-every", "eval-samples", "iwae-samples", "iwae-chunk", "train-eval-examples", "load"};
// clang-format on
const std::vector<std::string> kFlags{"eval-train", "no-eval", "detect-anomaly", "cuda-graph"};

// Options of the Bayesian runs that the deterministic MLP does not take.
const std::vector<std::string> kExperimentOnly{
    "estimator",    "solver",       "width-divisor", "train-examples",     "test-examples",
    "save-every",   "resume",       "log-csv",       "log-json",           "log-every",
    "eval-samples", "iwae-samples", "iwae-chunk",    "train-eval-examples"};

// The data directory, when given, and every output path are checked before any data is read.
void check_paths(const Args& args) {
  if (args.has("data-dir")) check_input_dir("data-dir", args.get("data-dir", ""));
  for (const char* key : {"save", "log-csv", "log-json"})
    if (args.has(key)) check_output_path(key, args.get(key, ""));
}

// Everything the deterministic MLP was asked to do, checked before any data is read.
struct DeterministicPlan {
  ClassifierTrainOptions options;
  Device device = Device::cpu();
  Checkpoint loaded;
  std::string load, save, data_name, data_dir;
  std::vector<int64_t> hidden;
  bool hidden_given = false;
};

DeterministicPlan parse_deterministic(const Args& args) {
  for (const auto& key : kExperimentOnly)
    R2G2_CHECK(!args.has(key), "--", key, " does not apply to --model mlp-deterministic");
  for (const char* flag : {"eval-train", "no-eval", "cuda-graph"})
    R2G2_CHECK(!args.flag(flag), "--", flag, " does not apply to --model mlp-deterministic");
  R2G2_CHECK(args.positional().empty(), "train takes no positional arguments, got '", args.positional()[0],
             "'");
  DeterministicPlan p;
  ClassifierTrainOptions& options = p.options;
  options.epochs = args.get_int("epochs", 1, 0, kMaxSteps);
  options.max_steps = args.get_int("steps", -1, 0, kMaxSteps);
  options.batch_size = args.get_int("batch", 64, 1, kMaxBatch);
  options.lr = args.get_positive("lr", 1e-3);
  options.seed = static_cast<uint64_t>(args.get_int("seed", 1, 0, kMaxSeed));
  p.hidden = parse_sizes(args.get("hidden", "256"), "hidden");
  p.hidden_given = args.has("hidden");
  check_paths(args);
  p.save = args.get("save", "");
  p.load = args.get("load", "");
  p.data_name = args.get("data", "fashion-mnist");
  p.data_dir = args.get("data-dir", "");
  check_data_name("option --data", p.data_name);
  if (args.has("load")) {
    check_input_file("--load", p.load);
    p.loaded = load_checkpoint(p.load, Device::cpu());
  }
  p.device = parse_device(args.get("device", "auto"));
  return p;
}

int run_deterministic(DeterministicPlan plan) {
  ClassifierTrainOptions& options = plan.options;
  Checkpoint& loaded = plan.loaded;
  const Device device = plan.device;
  const std::string& data_name = plan.data_name;
  auto train = data::load_dataset(data_name, plan.data_dir, "train").flattened();
  auto test = data::load_dataset(data_name, plan.data_dir, "test").flattened();
  std::vector<int64_t> sizes{train.example_numel()};
  for (int64_t h : plan.hidden) sizes.push_back(h);
  sizes.push_back(train.num_classes);
  const bool load = !plan.load.empty();
  if (load) {
    // Weights are [out, in], as Linear stores them; a file without this tag holds [in, out]
    // weights, which a square layer would take transposed without any shape mismatch.
    R2G2_CHECK(loaded.metadata["mlp/layout"] == "out,in", "--load ", plan.load,
               " stores its MLP weights as [in, out] (no 'mlp/layout' = 'out,in' entry); this version "
               "stores and reads [out, in]: retrain it with --save");
    auto saved_sizes = parse_sizes(loaded.metadata["mlp/sizes"], "load (mlp/sizes)");
    R2G2_CHECK(!plan.hidden_given || saved_sizes == sizes, "--load ", plan.load, " holds an MLP ",
               shape_str(saved_sizes), ", but --hidden asks for ", shape_str(sizes));
    R2G2_CHECK(saved_sizes.front() == sizes.front() && saved_sizes.back() == sizes.back(), "--load ",
               plan.load, " holds an MLP ", shape_str(saved_sizes), " that does not fit ", train.name, " (",
               sizes.front(), " inputs, ", sizes.back(), " classes)");
    sizes = saved_sizes;
  }
  options.log_every = 100;
  options.on_log = [](int64_t step, double loss) {
    std::printf("  step %6lld  loss %.4f\n", (long long)step, loss);
  };

  std::printf("training deterministic MLP %s on %s (%lld examples) on %s\n", shape_str(sizes).c_str(),
              train.name.c_str(), (long long)train.size(), device.str().c_str());
  MLP model(sizes, options.seed, DType::f32, device);
  std::vector<Tensor> params = model.parameters();
  if (load) {
    for (size_t i = 0; i < params.size(); ++i) {
      const Tensor& saved = loaded.tensor("mlp/param/" + std::to_string(i));
      R2G2_CHECK(saved.shape() == params[i].shape(), "--load: parameter ", i, " has shape ",
                 shape_str(saved.shape()), ", the model expects ", shape_str(params[i].shape()));
      params[i].copy_(saved);
    }
    std::printf("loaded %s (%s steps trained)\n", plan.load.c_str(),
                loaded.metadata["mlp/steps"].c_str());
  }
  if (options.epochs > 0) {
    auto result = train_classifier(model, train, options);
    std::printf("done: %lld steps in %.1f s (%.1f steps/s), last-epoch train loss %.4f\n",
                (long long)result.steps, result.seconds, result.steps / result.seconds, result.final_loss);
    int64_t before = load ? loaded.get_int("mlp/steps") : 0;
    if (!plan.save.empty()) {
      Checkpoint out;
      for (size_t i = 0; i < params.size(); ++i) out.tensors["mlp/param/" + std::to_string(i)] = params[i];
      std::string joined;
      for (int64_t v : sizes) joined.append(joined.empty() ? "" : ",").append(std::to_string(v));
      out.metadata["mlp/sizes"] = joined;
      out.metadata["mlp/layout"] = "out,in";
      out.set_int("mlp/steps", before + result.steps);
      save_checkpoint(plan.save, out);  // atomic: an existing file survives a failed write
      std::printf("saved %s\n", plan.save.c_str());
    }
  }
  double accuracy = classifier_accuracy(model, test);
  std::printf("test accuracy: %.2f%% (%lld examples)\n", 100.0 * accuracy, (long long)test.size());
  return 0;
}

// Everything `train` was asked to do, checked before any data is read.
struct TrainPlan {
  ExperimentOptions options;
  int64_t steps = -1, epochs = 1;
  std::string save, resume, log_csv, log_json;
  int64_t save_every = 0, log_every = 100, train_eval_examples = 10000;
  EvalOptions eval;
  bool eval_train = false, no_eval = false;
  bool total_given = false;  // --steps or --epochs on the command line
};

// A command-line option that contradicts the checkpoint being resumed.
void check_agrees(const Args& args, const std::string& key, const std::string& given,
                  const std::string& saved, const std::string& path) {
  R2G2_CHECK(!args.has(key) || given == saved, "--resume ", path, " holds a run with --", key, " ", saved,
             ", but the command line says --", key, " ", given);
}

std::string sizes_text(const std::vector<int64_t>& sizes) {
  std::string out;
  for (int64_t v : sizes) out.append(out.empty() ? "" : ",").append(std::to_string(v));
  return out;
}

TrainPlan parse_plan(const Args& args) {
  TrainPlan p;
  ExperimentOptions& o = p.options;
  o.model = args.get("model", "mlp");
  o.estimator = args.get("estimator", "");
  o.solver = args.get("solver", "");
  o.data = args.get("data", "");
  o.data_dir = args.get("data-dir", "");
  o.batch = args.get_int("batch", 80, 1, kMaxBatch);
  o.lr = args.get_positive("lr", 0);
  o.seed = static_cast<uint64_t>(args.get_int("seed", 1, 0, kMaxSeed));
  if (args.has("hidden")) o.hidden = parse_sizes(args.get("hidden", ""), "hidden");
  o.width_divisor = static_cast<int>(args.get_int("width-divisor", 1, 1, 64));
  o.train_examples = args.get_int("train-examples", 0, 1, kMaxExamples);
  o.test_examples = args.get_int("test-examples", 0, 1, kMaxExamples);
  R2G2_CHECK(!(args.has("steps") && args.has("epochs")), "give --steps or --epochs, not both");
  p.steps = args.get_int("steps", -1, 0, kMaxSteps);
  p.epochs = args.get_int("epochs", 1, 0, kMaxSteps);
  p.total_given = args.has("steps") || args.has("epochs");
  p.save = args.get("save", "");
  p.save_every = args.get_int("save-every", 0, 1, kMaxSteps);
  R2G2_CHECK(p.save_every == 0 || !p.save.empty(), "--save-every needs --save PATH");
  p.resume = args.get("resume", "");
  p.log_csv = args.get("log-csv", "");
  p.log_json = args.get("log-json", "");
  p.log_every = args.get_int("log-every", 100, 1, kMaxSteps);
  p.eval.samples = static_cast<int>(args.get_int("eval-samples", 10, 0, kMaxSamples));
  p.eval.iwae_samples = args.get_int("iwae-samples", 5000, 1, kMaxSamples);
  p.eval.iwae_chunk = args.get_int("iwae-chunk", 100, 1, kMaxIwaeChunk);
  p.train_eval_examples = args.get_int("train-eval-examples", 10000, 1, kMaxExamples);
  p.eval_train = args.flag("eval-train");
  p.no_eval = args.flag("no-eval");
  R2G2_CHECK(args.positional().empty(), "train takes no positional arguments, got '", args.positional()[0],
             "'");
  check_paths(args);
  if (!p.resume.empty()) check_input_file("--resume", p.resume);
  R2G2_CHECK(!(p.no_eval && p.eval_train), "--eval-train and --no-eval contradict each other");

  if (!p.resume.empty()) {
    ExperimentOptions saved = Experiment::read_options(p.resume);
    check_agrees(args, "model", o.model, saved.model, p.resume);
    check_agrees(args, "estimator", o.estimator, saved.estimator, p.resume);
    check_agrees(args, "solver", o.solver, saved.solver, p.resume);
    check_agrees(args, "data", o.data, saved.data, p.resume);
    check_agrees(args, "hidden", sizes_text(o.hidden), sizes_text(saved.hidden), p.resume);
    check_agrees(args, "width-divisor", std::to_string(o.width_divisor), std::to_string(saved.width_divisor),
                 p.resume);
    check_agrees(args, "batch", std::to_string(o.batch), std::to_string(saved.batch), p.resume);
    check_agrees(args, "seed", std::to_string(o.seed), std::to_string(saved.seed), p.resume);
    check_agrees(args, "train-examples", std::to_string(o.train_examples),
                 std::to_string(saved.train_examples), p.resume);
    R2G2_CHECK(!args.has("lr") || o.lr == saved.lr, "--resume ", p.resume, " holds a run with --lr ",
               saved.lr, ", but the command line says --lr ", o.lr);
    saved.data_dir = o.data_dir;
    saved.device = o.device;
    saved.test_examples = o.test_examples;
    o = saved;
  }
  o = experiment_detail::checked_options(o);  // model, estimator, solver and data names
  if (!o.data.empty() && o.data != "fashion-mnist-32x3") check_data_name("option --data", o.data);
  o.device = parse_device(args.get("device", "auto"));
  o.cuda_graph = args.flag("cuda-graph");
  R2G2_CHECK(!o.cuda_graph || o.model == "mlp" || o.model == "vgg11",
             "--cuda-graph applies to the classifiers (--model mlp or vgg11), not --model ", o.model);
  R2G2_CHECK(!o.cuda_graph || o.model != "vgg11" || o.estimator.find("r2g2") == std::string::npos,
             "--cuda-graph cannot capture R2-G2 on vgg11's conv layers (their solve reads its diagnostics back ",
             "to the host every step), and the estimator is '", o.estimator,
             "'; pass --estimator rt, lrt or flipout, or drop --cuda-graph");
  R2G2_CHECK(!o.cuda_graph || o.device.is_cuda(), "--cuda-graph needs a CUDA device, and this run is on ",
             o.device.str(),
             cuda_backend::device_count() == 0 ? " (" + cuda_backend::unavailable_reason() + ")" : "",
             "; pass --device cuda on a machine with a GPU, or drop --cuda-graph");
  return p;
}

JsonObject window_json(const StepWindow& w) {
  JsonObject o;
  o.add("loss", w.loss()).add("nll", w.nll()).add("kl", w.kl()).add("accuracy", w.accuracy());
  return o;
}

int run_experiment(const TrainPlan& plan) {
  auto run = Experiment::create(plan.options);
  if (!plan.resume.empty()) {
    run->load(plan.resume);
    std::printf("resumed %s at step %lld (epoch %lld, batch %lld of %lld)\n", plan.resume.c_str(),
                (long long)run->steps_taken(), (long long)run->epoch(), (long long)run->batch_in_epoch(),
                (long long)run->batches_per_epoch());
  }
  const ExperimentOptions& o = run->options();
  const int64_t total = plan.steps >= 0 ? plan.steps : plan.epochs * run->batches_per_epoch();
  if (!plan.resume.empty()) {
    // A usage error like the others, not a run that silently trains nothing.
    if (run->steps_taken() > total)
      throw UsageError(detail::concat("--resume ", plan.resume, " is at step ", run->steps_taken(),
                                      ", beyond the requested total ", total, "; pass --steps"));
    if (!plan.total_given)
      std::printf("no --steps or --epochs: the total is %lld epoch, %lld steps\n", (long long)plan.epochs,
                  (long long)total);
  }
  std::printf("training %s\n", run->describe().c_str());
  std::printf("steps %lld to %lld (%lld batches an epoch)\n", (long long)run->steps_taken(), (long long)total,
              (long long)run->batches_per_epoch());
  std::fflush(stdout);

  Progress progress(run->steps_taken(), total, isatty(fileno(stdout)) != 0);
  std::unique_ptr<CsvLog> csv;
  if (!plan.log_csv.empty()) csv = std::make_unique<CsvLog>(plan.log_csv, run->steps_taken());
  StepWindow window, final_window;
  const int64_t first = run->steps_taken();
  const auto start = std::chrono::steady_clock::now();
  auto elapsed = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  };
  while (run->steps_taken() < total) {
    StepRecord r = run->step();
    window.add(r);
    progress.step(r.step, window, elapsed());
    if (r.step % plan.log_every == 0 || r.step == total) {
      if (csv) csv->row(o, window, r.step, elapsed());
      progress.window_closed(r.step, window, elapsed());
      final_window = window;
      window.reset();
    }
    if (plan.save_every > 0 && r.step % plan.save_every == 0 && r.step < total) run->save(plan.save);
  }
  progress.finish();
  const double train_seconds = elapsed();
  const int64_t trained = run->steps_taken() - first;
  const double rate = train_seconds > 0 ? static_cast<double>(trained) / train_seconds : 0.0;
  if (csv) csv->close();
  std::printf("trained %lld steps in %.1f s (%.2f steps/s)\n", (long long)trained, train_seconds, rate);
  if (!plan.save.empty()) {
    run->save(plan.save);
    std::printf("saved %s (step %lld)\n", plan.save.c_str(), (long long)run->steps_taken());
  }

  JsonObject json;
  json.add("command", "train")
      .add("model", o.model)
      .add("estimator", o.estimator)
      .add("solver", o.solver)
      .add("data", o.data)
      .add("data_notice", run->data_notice())
      .add("seed", o.seed)
      .add("batch", o.batch)
      .add("lr", o.lr)
      .add("steps", run->steps_taken())
      .add("train_seconds", train_seconds)
      .add("steps_per_second", rate)
      .add("final_window", window_json(final_window));
  if (!plan.no_eval) {
    EvalOptions e = plan.eval;
    EvalRecord test = run->evaluate(e);
    std::printf("%s\n", describe(test).c_str());
    json.add("test", to_json(test));
    if (plan.eval_train) {
      e.split = "train";
      e.max_examples = plan.train_eval_examples;
      EvalRecord train = run->evaluate(e);
      std::printf("%s\n", describe(train).c_str());
      json.add("train", to_json(train));
    }
  }
  if (!plan.log_json.empty()) write_file_atomically(plan.log_json, json.str() + "\n");
  return 0;
}

int run_train(const std::vector<std::string>& words) {
  // A mistyped option or value is a usage error (exit status 2), found before any data is read.
  const Args args = checking_usage([&] { return Args(words, kOptions, kFlags); });
  if (args.flag("detect-anomaly")) set_detect_anomaly(true);
  if (args.get("model", "mlp") == "mlp-deterministic")
    return run_deterministic(checking_usage([&] { return parse_deterministic(args); }));
  const TrainPlan plan = checking_usage([&] {
    R2G2_CHECK(!args.has("load"),
               "--load belongs to --model mlp-deterministic; a Bayesian run continues "
               "from its checkpoint with --resume PATH");
    return parse_plan(args);
  });
  return run_experiment(plan);
}

}  // namespace

R2G2_COMMAND(
    "train", "train one of the paper's models (mlp, vgg11, vae1-3): progress, logs, checkpoints, evaluation",
    "usage: r2g2 train [--model mlp|vgg11|vae1|vae2|vae3|mlp-deterministic] [--estimator r2g2] [--solver "
    "cheapest|cg|exact|paper]\n"
    "                  [--data NAME] [--data-dir DIR] [--steps N | --epochs 1] [--batch 80] [--lr PAPER]\n"
    "                  [--seed 1] [--device auto|cpu|cuda] [--hidden 1024,1024] [--width-divisor 1]\n"
    "                  [--train-examples N] [--test-examples N] [--save PATH [--save-every K]]\n"
    "                  [--resume PATH] [--log-csv PATH] [--log-json PATH] [--log-every 100]\n"
    "                  [--eval-samples 10] [--iwae-samples 5000] [--iwae-chunk 100]\n"
    "                  [--eval-train [--train-eval-examples 10000]] [--no-eval] [--detect-anomaly]\n"
    "                  [--cuda-graph]\n\n"
    "Models: mlp (Bayesian MLP 784-1024-1024-10), vgg11 (Bayesian VGG-11 on 32x32x3: CIFAR-10 when found,\n"
    "else Fashion-MNIST padded to 32x32 over 3 channels, announced), vae1..vae3 (VAEs with 1-3 stochastic\n"
    "layers on dynamically binarised images). Defaults follow the paper: batch 80, Adam lr 1e-4 (mlp,\n"
    "vgg11) or 3e-4 (VAEs), estimator r2g2 (mlp: every layer, a schedule such as r2g2:2000,rt works;\n"
    "vgg11: the last four conv layers; VAEs: the v1 -> decoder layer, rt|r2g2|r2g2-paper).\n"
    "--steps is the run's total: --resume PATH continues a saved run (model, optimizer, noise streams and\n"
    "batch order) bit for bit up to it; options that contradict the checkpoint are an error.\n"
    "--save writes the checkpoint at the end (and every --save-every steps), atomically.\n"
    "Output: a progress bar on a terminal, else a line every --log-every steps; --log-csv writes one row "
    "per\n"
    "window (model,estimator,seed,step,epoch,loss,nll,kl,accuracy,step_seconds,elapsed_seconds), --log-json\n"
    "a summary with the evaluation. At the end: test accuracy, log-likelihood and ECE of the Monte-Carlo\n"
    "predictive (classifiers) or the IWAE bound (VAEs).\n"
    "A loss that is NaN or infinite stops the run (exit status 1); --detect-anomaly checks every op's\n"
    "output and gradient (slow) and names the first op that produced a NaN or Inf.\n"
    "--cuda-graph (mlp, vgg11 on CUDA, one estimator): two eager warm-up steps, then one step captured as a\n"
    "CUDA graph and replayed for every later batch; the same losses and checkpoints as eager steps.\n"
    "Exit status: 0 done, 1 the run failed, 2 a bad invocation (reported on one line before any output).\n"
    "--model mlp-deterministic: the plain MLP (options --hidden 256 --batch 64 --lr 1e-3 --epochs --steps\n"
    "--save --load PATH; --epochs 0 only evaluates).",
    run_train);
