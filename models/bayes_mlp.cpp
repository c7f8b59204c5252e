#include "models/bayes_mlp.h"

#include <algorithm>
#include <chrono>
#include <cmath>

#include "core/autograd.h"
#include "core/ops.h"

namespace r2g2 {

BayesMLP::BayesMLP(const BayesMLPConfig& config)
    : config_(config), train_gen_(config.seed + 1), eval_gen_(config.seed + 2) {
  R2G2_CHECK(config.sizes.size() >= 2, "BayesMLP: sizes needs at least an input and an output size, got ",
             config.sizes.size(), " numbers");
  for (int64_t s : config.sizes) R2G2_CHECK(s > 0, "BayesMLP: every size must be positive, got ", s);
  R2G2_CHECK(config.train_size > 0, "BayesMLP: train_size (N of the ELBO) must be positive, got ",
             config.train_size);
  R2G2_CHECK(config.kl_weight >= 0 && std::isfinite(config.kl_weight),
             "BayesMLP: kl_weight must be >= 0, got ", config.kl_weight);
  schedule_ = EstimatorSchedule(config.schedule);
  current_ = schedule_.name_at(0);
  for (size_t l = 0; l + 1 < config.sizes.size(); ++l) {
    BayesLinearOptions o;
    o.prior_sigma = config.prior_sigma;
    o.mu_init = config.mu_init;
    o.rho_init = config.rho_init;
    o.rho_init_std = config.rho_init_std;
    o.estimator = current_;
    o.estimator_options = config.estimator_options;
    o.seed = config.seed * 1000 + 10 * l;  // distinct streams per layer (mu: +0, rho: +1)
    o.dtype = config.dtype;
    layers_.push_back(std::make_unique<BayesLinear>(config.sizes[l], config.sizes[l + 1], o));
    register_module("fc" + std::to_string(l + 1), layers_.back().get());
  }
}

std::vector<BayesLinear*> BayesMLP::layers() {
  std::vector<BayesLinear*> out;
  for (auto& l : layers_) out.push_back(l.get());
  return out;
}

Tensor BayesMLP::forward(const Tensor& x_in, Generator& gen) {
  Tensor h = x_in.dim() == 2 ? x_in : x_in.reshape({x_in.size(0), -1});
  for (size_t l = 0; l < layers_.size(); ++l) {
    h = layers_[l]->forward(h, gen);
    if (l + 1 < layers_.size()) h = relu(h);
  }
  return h;
}

Tensor BayesMLP::kl() const {
  Tensor total;
  for (const auto& l : layers_) total = total.defined() ? add(total, l->kl()) : l->kl();
  return total;
}

void BayesMLP::set_schedule(const EstimatorSchedule& schedule) {
  R2G2_CHECK(!schedule.empty(), "BayesMLP: empty estimator schedule");
  schedule_ = schedule;
  current_.clear();  // re-applied at the next step
}

void BayesMLP::apply_schedule(int64_t step) {
  const std::string& name = schedule_.name_at(step);
  if (name == current_) return;
  for (auto& l : layers_) l->set_estimator(name, config_.estimator_options);
  current_ = name;
}

std::vector<std::optional<R2G2Diagnostics>> BayesMLP::diagnostics() const {
  std::vector<std::optional<R2G2Diagnostics>> out;
  for (const auto& l : layers_) out.push_back(l->estimator().diagnostics());
  return out;
}

BayesMLP::Objective BayesMLP::objective(const Tensor& x, const Tensor& labels) {
  apply_schedule(step_);
  train(true);
  Objective o;
  // One softplus(rho) per layer serves both the estimator and the KL.
  Tensor h = x.dim() == 2 ? x : x.reshape({x.size(0), -1});
  for (size_t l = 0; l < layers_.size(); ++l) {
    auto [out, k] = layers_[l]->forward_and_kl(h, train_gen_);
    h = l + 1 < layers_.size() ? relu(out) : out;
    o.kl = o.kl.defined() ? add(o.kl, k) : k;
  }
  o.logits = h;
  o.nll = cross_entropy(o.logits, labels);
  const double N = static_cast<double>(config_.train_size);
  o.loss = add(o.nll, mul(o.kl, config_.kl_weight / N));
  // Score-function layers: add (s - s.detach()) with s = stopgrad(NLL) log q. KL is analytic.
  for (auto& l : layers_) {
    Estimator& e = l->estimator();
    if (!e.needs_surrogate()) continue;
    Tensor s = e.score_surrogate(o.nll);
    if (s.defined()) o.loss = add(o.loss, sub(s, s.detach()));
  }
  return o;
}

Adam& BayesMLP::optimizer() {
  if (!optimizer_) optimizer_ = std::make_unique<Adam>(parameters(), config_.adam);
  return *optimizer_;
}

BayesStepStats BayesMLP::step(const Tensor& x, const Tensor& labels) {
  auto t0 = std::chrono::steady_clock::now();
  Adam& opt = optimizer();
  opt.zero_grad();
  Objective o = objective(x, labels);
  backward(o.loss);
  opt.step();
  BayesStepStats s;
  s.step = step_;
  s.estimator = current_;
  {
    NoGrad ng;
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

BayesEvalStats BayesMLP::evaluate(const Tensor& x, const Tensor& labels, int samples, int64_t batch_size) {
  R2G2_CHECK(samples >= 0, "BayesMLP::evaluate: samples must be >= 0, got ", samples);
  R2G2_CHECK(batch_size > 0, "BayesMLP::evaluate: batch_size must be > 0, got ", batch_size);
  R2G2_CHECK(x.size(0) == labels.numel(), "BayesMLP::evaluate: ", x.size(0), " inputs but ", labels.numel(),
             " labels");
  NoGrad ng;
  const bool was_training = is_training();
  eval();
  for (auto& l : layers_) l->set_eval_mode(samples > 0 ? BayesMode::sample : BayesMode::mean);
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
      // log of the mean predictive probability per class: log-sum-exp over samples
      int best = 0;
      double best_p = -1;
      double log_py = 0;
      for (int64_t c = 0; c < C; ++c) {
        double m = -INFINITY;
        for (int s = 0; s < S; ++s) m = std::max(m, lp[s][i * C + c]);
        double acc = 0;
        for (int s = 0; s < S; ++s) acc += std::exp(lp[s][i * C + c] - m);
        const double logp = m + std::log(acc / S);
        const double p = std::exp(logp);
        if (p > best_p) {
          best_p = p;
          best = static_cast<int>(c);
        }
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

BayesEvalStats BayesMLP::evaluate(const data::Dataset& d, int samples, int64_t batch_size) {
  data::Dataset flat = d.flattened();
  Tensor x = flat.images.device() == device() ? flat.images : flat.images.to(device());
  Tensor y = flat.labels.device() == device() ? flat.labels : flat.labels.to(device());
  return evaluate(x, y, samples, batch_size);
}

void BayesMLP::to(Device device) {
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

double expected_calibration_error(const std::vector<double>& confidence, const std::vector<bool>& correct,
                                  int bins) {
  R2G2_CHECK(confidence.size() == correct.size(), "expected_calibration_error: ", confidence.size(),
             " confidences but ", correct.size(), " outcomes");
  R2G2_CHECK(bins > 0, "expected_calibration_error: bins must be > 0");
  if (confidence.empty()) return 0.0;
  std::vector<double> conf_sum(bins, 0.0), acc_sum(bins, 0.0);
  std::vector<int64_t> count(bins, 0);
  for (size_t i = 0; i < confidence.size(); ++i) {
    int k = static_cast<int>(confidence[i] * bins);
    k = std::clamp(k, 0, bins - 1);
    conf_sum[k] += confidence[i];
    acc_sum[k] += correct[i] ? 1.0 : 0.0;
    ++count[k];
  }
  double ece = 0;
  for (int k = 0; k < bins; ++k)
    if (count[k] > 0) ece += std::abs(acc_sum[k] - conf_sum[k]) / static_cast<double>(confidence.size());
  return ece;
}

}  // namespace r2g2
