#pragma once
// Training and evaluation loops for a deterministic classifier: any Module whose
// forward(x) maps flattened images to logits (the MLP, a Sequential, ...).
#include <cstdint>
#include <functional>
#include <string>

#include "r2g2/core/data/datasets.h"
#include "r2g2/layers/module.h"
#include "r2g2/models/mlp.h"  // the usual model to train

namespace r2g2 {

struct ClassifierTrainOptions {
  int64_t epochs = 1;
  int64_t max_steps = -1;  // stop early after this many steps (-1: no limit)
  int64_t batch_size = 64;
  double lr = 1e-3;
  uint64_t seed = 0;
  // Called after every `log_every` steps with (step, mean loss since the last call).
  int64_t log_every = 0;
  std::function<void(int64_t, double)> on_log = nullptr;
};

struct ClassifierTrainResult {
  int64_t steps = 0;
  double final_loss = 0;  // mean training loss over the last epoch
  double seconds = 0;
};

// Adam on the mean cross-entropy of mini-batches shuffled by `seed`. A non-finite loss
// stops training before that step's update (require_finite_loss, core/autograd.h).
ClassifierTrainResult train_classifier(Module& model, const data::Dataset& train,
                                       const ClassifierTrainOptions& options);
// Fraction of examples whose argmax logit equals the label.
double classifier_accuracy(Module& model, const data::Dataset& test, int64_t batch_size = 1000);

}  // namespace r2g2
