#include "r2g2/models/bayes_vgg.h"

#include <algorithm>
#include <cmath>

#include "r2g2/core/ops.h"

namespace r2g2 {

namespace {
BayesTrainerOptions trainer_options(const BayesVGGConfig& c) {
  return {.train_size = c.train_size, .kl_weight = c.kl_weight, .adam = c.adam, .seed = c.seed};
}
}  // namespace

BayesVGG::BayesVGG(const BayesVGGConfig& config)
    : config_(config), trainer_(*this, trainer_options(config), "BayesVGG") {
  R2G2_CHECK(config.in_channels > 0 && config.image_size > 0 && config.classes > 0,
             "BayesVGG: in_channels, image_size and classes must be positive, got ", config.in_channels, ", ",
             config.image_size, ", ", config.classes);
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
    o.seed = derive_seed(config.seed, 1000 + index);  // per layer (mu: this stream, rho: + 1)
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
    o.seed = derive_seed(config.seed, 2000 + l);
    o.dtype = config.dtype;
    linears_.push_back(std::make_unique<BayesLinear>(sizes[l], sizes[l + 1], o));
    register_module("fc" + std::to_string(l + 1), linears_.back().get());
  }
  std::vector<BayesianModule*> upper;
  for (size_t l = static_cast<size_t>(std::max(config.rt_conv_layers, 0)); l < convs_.size(); ++l)
    upper.push_back(convs_[l].get());
  trainer_.set_schedule(EstimatorSchedule(config.estimator), upper, config.estimator_options);
  trainer_.set_forward_and_kl([this](const Tensor& x) { return forward_and_kl(x); });
  trainer_.use_training_stream();
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

void BayesVGG::check_input(const Tensor& x) const {
  R2G2_CHECK(x.dim() == 4 && x.size(1) == config_.in_channels && x.size(2) == config_.image_size &&
                 x.size(3) == config_.image_size,
             "BayesVGG: input ", shape_str(x.shape()), " must be [B, ", config_.in_channels, ", ",
             config_.image_size, ", ", config_.image_size, "]");
}

Tensor BayesVGG::forward(const Tensor& x) {
  check_input(x);
  Tensor h = x;
  for (int i = 0; i < leading_pools_; ++i) h = max_pool2d(h, 2);
  for (size_t l = 0; l < convs_.size(); ++l) {
    h = relu(convs_[l]->forward(h));
    if (pool_after_[l]) h = max_pool2d(h, 2);
  }
  h = reshape(h, {h.size(0), -1});
  for (size_t l = 0; l < linears_.size(); ++l) {
    h = linears_[l]->forward(h);
    if (l + 1 < linears_.size()) h = relu(h);
  }
  return h;
}

// The layer KLs are summed in total_kl's order (the modules' registration order), so the
// total is the same float as forward(x) followed by kl().
std::pair<Tensor, Tensor> BayesVGG::forward_and_kl(const Tensor& x) {
  check_input(x);
  Tensor h = x, kl;
  auto add_kl = [&kl](const Tensor& k) { kl = kl.defined() ? add(kl, k) : k; };
  for (int i = 0; i < leading_pools_; ++i) h = max_pool2d(h, 2);
  for (size_t l = 0; l < convs_.size(); ++l) {
    auto [out, k] = convs_[l]->forward_and_kl(h);
    h = relu(out);
    add_kl(k);
    if (pool_after_[l]) h = max_pool2d(h, 2);
  }
  h = reshape(h, {h.size(0), -1});
  for (size_t l = 0; l < linears_.size(); ++l) {
    auto [out, k] = linears_[l]->forward_and_kl(h);
    h = l + 1 < linears_.size() ? relu(out) : out;
    add_kl(k);
  }
  return {h, kl};  // defined: there is always a classifier layer
}

void BayesVGG::set_estimator(const std::string& name) { trainer_.set_schedule(EstimatorSchedule(name)); }

std::vector<std::optional<R2G2Diagnostics>> BayesVGG::conv_diagnostics() const {
  std::vector<std::optional<R2G2Diagnostics>> out;
  for (const auto& l : convs_) out.push_back(l->estimator().diagnostics());
  return out;
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
