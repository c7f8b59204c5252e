#include "models/bayes_vgg.h"

#include <algorithm>
#include <chrono>
#include <cmath>

#include "core/autograd.h"
#include "core/ops.h"

namespace r2g2 {

BayesVGG::BayesVGG(const BayesVGGConfig& config)
    : config_(config), estimator_(config.estimator), train_gen_(config.seed + 1), eval_gen_(config.seed + 2) {
  R2G2_CHECK(config.in_channels > 0 && config.image_size > 0 && config.classes > 0,
             "BayesVGG: in_channels, image_size and classes must be positive, got ", config.in_channels, ", ",
             config.image_size, ", ", config.classes);
  R2G2_CHECK(config.train_size > 0, "BayesVGG: train_size (N of the ELBO) must be positive, got ",
             config.train_size);
  R2G2_CHECK(config.kl_weight >= 0 && std::isfinite(config.kl_weight),
             "BayesVGG: kl_weight must be >= 0, got ", config.kl_weight);
  int64_t channels = config.in_channels, size = config.image_size;
  for (int width : config.layers) {
    R2G2_CHECK(width >= 0, "BayesVGG: a layer width must be > 0 (or 0 for a max-pool), got ", width);
    if (width == 0) {
      R2G2_CHECK(size >= 2, "BayesVGG: a max-pool at spatial size ", size, " (image_size ", config.image_size,
                 " has too few pixels for ", "this many pools)");
      size /= 2;
      if (convs_.empty())
        ++leading_pools_;
      else
        pool_after_.back() = true;
      continue;
    }
    const size_t index = convs_.size();
    BayesConv2dOptions o;
    o.padding = 1;
    o.prior_sigma = config.prior_sigma;
    o.mu_init = config.mu_init;
    o.rho_init = config.rho_init;
    o.rho_init_std = config.rho_init_std;
    o.estimator = static_cast<int>(index) < config.rt_conv_layers ? config.lower_estimator : config.estimator;
    o.estimator_options = config.estimator_options;
    o.seed = config.seed * 1000 + 10 * index;  // distinct streams per layer (mu: +0, rho: +1)
    o.dtype = config.dtype;
    convs_.push_back(std::make_unique<BayesConv2d>(channels, width, 3, o));
    pool_after_.push_back(false);
    register_module("conv" + std::to_string(index + 1), convs_.back().get());
    channels = width;
  }
  std::vector<int64_t> sizes{channels * size * size};
  sizes.insert(sizes.end(), config.classifier_hidden.begin(), config.classifier_hidden.end());
  sizes.push_back(config.classes);
  for (size_t l = 0; l + 1 < sizes.size(); ++l) {
    R2G2_CHECK(sizes[l + 1] > 0, "BayesVGG: classifier widths must be positive, got ", sizes[l + 1]);
    BayesLinearOptions o;
    o.prior_sigma = config.prior_sigma;
    o.mu_init = config.mu_init;
    o.rho_init = config.rho_init;
    o.rho_init_std = config.rho_init_std;
    o.estimator = config.linear_estimator;
    o.estimator_options = config.estimator_options;
    o.seed = config.seed * 1000 + 500 + 10 * l;
    o.dtype = config.dtype;
    linears_.push_back(std::make_unique<BayesLinear>(sizes[l], sizes[l + 1], o));
    register_module("fc" + std::to_string(l + 1), linears_.back().get());
  }
}

std::vector<BayesConv2d*> BayesVGG::conv_layers() {
  std::vector<BayesConv2d*> out;
  for (auto& l : convs_) out.push_back(l.get());
  return out;
}

std::vector<BayesLinear*> BayesVGG::linear_layers() {
  std::vector<BayesLinear*> out;
  for (auto& l : linears_) out.push_back(l.get());
  return out;
}

Tensor BayesVGG::forward(const Tensor& x, Generator& gen) {
  R2G2_CHECK(x.dim() == 4 && x.size(1) == config_.in_channels && x.size(2) == config_.image_size &&
                 x.size(3) == config_.image_size,
             "BayesVGG: input ", shape_str(x.shape()), " must be [B, ", config_.in_channels, ", ",
             config_.image_size, ", ", config_.image_size, "]");
  Tensor h = x;
  for (int i = 0; i < leading_pools_; ++i) h = max_pool2d(h, 2);
  for (size_t l = 0; l < convs_.size(); ++l) {
    h = relu(convs_[l]->forward(h, gen));
    if (pool_after_[l]) h = max_pool2d(h, 2);
  }
  h = reshape(h, {h.size(0), -1});
  for (size_t l = 0; l < linears_.size(); ++l) {
    h = linears_[l]->forward(h, gen);
    if (l + 1 < linears_.size()) h = relu(h);
  }
  return h;
}

Tensor BayesVGG::kl() const {
  Tensor total;
  for (const auto& l : convs_) total = total.defined() ? add(total, l->kl()) : l->kl();
  for (const auto& l : linears_) total = total.defined() ? add(total, l->kl()) : l->kl();
  return total;
}

void BayesVGG::set_estimator(const std::string& name) {
  for (size_t l = static_cast<size_t>(std::max(config_.rt_conv_layers, 0)); l < convs_.size(); ++l)
    convs_[l]->set_estimator(name, config_.estimator_options);
  estimator_ = name;
}

std::vector<std::optional<R2G2Diagnostics>> BayesVGG::conv_diagnostics() const {
  std::vector<std::optional<R2G2Diagnostics>> out;
  for (const auto& l : convs_) out.push_back(l->estimator().diagnostics());
  return out;
}

BayesVGG::Objective BayesVGG::objective(const Tensor& x, const Tensor& labels) {
  train(true);
  Objective o;
  o.logits = forward(x, train_gen_);
  o.nll = cross_entropy(o.logits, labels);
  o.kl = kl();
  o.loss = add(o.nll, mul(o.kl, config_.kl_weight / static_cast<double>(config_.train_size)));
  // Score-function layers (only if chosen): (s - s.detach()) keeps the value, adds the gradient.
  for (BayesianModule* m : bayesian_modules()) {
    Estimator& e = m->estimator();
    if (!e.needs_surrogate()) continue;
    Tensor s = e.score_surrogate(o.nll);
    if (s.defined()) o.loss = add(o.loss, sub(s, s.detach()));
  }
  return o;
}

void BayesVGG::to(Device device) {
  Module::to(device);
  if (optimizer_) {  // rebuild over the moved parameters, carrying the moments along
    std::vector<Tensor> m = optimizer_->first_moments(), v = optimizer_->second_moments();
    const int64_t steps = optimizer_->steps_taken();
    optimizer_ = std::make_unique<Adam>(parameters(), config_.adam);
    for (size_t i = 0; i < m.size(); ++i) {
      optimizer_->first_moments()[i].copy_(m[i]);
      optimizer_->second_moments()[i].copy_(v[i]);
    }
    optimizer_->set_steps_taken(steps);
  }
}

Adam& BayesVGG::optimizer() {
  if (!optimizer_) optimizer_ = std::make_unique<Adam>(parameters(), config_.adam);
  return *optimizer_;
}

BayesStepStats BayesVGG::step(const Tensor& x, const Tensor& labels) {
  const auto t0 = std::chrono::steady_clock::now();
  Adam& opt = optimizer();
  opt.zero_grad();
  Objective o = objective(x, labels);
  backward(o.loss);
  opt.step();
  BayesStepStats s;
  s.step = step_;
  s.estimator = estimator_;
  {
    NoGrad no_grad;
    s.nll = o.nll.item();
    s.kl = o.kl.item();
    s.loss = s.nll + config_.kl_weight * s.kl / static_cast<double>(config_.train_size);
    auto pred = argmax(o.logits.detach(), 1).to_int_vector();
    auto lab = labels.to_int_vector();
    int64_t hit = 0;
    for (size_t i = 0; i < pred.size(); ++i) hit += pred[i] == lab[i];
    s.batch_accuracy = pred.empty() ? 0.0 : static_cast<double>(hit) / static_cast<double>(pred.size());
  }
  ++step_;
  s.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return s;
}

BayesEvalStats BayesVGG::evaluate(const Tensor& x, const Tensor& labels, int samples, int64_t batch_size) {
  R2G2_CHECK(samples >= 0, "BayesVGG::evaluate: samples must be >= 0, got ", samples);
  R2G2_CHECK(batch_size > 0, "BayesVGG::evaluate: batch_size must be > 0, got ", batch_size);
  R2G2_CHECK(x.size(0) == labels.numel(), "BayesVGG::evaluate: ", x.size(0), " inputs but ", labels.numel(),
             " labels");
  NoGrad no_grad;
  const bool was_training = is_training();
  eval();
  for (BayesianModule* m : bayesian_modules())
    m->set_eval_mode(samples > 0 ? BayesMode::sample : BayesMode::mean);
  const int S = std::max(samples, 1);
  const int64_t n = x.size(0);
  const auto lab = labels.to_int_vector();
  std::vector<double> confidence;
  std::vector<bool> correct;
  double ll = 0;
  for (int64_t b0 = 0; b0 < n; b0 += batch_size) {
    const int64_t b = std::min(batch_size, n - b0);
    Tensor xb = x.slice(0, b0, b0 + b);
    std::vector<std::vector<double>> lp(S);
    int64_t C = 0;
    for (int s = 0; s < S; ++s) {
      Tensor logits = forward(xb, eval_gen_);
      C = logits.size(1);
      lp[s] = log_softmax(logits, 1).to_vector();
    }
    for (int64_t i = 0; i < b; ++i) {
      // log of the mean predictive probability, per class (log-sum-exp over the draws)
      int64_t best = 0;
      double best_p = -1, log_py = 0;
      for (int64_t c = 0; c < C; ++c) {
        double m = -INFINITY;
        for (int s = 0; s < S; ++s) m = std::max(m, lp[s][i * C + c]);
        double acc = 0;
        for (int s = 0; s < S; ++s) acc += std::exp(lp[s][i * C + c] - m);
        const double logp = m + std::log(acc / S), p = std::exp(logp);
        if (p > best_p) best_p = p, best = c;
        if (c == lab[b0 + i]) log_py = logp;
      }
      ll += log_py;
      confidence.push_back(best_p);
      correct.push_back(best == lab[b0 + i]);
    }
  }
  train(was_training);
  BayesEvalStats e;
  e.examples = n;
  e.samples = samples;
  e.test_ll = n > 0 ? ll / static_cast<double>(n) : 0.0;
  int64_t hits = 0;
  for (bool c : correct) hits += c;
  e.accuracy = n > 0 ? static_cast<double>(hits) / static_cast<double>(n) : 0.0;
  e.ece = expected_calibration_error(confidence, correct);
  return e;
}

std::string BayesVGG::describe() const {
  // Appended piece by piece: GCC 12 warns falsely (-Wrestrict) on "literal" + std::string temporaries.
  std::string s = "BayesVGG(";
  for (size_t l = 0; l < convs_.size(); ++l) {
    if (l) s += ' ';
    s += std::to_string(convs_[l]->out_channels());
    s += ':';
    s += convs_[l]->estimator().name();
    if (pool_after_[l]) s += " M";
  }
  for (const auto& l : linears_) {
    s += " | fc ";
    s += std::to_string(l->in_features());
    s += "->";
    s += std::to_string(l->out_features());
    s += ':';
    s += l->estimator().name();
  }
  s += ')';
  return s;
}

}  // namespace r2g2
