#include "r2g2/models/vae.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <numbers>

#include "r2g2/core/autograd.h"
#include "r2g2/core/error.h"
#include "r2g2/core/ops.h"

namespace r2g2 {

namespace {

constexpr double kHalfLog2Pi = 0.91893853320467274178;  // log(2 pi) / 2

// Initialisation streams: one per linear layer of the model, numbered in construction order.
uint64_t init_seed(uint64_t seed, uint64_t layer) { return derive_seed(seed, 0x1000 + layer); }

// "q1", "p2", ...: appended rather than concatenated, which trips GCC 12's -Wrestrict at -O3.
std::string numbered(char prefix, int number) {
  std::string name(1, prefix);
  name += std::to_string(number);
  return name;
}

LinearOptions linear_options(uint64_t seed, DType dtype) {
  LinearOptions o;
  o.seed = seed;
  o.dtype = dtype;
  return o;
}

// sum_d log N(z_d; mean_d, sigma_d^2) over axis 1, with log sigma given: [N, D] -> [N].
Tensor log_normal(const Tensor& z, const Tensor& mean, const Tensor& sigma, const Tensor& log_sigma) {
  Tensor standardised = div(sub(z, mean), sigma);
  Tensor per_unit = sub(mul(square(standardised), -0.5), log_sigma);
  return add(sum(per_unit, {1}), -kHalfLog2Pi * static_cast<double>(z.size(1)));
}

// log q(z | .) for z = mean + sigma eps, written with eps itself (constant): the same
// value and the same total derivative as log_normal(z, mean, sigma, .) (the paths through
// z and through mean and sigma cancel but for -log sigma), and exact in float32.
Tensor log_normal_of_noise(const Tensor& eps, const Tensor& log_sigma) {
  Tensor per_unit = sub(mul(square(eps), -0.5), log_sigma);
  return add(sum(per_unit, {1}), -kHalfLog2Pi * static_cast<double>(eps.size(1)));
}

void check_estimator_name(const std::string& name) {
  R2G2_CHECK(
      name == "rt" || name == "r2g2" || name == "r2g2-paper", "VAE: estimator '", name,
      "' is not available for the v1 -> decoder layer; use rt, r2g2 or r2g2-paper (score would need its "
      "surrogate on every term v1 reaches, lrt and flipout do not apply to a latent)");
}

}  // namespace

GaussianConditional::GaussianConditional(int64_t in, int64_t hidden, int64_t out, uint64_t seed, DType dtype)
    : hidden1(in, hidden, linear_options(derive_seed(seed, 1), dtype)),
      hidden2(hidden, hidden, linear_options(derive_seed(seed, 2), dtype)),
      mean_head(hidden, out, linear_options(derive_seed(seed, 3), dtype)),
      scale_head(hidden, out, linear_options(derive_seed(seed, 4), dtype)) {
  register_module("hidden1", &hidden1);
  register_module("hidden2", &hidden2);
  register_module("mean", &mean_head);
  register_module("scale", &scale_head);
}

GaussianConditional::Params GaussianConditional::params(const Tensor& u) const {
  Tensor a = tanh(hidden2.apply(tanh(hidden1.apply(u))));
  Tensor scale_pre = scale_head.apply(a);
  return {mean_head.apply(a), softplus(scale_pre), log_softplus(scale_pre)};
}

namespace {
LatentLinearOptions decoder_input_options(const VAEConfig& c) {
  check_estimator_name(c.estimator);
  R2G2_CHECK(c.layers >= 1 && c.layers <= 3, "VAE: layers must be 1, 2 or 3, got ", c.layers);
  R2G2_CHECK(c.latent > 0 && c.hidden > 0 && c.input > 0, "VAE: sizes must be positive, got input ", c.input,
             ", hidden ", c.hidden, ", latent ", c.latent);
  LatentLinearOptions o;
  o.estimator = c.estimator;
  o.estimator_options = c.estimator_options;
  o.seed = init_seed(c.seed, 0);
  o.dtype = c.dtype;
  return o;
}
}  // namespace

VAE::VAE(const VAEConfig& config)
    : config_(config),
      decoder_input_(config.latent, config.hidden, decoder_input_options(config)),
      decoder_hidden_(config.hidden, config.hidden, linear_options(init_seed(config.seed, 1), config.dtype)),
      decoder_output_(config.hidden, config.input, linear_options(init_seed(config.seed, 2), config.dtype)),
      train_gen_(std::make_shared<Generator>(derive_seed(config.seed, 1))),
      binarize_gen_(derive_seed(config.seed, 3)) {
  const VAEConfig& c = config_;
  for (int l = 0; l < c.layers; ++l) {
    encoders_.push_back(std::make_unique<GaussianConditional>(l == 0 ? c.input : c.latent, c.hidden, c.latent,
                                                              init_seed(c.seed, 10 + l), c.dtype));
    register_module(numbered('q', l + 1), encoders_.back().get());
  }
  for (int l = 0; l + 1 < c.layers; ++l) {
    priors_.push_back(std::make_unique<GaussianConditional>(c.latent, c.hidden, c.latent,
                                                            init_seed(c.seed, 20 + l), c.dtype));
    register_module(numbered('p', l + 1), priors_.back().get());
  }
  register_module("px_input", &decoder_input_);
  register_module("px_hidden", &decoder_hidden_);
  register_module("px_output", &decoder_output_);
  optimizer_ = std::make_unique<Adam>(parameters(), c.adam);
}

void VAE::set_estimator(const std::string& name, const EstimatorOptions& options) {
  check_estimator_name(name);
  decoder_input_.set_estimator(name, options);
  config_.estimator = name;
  config_.estimator_options = options;
}

Tensor VAE::prepare_input(const Tensor& x, const char* who) const {
  R2G2_CHECK(x.dim() == 2 && x.size(1) == config_.input, "VAE::", who, ": input ", shape_str(x.shape()),
             " must be [N, ", config_.input, "]");
  const Tensor& ref = decoder_output_.weight;
  Tensor out = x.dtype() == ref.dtype() ? x : x.to(ref.dtype());
  return out.device() == ref.device() ? out : out.to(ref.device());
}

VAE::LogTerms VAE::log_terms(const Tensor& x, const NoiseAt& noise_at, bool through_estimator) {
  const int64_t rows = x.size(0);
  const int L = config_.layers;
  std::vector<Tensor> z(static_cast<size_t>(L));
  LogTerms t;
  Tensor h1;  // pre-activation of p(x | v1)'s first layer
  Tensor below = x;
  for (int l = 0; l < L; ++l) {
    GaussianConditional::Params q = encoders_[static_cast<size_t>(l)]->params(below);
    Generator at = noise_at(l, rows);
    // The estimator draws its eps as the first [rows, latent] normals of the generator it
    // is given (estimators/common.h: latent_forward), so a copy taken here hands it the very
    // eps that v1 is built from below; the tests check that both give the same ELBO.
    Generator for_estimator = at;
    Tensor eps = at.randn({rows, config_.latent}, q.mean.dtype(), q.mean.device());
    Tensor zl = add(q.mean, mul(q.sigma, eps));
    Tensor lq = log_normal_of_noise(eps, q.log_sigma);
    t.log_q = l == 0 ? lq : add(t.log_q, lq);
    if (l == 0 && through_estimator) h1 = decoder_input_.forward(q.mean, q.sigma, for_estimator);
    z[static_cast<size_t>(l)] = zl;
    below = zl;
  }
  if (!h1.defined()) {
    h1 = matmul(z[0], decoder_input_.weight.t());
    if (decoder_input_.bias.defined()) h1 = add(h1, decoder_input_.bias);
  }

  const Tensor& top = z[static_cast<size_t>(L - 1)];
  t.log_prior = add(sum(mul(square(top), -0.5), {1}), -kHalfLog2Pi * static_cast<double>(config_.latent));
  for (int l = L - 2; l >= 0; --l) {
    GaussianConditional::Params p = priors_[static_cast<size_t>(l)]->params(z[static_cast<size_t>(l + 1)]);
    t.log_prior = add(t.log_prior, log_normal(z[static_cast<size_t>(l)], p.mean, p.sigma, p.log_sigma));
  }

  Tensor logits = decoder_output_.apply(tanh(decoder_hidden_.apply(tanh(h1))));
  // log Bernoulli(x; sigmoid(logits)) = x logits - softplus(logits)
  t.log_px = sum(sub(mul(x, logits), softplus(logits)), {1});
  return t;
}

VAEObjective VAE::elbo(const Tensor& x_binary, Generator& gen) {
  Tensor x = prepare_input(x_binary, "elbo");
  const int64_t latent = config_.latent;
  NoiseAt from_stream = [&gen, latent](int, int64_t rows) {
    Generator at = gen;
    gen.take(static_cast<uint64_t>(rows * latent));
    return at;
  };
  LogTerms t = log_terms(x, from_stream, is_training());
  VAEObjective o;
  o.log_weights = sub(add(t.log_px, t.log_prior), t.log_q);
  o.nll = neg(mean(t.log_px));
  o.kl = mean(sub(t.log_q, t.log_prior));
  o.loss = add(o.nll, o.kl);
  return o;
}

VAEStepStats VAE::step(const Tensor& x_intensities) {
  auto start = std::chrono::steady_clock::now();
  VAEStepStats s = step_binary(binarize(x_intensities, binarize_gen_));
  s.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return s;
}

void VAE::set_steps_taken(int64_t steps) {
  R2G2_CHECK(steps >= 0, "VAE::set_steps_taken: the step count must be >= 0, got ", steps);
  step_ = steps;
}

VAEStepStats VAE::step_binary(const Tensor& x_binary) {
  auto start = std::chrono::steady_clock::now();
  train();
  optimizer_->zero_grad();
  VAEObjective o = elbo(x_binary);
  backward(o.loss);
  VAEStepStats s;
  s.step = step_;
  s.loss = o.loss.item();
  s.nll = o.nll.item();
  s.kl = o.kl.item();
  // Before the update, so that a non-finite loss leaves the parameters finite. Steps count from 1.
  require_finite_loss(s.loss, s.step + 1);
  optimizer_->step();
  ++step_;
  s.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return s;
}

std::vector<double> VAE::iwae_bound(const Tensor& x_binary, int64_t samples, int64_t chunk, uint64_t seed) {
  R2G2_CHECK(samples >= 1 && chunk >= 1, "VAE::iwae_bound: samples and chunk must be >= 1, got samples ",
             samples, ", chunk ", chunk);
  NoGrad no_grad;
  Tensor x = prepare_input(x_binary, "iwae_bound");
  const int64_t n = x.size(0), latent = config_.latent;
  // Streaming log-sum-exp per example: running max and sum of exp(log w - max).
  std::vector<double> running_max(static_cast<size_t>(n), -std::numeric_limits<double>::infinity());
  std::vector<double> running_sum(static_cast<size_t>(n), 0.0);
  for (int64_t first = 0; first < samples; first += chunk) {
    const int64_t count = std::min(chunk, samples - first);
    // Rows are sample-major (row j n_total + i is sample first + j of example i), so one
    // contiguous run of the stream covers a layer's noise for the whole chunk.
    Tensor xs = count == 1 ? x : concat(std::vector<Tensor>(static_cast<size_t>(count), x), 0);
    NoiseAt at_offset = [&](int layer, int64_t) {
      return Generator(seed, static_cast<uint64_t>((layer * samples + first) * n * latent));
    };
    LogTerms t = log_terms(xs, at_offset, /*through_estimator=*/false);
    std::vector<double> log_w = sub(add(t.log_px, t.log_prior), t.log_q).to_vector();
    for (int64_t j = 0; j < count; ++j) {
      for (int64_t i = 0; i < n; ++i) {
        double v = log_w[static_cast<size_t>(j * n + i)];
        double& m = running_max[static_cast<size_t>(i)];
        double& s = running_sum[static_cast<size_t>(i)];
        if (std::isnan(v)) {
          s = v;
        } else if (v > m) {
          s = s * std::exp(m - v) + 1.0;
          m = v;
        } else if (v != -std::numeric_limits<double>::infinity()) {
          s += std::exp(v - m);
        }
      }
    }
  }
  std::vector<double> bound(static_cast<size_t>(n));
  const double log_samples = std::log(static_cast<double>(samples));
  for (size_t i = 0; i < bound.size(); ++i)
    bound[i] = running_max[i] + std::log(running_sum[i]) - log_samples;
  return bound;
}

Tensor binarize(const Tensor& x_intensities, Generator& gen) {
  R2G2_CHECK(is_floating(x_intensities.dtype()), "binarize: intensities must be float32 or float64, not ",
             dtype_name(x_intensities.dtype()));
  std::vector<double> p = x_intensities.to_vector();
  std::vector<double> z = gen.randn(x_intensities.shape(), DType::f64).to_vector();
  for (size_t i = 0; i < p.size(); ++i) {
    R2G2_CHECK(p[i] >= 0.0 && p[i] <= 1.0, "binarize: intensity ", p[i], " at flat index ", i,
               " is outside [0, 1]");
    const double uniform = 0.5 * std::erfc(-z[i] / std::numbers::sqrt2);
    p[i] = uniform < p[i] ? 1.0 : 0.0;
  }
  return Tensor::from_vector(p, x_intensities.shape(), x_intensities.dtype(), x_intensities.device());
}

}  // namespace r2g2
