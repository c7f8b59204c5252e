#pragma once
// Cases of the fused optimizer steps (kernels/{cpu,cuda}/optim.h); see sizes.h.
#include <cstdint>
#include <vector>

#include "r2g2/kernels/cases/sizes.h"

namespace r2g2::kernels::cases {

// Adam's hyper-parameters, shared by the tests and the lab.
struct AdamCase {
  double lr = 1e-3, beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
};

// Weight decays of the Adam tests: none, and the usual 0.01.
inline const std::vector<double>& test_adam_weight_decays() {
  static const std::vector<double> decays{0.0, 0.01};
  return decays;
}
// Steps of the Adam tests: early ones, where the bias corrections matter most, then a late one.
inline const std::vector<int64_t>& test_adam_steps() {
  static const std::vector<int64_t> steps{1, 2, 1000};
  return steps;
}
// The timed step: weight decay 0.01 at step 3 (sizes: perf_sizes).
constexpr double kPerfWeightDecay = 0.01;
constexpr int64_t kPerfStep = 3;

}  // namespace r2g2::kernels::cases
