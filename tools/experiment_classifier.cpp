// The Bayesian classifiers as Experiments: "mlp" (BayesMLP on flattened images) and
// "vgg11" (BayesVGG on 32x32x3 images), both trained by their BayesTrainer.
#include <algorithm>
#include <cstdio>
#include <memory>
#include <string>
#include <type_traits>

#include "r2g2/core/autograd.h"
#include "r2g2/core/data/batches.h"
#include "r2g2/core/error.h"
#include "r2g2/core/ops.h"
#include "r2g2/layers/elbo.h"
#include "r2g2/layers/serialize.h"
#include "r2g2/models/bayes_mlp.h"
#include "r2g2/models/bayes_vgg.h"
#include "tools/experiment.h"

namespace r2g2::cli {

namespace {

std::unique_ptr<BayesMLP> build(const ExperimentOptions& o, const data::Dataset& train, BayesMLP*) {
  BayesMLPConfig cfg;
  cfg.sizes = {train.example_numel()};
  cfg.sizes.insert(cfg.sizes.end(), o.hidden.begin(), o.hidden.end());
  cfg.sizes.push_back(train.num_classes);
  cfg.schedule = o.estimator;
  cfg.estimator_options = experiment_detail::solver_options(o.solver);
  cfg.train_size = train.size();
  cfg.adam.lr = o.lr;
  cfg.seed = o.seed;
  return std::make_unique<BayesMLP>(cfg);
}

std::unique_ptr<BayesVGG> build(const ExperimentOptions& o, const data::Dataset& train, BayesVGG*) {
  BayesVGGConfig cfg;
  for (int& width : cfg.layers) width = width == 0 ? 0 : std::max(1, width / o.width_divisor);
  const Shape example = train.example_shape();
  R2G2_CHECK(example.size() == 3 && example[1] == example[2], "vgg11 needs square images [C, H, W], ",
             train.name, " has ", shape_str(example));
  cfg.in_channels = static_cast<int>(example[0]);
  cfg.image_size = static_cast<int>(example[1]);
  cfg.classes = train.num_classes;
  cfg.estimator = o.estimator;
  cfg.estimator_options = experiment_detail::solver_options(o.solver);
  cfg.train_size = train.size();
  cfg.adam.lr = o.lr;
  cfg.seed = o.seed;
  return std::make_unique<BayesVGG>(cfg);
}

template <class Model>
class ClassifierExperiment final : public Experiment {
 public:
  ClassifierExperiment(ExperimentOptions options, experiment_detail::ExperimentData data)
      : Experiment(std::move(options)),
        train_(std::move(data.train)),
        test_(std::move(data.test)),
        model_(build(options_, train_, static_cast<Model*>(nullptr))),
        loader_(train_, {.batch_size = options_.batch,
                         .shuffle = true,
                         .seed = options_.seed,
                         .drop_last = true,
                         .device = options_.device}) {
    data_notice_ = std::move(data.notice);
    model_->to(options_.device);
    model_->optimizer();  // built now, so that load() can restore its state
    model_->trainer().set_cuda_graph(options_.cuda_graph);
  }

  std::string describe() const override {
    std::string model;
    if constexpr (std::is_same_v<Model, BayesMLP>)
      model = "Bayesian MLP " + shape_str(model_->config().sizes);
    else
      model = "Bayesian VGG-11" + (options_.width_divisor > 1
                                       ? " (conv widths / " + std::to_string(options_.width_divisor) + ")"
                                       : std::string(""));
    char tail[512];
    std::snprintf(tail, sizeof tail,
                  ", estimator %s%s%s, on %s (%lld training, %lld test examples), batch %lld, "
                  "Adam lr %g, seed %llu, device %s",
                  options_.estimator.c_str(), options_.solver.empty() ? "" : " solver ",
                  options_.solver.c_str(), train_.name.c_str(), (long long)train_.size(),
                  (long long)test_.size(), (long long)options_.batch, options_.lr,
                  (unsigned long long)options_.seed, options_.device.str().c_str());
    return model + tail + (data_notice_.empty() ? "" : "\n" + data_notice_);
  }
  Module& module() override { return *model_; }
  int64_t batches_per_epoch() const override { return loader_.num_batches(); }

  StepRecord step() override {
    data::Batch b = loader_.batch(static_cast<uint64_t>(epoch_), batch_index_);
    StepRecord r;
    r.epoch = epoch_;
    BayesStepStats s = model_->step(b.images, b.labels);
    require_finite_loss(s.loss, steps_ + 1);  // before the position moves past a diverged step
    advance(loader_.num_batches());
    r.step = steps_;
    r.estimator = s.estimator;
    r.loss = s.loss;
    r.nll = s.nll;
    r.kl = s.kl / static_cast<double>(train_.size());
    r.accuracy = s.batch_accuracy;
    r.seconds = s.seconds;
    return r;
  }

  EvalRecord evaluate(const EvalOptions& e) override {
    R2G2_CHECK(e.split == "train" || e.split == "test", "--split must be train or test, got '", e.split, "'");
    const data::Dataset& split = e.split == "train" ? train_ : test_;
    R2G2_CHECK(e.samples >= 0, "--samples must be >= 0, got ", e.samples);
    const int64_t n = e.max_examples > 0 ? std::min(e.max_examples, split.size()) : split.size();
    data::Dataset part = split.slice(0, n);
    BayesEvalStats s =
        model_->evaluate(part.images.to(options_.device), part.labels.to(options_.device), e.samples);
    EvalRecord r;
    r.split = e.split;
    r.examples = n;
    r.accuracy = s.accuracy;
    r.log_likelihood = s.test_ll;
    r.ece = s.ece;
    r.samples = e.samples;
    return r;
  }

  void save(const std::string& path) const override {
    Model& model = *model_;
    TrainingState state = training_state(model);
    state.metadata = experiment_detail::checkpoint_metadata(options_, steps_, epoch_, batch_index_);
    save_module(model, path, state);
  }

  void load(const std::string& path) override {
    auto metadata = experiment_detail::read_checkpoint_metadata(path);
    experiment_detail::check_checkpoint_fits(path, metadata, options_);
    // Everything is checked before load_module changes parameters and optimizer state.
    const auto position = experiment_detail::checked_position(path, metadata, loader_.num_batches());
    TrainingState state = training_state(*model_);
    load_module(*model_, path, state);
    steps_ = position.steps;
    epoch_ = position.epoch;
    batch_index_ = position.batch_index;
    model_->trainer().set_steps_taken(steps_);
    model_->trainer().use_training_stream();
    model_->trainer().set_cuda_graph(options_.cuda_graph);  // a graph captured before the load is stale
  }

  std::vector<std::string> variance_layers() const override {
    if constexpr (std::is_same_v<Model, BayesMLP>)
      return {"fc1", "fc" + std::to_string(model_->config().sizes.size() - 1)};
    else
      return {"conv5", "conv8"};
  }

  void set_fixed_batch(int64_t size, uint64_t seed) override {
    R2G2_CHECK(size > 0 && size <= train_.size(), "fixed batch size must be in [1, ", train_.size(),
               "], got ", size);
    data::BatchLoader picker(train_,
                             {.batch_size = size, .shuffle = true, .seed = seed, .device = options_.device});
    fixed_ = picker.batch(0, 0);
  }

  LayerGradients gradient_draw(const std::string& estimator, uint64_t noise_seed) override {
    R2G2_CHECK(fixed_.images.defined(), "gradient_draw needs set_fixed_batch first");
    Model& model = *model_;
    model.set_estimator(estimator);
    model.zero_grad();
    model.train(true);
    model.set_noise_source(std::make_shared<Generator>(noise_seed));
    LayerGradients out;
    try {
      Tensor logits = model.forward(fixed_.images);
      Tensor nll = cross_entropy(logits, fixed_.labels);
      Tensor loss = elbo_loss(nll, model.kl(), 1.0, train_.size(), model.bayesian_modules());
      backward(loss);
      for (const auto& layer : variance_layers())
        for (const auto& [name, p] : model.named_parameters())
          if (name.rfind(layer + ".", 0) == 0 && p.grad().defined())
            out.emplace_back(name, p.grad().to_vector());
    } catch (...) {
      restore_after_draw();
      throw;
    }
    restore_after_draw();
    return out;
  }

 private:
  static TrainingState training_state(Model& model) {
    TrainingState state;
    state.optimizer = &model.optimizer();
    state.generators = noise_generators(model);
    state.generators["trainer.train"] = &model.trainer().train_generator();
    state.generators["trainer.eval"] = &model.trainer().eval_generator();
    return state;
  }
  void restore_after_draw() {
    model_->zero_grad();
    model_->set_estimator(options_.estimator);
    model_->trainer().use_training_stream();
  }

  data::Dataset train_, test_;
  std::unique_ptr<Model> model_;
  data::BatchLoader loader_;
  data::Batch fixed_;
};

}  // namespace

namespace experiment_detail {

std::unique_ptr<Experiment> make_classifier(const ExperimentOptions& options) {
  ExperimentOptions o = options;
  ExperimentData data = load_data(o);
  if (o.model == "mlp") return std::make_unique<ClassifierExperiment<BayesMLP>>(o, std::move(data));
  return std::make_unique<ClassifierExperiment<BayesVGG>>(o, std::move(data));
}

}  // namespace experiment_detail

}  // namespace r2g2::cli
