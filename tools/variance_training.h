#pragma once
// `r2g2 variance --model ...`: the gradient variance of several estimators measured along
// one training run (the paper's variance-over-training figures).
#include <string>
#include <vector>

namespace r2g2::cli {

// The options `r2g2 variance` accepts only with --model.
const std::vector<std::string>& variance_training_options();
// Runs the command on the words after `variance`; prints a table, writes --csv.
int run_variance_over_training(const std::vector<std::string>& words);
extern const char* const kVarianceTrainingUsage;

}  // namespace r2g2::cli
