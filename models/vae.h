#pragma once
// The paper's variational autoencoders on binarised images: L = 1, 2 or 3 stochastic
// layers of Gaussian latents v1..vL, a bottom-up posterior q(v1|x) q(v2|v1) ... and a
// top-down prior p(vL) p(v_{L-1}|vL) ... p(v1|v2) p(x|v1), with p(vL) = N(0, I) and a
// Bernoulli likelihood (logits). Every conditional is an MLP of two tanh hidden layers
// followed by a factorised Gaussian head (mean: linear; sigma = softplus(linear), whose
// log is taken as log_softplus so it stays finite where sigma underflows).
//
// The gradient estimator acts where the paper applies it: on v1 and the first linear
// layer of p(x|v1), a LatentLinear (rt, r2g2 or r2g2-paper). Every other stochastic
// node is plain reparameterisation, recorded as ordinary ops; v1 itself also reaches
// log q, the prior and q(v2|v1) that way, so only the decoder path carries R2-G2's eps*.
//
//   VAEConfig cfg;  cfg.layers = 2;  cfg.estimator = "r2g2";
//   VAE vae(cfg);
//   for (batch ...) VAEStepStats s = vae.step(batch_intensities);   // binarised inside, seeded
//   std::vector<double> bound = vae.iwae_bound(binarize(test_x, gen), /*samples=*/5000, /*chunk=*/100, 1);
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "r2g2/core/optim.h"
#include "r2g2/core/random.h"
#include "r2g2/core/tensor.h"
#include "r2g2/estimators/estimator.h"
#include "r2g2/layers/latent_linear.h"
#include "r2g2/layers/linear.h"
#include "r2g2/layers/module.h"

namespace r2g2 {

struct VAEConfig {
  int layers = 1;                      // stochastic layers L: 1, 2 or 3
  int64_t latent = 50;                 // units of every stochastic layer
  int64_t hidden = 200;                // tanh units of each of the two hidden layers of every conditional
  int64_t input = 784;                 // pixels
  std::string estimator = "r2g2";      // of the v1 -> decoder layer: rt, r2g2 or r2g2-paper
  EstimatorOptions estimator_options;  // r2g2's solver: cg (default) or exact
  uint64_t seed = 0;  // initialisation, training noise and binarisation use derive_seed(seed, ...) streams
  DType dtype = DType::f32;
  AdamOptions adam{1e-3};
};

// A factorised Gaussian whose parameters are an MLP of its input:
// u -> tanh(hidden) -> tanh(hidden) -> {mean, sigma = softplus(scale_pre)}.
class GaussianConditional : public Module {
 public:
  struct Params {
    Tensor mean, sigma, log_sigma;  // each [N, out]
  };
  GaussianConditional(int64_t in, int64_t hidden, int64_t out, uint64_t seed, DType dtype);
  Params params(const Tensor& u) const;

  Linear hidden1, hidden2, mean_head, scale_head;
};

// One recorded ELBO evaluation. Every per-example quantity is summed over units and
// pixels; the scalars are averaged over the batch.
struct VAEObjective {
  Tensor loss;         // the negative ELBO, nll + kl: what a step differentiates
  Tensor nll;          // -log p(x | v1)
  Tensor kl;           // log q(v | x) - log p(v), the one-sample estimate of the KL
  Tensor log_weights;  // [N]: log p(x, v) - log q(v | x) of each example's sample
};

struct VAEStepStats {
  int64_t step = 0;  // 0-based index of this step
  double loss = 0, nll = 0, kl = 0;
  double seconds = 0;  // binarisation, forward, backward and update
};

class VAE : public Module {
 public:
  explicit VAE(const VAEConfig& config);

  // The one-sample negative ELBO of a binary batch x [N, input], drawing v1..vL (in this
  // order, [N, latent] normals each) from `gen`, or from the training stream. In training
  // mode the decoder's first layer runs the estimator; in evaluation mode it is plain
  // reparameterisation (the same value). x is converted to the model's dtype and device.
  VAEObjective elbo(const Tensor& x_binary) { return elbo(x_binary, *train_gen_); }
  VAEObjective elbo(const Tensor& x_binary, Generator& gen);

  // One Adam step on the ELBO of x_intensities [N, input] (values in [0, 1]) binarised
  // afresh from the binarisation stream. Puts the model in training mode.
  VAEStepStats step(const Tensor& x_intensities);
  // The same on an already binary batch.
  VAEStepStats step_binary(const Tensor& x_binary);

  // Per example, the importance-weighted bound log (1/K) sum_k p(x, v^k) / q(v^k | x) in
  // float64, K = samples. The samples are drawn `chunk` at a time (memory grows with
  // chunk * N) and the log weights, computed in the model's dtype without recording,
  // are accumulated in a float64 log-sum-exp. Noise: the normals of stream `seed`, the
  // one for (layer l, sample k, example n, unit d) at offset ((l K + k) N + n) latent + d,
  // so the bound does not depend on chunk, and K = 1 equals elbo(x, Generator(seed)).
  std::vector<double> iwae_bound(const Tensor& x_binary, int64_t samples = 5000, int64_t chunk = 100,
                                 uint64_t seed = 0);

  // The estimator of the v1 -> decoder layer (rt, r2g2 or r2g2-paper; others are refused).
  void set_estimator(const std::string& name, const EstimatorOptions& options = {});
  std::string estimator_name() const { return decoder_input_.estimator().name(); }
  // R2-G2's read-out of the last training forward (nullopt for rt).
  std::optional<R2G2Diagnostics> diagnostics() const { return decoder_input_.estimator().diagnostics(); }

  const VAEConfig& config() const { return config_; }
  int layers() const { return config_.layers; }
  // q(v_{l+1} | v_l) (v_0 = x), l = 0 .. L-1.
  const GaussianConditional& encoder(int l) const { return *encoders_.at(static_cast<size_t>(l)); }
  // p(v_{l+1} | v_{l+2}), l = 0 .. L-2 (p(v_L) is N(0, I)).
  const GaussianConditional& prior(int l) const { return *priors_.at(static_cast<size_t>(l)); }
  // p(x | v1): logits = out(tanh(hidden(tanh(input(v1))))).
  LatentLinear& decoder_input() { return decoder_input_; }
  const LatentLinear& decoder_input() const { return decoder_input_; }
  const Linear& decoder_hidden() const { return decoder_hidden_; }
  const Linear& decoder_output() const { return decoder_output_; }

  Adam& optimizer() { return *optimizer_; }
  Generator& train_generator() { return *train_gen_; }
  Generator& binarize_generator() { return binarize_gen_; }
  int64_t steps_taken() const { return step_; }
  // A resumed run continues the step count of its checkpoint.
  void set_steps_taken(int64_t steps);
  std::string type_name() const override { return "VAE"; }

 private:
  struct LogTerms {
    Tensor log_px, log_prior, log_q;  // each [rows]
  };
  // Where the noise of stochastic layer l starts, for a pass over `rows` rows.
  using NoiseAt = std::function<Generator(int layer, int64_t rows)>;
  LogTerms log_terms(const Tensor& x, const NoiseAt& noise_at, bool through_estimator);
  Tensor prepare_input(const Tensor& x, const char* who) const;

  VAEConfig config_;
  std::vector<std::unique_ptr<GaussianConditional>> encoders_, priors_;
  LatentLinear decoder_input_;
  Linear decoder_hidden_, decoder_output_;
  std::shared_ptr<Generator> train_gen_;
  Generator binarize_gen_;
  std::unique_ptr<Adam> optimizer_;
  int64_t step_ = 0;
};

// Dynamic binarisation: each pixel ~ Bernoulli(intensity), independently, from `gen`
// (one float64 normal z per pixel, pixel = [Phi(z) < intensity]; so 0 and 1 stay
// exactly 0 and 1). Intensities must lie in [0, 1]; the result has x's shape, dtype
// and device.
Tensor binarize(const Tensor& x_intensities, Generator& gen);

}  // namespace r2g2
