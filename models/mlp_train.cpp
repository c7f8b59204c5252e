#include "r2g2/models/mlp_train.h"

#include <chrono>
#include <cmath>

#include "r2g2/core/autograd.h"
#include "r2g2/core/data/batches.h"
#include "r2g2/core/ops.h"
#include "r2g2/core/optim.h"

namespace r2g2 {

ClassifierTrainResult train_classifier(Module& model, const data::Dataset& train,
                                       const ClassifierTrainOptions& options) {
  auto start = std::chrono::steady_clock::now();
  R2G2_CHECK(!model.parameters().empty(), "train_classifier: ", model.type_name(), " has no parameters");
  Device device = model.parameters()[0].device();
  data::BatchLoader loader(train, {.batch_size = options.batch_size,
                                   .shuffle = true,
                                   .seed = options.seed,
                                   .flatten = true,
                                   .device = device});
  Adam opt(model.parameters(), {.lr = options.lr});
  ClassifierTrainResult result;
  double window_loss = 0, epoch_loss = 0;
  int64_t window_steps = 0, epoch_steps = 0;
  for (int64_t epoch = 0; epoch < options.epochs; ++epoch) {
    epoch_loss = 0;
    epoch_steps = 0;
    for (const data::Batch& batch : loader.epoch(static_cast<uint64_t>(epoch))) {
      if (options.max_steps >= 0 && result.steps >= options.max_steps) break;
      Tensor loss = cross_entropy(model.forward(batch.images), batch.labels);
      opt.zero_grad();
      backward(loss);
      const double value = loss.item();
      require_finite_loss(value, result.steps + 1);  // before the update, so the parameters stay finite
      opt.step();
      ++result.steps;
      window_loss += value;
      epoch_loss += value;
      ++window_steps;
      ++epoch_steps;
      if (options.log_every > 0 && result.steps % options.log_every == 0 && options.on_log) {
        options.on_log(result.steps, window_loss / static_cast<double>(window_steps));
        window_loss = 0;
        window_steps = 0;
      }
    }
  }
  result.final_loss = epoch_steps ? epoch_loss / static_cast<double>(epoch_steps) : 0.0;
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return result;
}

double classifier_accuracy(Module& model, const data::Dataset& test, int64_t batch_size) {
  NoGrad no_grad;
  R2G2_CHECK(!model.parameters().empty(), "classifier_accuracy: ", model.type_name(), " has no parameters");
  Device device = model.parameters()[0].device();
  data::BatchLoader loader(test,
                           {.batch_size = batch_size, .shuffle = false, .flatten = true, .device = device});
  // Back to the caller's mode however this returns (a forward may throw).
  struct ModeGuard {
    Module& model;
    bool was_training;
    ~ModeGuard() { model.train(was_training); }
  } guard{model, model.is_training()};
  model.eval();
  int64_t correct = 0;
  for (const data::Batch& batch : loader.epoch(0)) {
    auto predicted = argmax(model.forward(batch.images), 1).to_int_vector();
    auto labels = batch.labels.to_int_vector();
    for (size_t i = 0; i < labels.size(); ++i) correct += predicted[i] == labels[i];
  }
  return test.size() ? static_cast<double>(correct) / static_cast<double>(test.size()) : 0.0;
}

}  // namespace r2g2
