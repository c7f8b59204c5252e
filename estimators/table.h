#pragma once
// The (estimator, layer kind) table's vocabulary (internal: use make_estimator).
//
// Each estimator file defines free functions, one per layer kind it supports; the table
// in registry.cpp names them. Estimator (estimator.cpp) checks the arguments of a call
// once, looks the function up and reports a missing one, so an estimator function
// starts from valid arguments and never deals with layer kinds it lacks.
//
// A new estimator: its file, its functions declared below, one row in registry.cpp.
// A new layer kind: LayerKind and its name, a function type and an EstimatorEntry
// field, an Estimator method (estimator.cpp); rows that leave the field null report it
// as unsupported, so only the estimators that implement it change.
#include <functional>
#include <optional>
#include <span>

#include "r2g2/core/random.h"
#include "r2g2/core/tensor.h"
#include "r2g2/estimators/estimator.h"

namespace r2g2::est {

enum class LayerKind { linear, conv2d, latent_linear };
// As error messages name it ("lrt cannot be used on a conv2d layer").
const char* layer_kind_name(LayerKind kind);

// What one estimator keeps for one layer between calls, behind Estimator's hooks.
struct EstimatorState {
  EstimatorOptions options;  // after the entry's adjust_options
  // score: log q of the draw awaiting score_surrogate (see Estimator::has_pending_score_term).
  Tensor log_q;
  // r2g2*: the read-out of the last solve, computed when first asked for (it reads values
  // back from the device, which most steps never need).
  std::function<R2G2Diagnostics()> pending_diagnostics;
  std::optional<R2G2Diagnostics> diagnostics;

  void add_log_q(const Tensor& lq);
  void set_diagnostics(std::function<R2G2Diagnostics()> later);
  void set_diagnostics(const R2G2Diagnostics& now);
};

// The signatures of Estimator::linear, conv2d and latent_linear, with the layer's state.
using LinearFn = Tensor (*)(EstimatorState&, const Tensor& x, const Tensor& mu, const Tensor& sigma,
                            const Tensor& bias_mu, const Tensor& bias_sigma, Generator& gen);
using Conv2dFn = Tensor (*)(EstimatorState&, const Tensor& x, const Tensor& mu, const Tensor& sigma,
                            Conv2dParams p, Generator& gen);
using LatentLinearFn = Tensor (*)(EstimatorState&, const Tensor& mu, const Tensor& sigma,
                                  const Tensor& weight, const Tensor& bias, Generator& gen);

// Why an estimator cannot serve a layer kind, for the error that says so.
struct Unsupported {
  LayerKind kind;
  const char* why;
};

// One row of the table. A null function is an unsupported pair.
struct EstimatorEntry {
  const char* name;
  LinearFn linear = nullptr;
  Conv2dFn conv2d = nullptr;
  LatentLinearFn latent_linear = nullptr;
  std::span<const Unsupported> why_not = {};
  bool needs_surrogate = false;
  EstimatorOptions (*adjust_options)(EstimatorOptions) = nullptr;  // variants of one estimator
};

// The conv estimators of estimators/conv/ keep no state; this fits one into the table.
template <Tensor (*F)(const Tensor&, const Tensor&, const Tensor&, Conv2dParams, Generator&)>
Tensor stateless_conv2d(EstimatorState&, const Tensor& x, const Tensor& mu, const Tensor& sigma,
                        Conv2dParams p, Generator& gen) {
  return F(x, mu, sigma, p, gen);
}

// The table's functions, by estimator (estimators/<name>.cpp).
Tensor rt_linear(EstimatorState&, const Tensor& x, const Tensor& mu, const Tensor& sigma,
                 const Tensor& bias_mu, const Tensor& bias_sigma, Generator& gen);
Tensor rt_latent_linear(EstimatorState&, const Tensor& mu, const Tensor& sigma, const Tensor& weight,
                        const Tensor& bias, Generator& gen);

Tensor rt_per_example_linear(EstimatorState&, const Tensor& x, const Tensor& mu, const Tensor& sigma,
                             const Tensor& bias_mu, const Tensor& bias_sigma, Generator& gen);

Tensor lrt_linear(EstimatorState&, const Tensor& x, const Tensor& mu, const Tensor& sigma,
                  const Tensor& bias_mu, const Tensor& bias_sigma, Generator& gen);

Tensor flipout_linear(EstimatorState&, const Tensor& x, const Tensor& mu, const Tensor& sigma,
                      const Tensor& bias_mu, const Tensor& bias_sigma, Generator& gen);

Tensor score_linear(EstimatorState&, const Tensor& x, const Tensor& mu, const Tensor& sigma,
                    const Tensor& bias_mu, const Tensor& bias_sigma, Generator& gen);
Tensor score_conv2d(EstimatorState&, const Tensor& x, const Tensor& mu, const Tensor& sigma, Conv2dParams p,
                    Generator& gen);
Tensor score_latent_linear(EstimatorState&, const Tensor& mu, const Tensor& sigma, const Tensor& weight,
                           const Tensor& bias, Generator& gen);

Tensor r2g2_linear(EstimatorState&, const Tensor& x, const Tensor& mu, const Tensor& sigma,
                   const Tensor& bias_mu, const Tensor& bias_sigma, Generator& gen);
Tensor r2g2_conv2d(EstimatorState&, const Tensor& x, const Tensor& mu, const Tensor& sigma, Conv2dParams p,
                   Generator& gen);
Tensor r2g2_latent_linear(EstimatorState&, const Tensor& mu, const Tensor& sigma, const Tensor& weight,
                          const Tensor& bias, Generator& gen);
EstimatorOptions r2g2_paper_options(EstimatorOptions options);
EstimatorOptions r2g2_shared_options(EstimatorOptions options);

// The row for `name`, or nullptr.
const EstimatorEntry* find_estimator(const std::string& name);

}  // namespace r2g2::est
