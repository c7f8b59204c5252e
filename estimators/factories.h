#pragma once
// Constructors of the built-in estimators (internal: use make_estimator). Adding an
// estimator = one new estimators/<name>.cpp defining its factory + one line in registry.cpp.
#include <memory>

#include "estimators/estimator.h"

namespace r2g2::est {

std::unique_ptr<Estimator> make_rt(const EstimatorOptions& options);
std::unique_ptr<Estimator> make_rt_per_example(const EstimatorOptions& options);
std::unique_ptr<Estimator> make_lrt(const EstimatorOptions& options);
std::unique_ptr<Estimator> make_flipout(const EstimatorOptions& options);
std::unique_ptr<Estimator> make_score(const EstimatorOptions& options);
std::unique_ptr<Estimator> make_r2g2(const EstimatorOptions& options);
std::unique_ptr<Estimator> make_r2g2_paper(const EstimatorOptions& options);
std::unique_ptr<Estimator> make_r2g2_shared(const EstimatorOptions& options);

}  // namespace r2g2::est
