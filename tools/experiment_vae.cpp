// The paper's VAEs as Experiments ("vae1", "vae2", "vae3": 1-3 stochastic layers) on
// flattened images, binarised afresh at every step (VAE::step), scored by the IWAE bound.
#include <algorithm>
#include <cstdio>
#include <limits>
#include <memory>
#include <string>

#include "r2g2/core/autograd.h"
#include "r2g2/core/data/batches.h"
#include "r2g2/core/error.h"
#include "r2g2/layers/serialize.h"
#include "r2g2/models/vae.h"
#include "tools/experiment.h"

namespace r2g2::cli {

namespace {

// Examples scored at once by the IWAE evaluation: memory grows with chunk x this.
constexpr int64_t kIwaeExamplesAtOnce = 100;

class VAEExperiment final : public Experiment {
 public:
  VAEExperiment(ExperimentOptions options, experiment_detail::ExperimentData data)
      : Experiment(std::move(options)),
        train_(std::move(data.train)),
        test_(std::move(data.test)),
        model_(config(options_, train_)),
        loader_(train_, {.batch_size = options_.batch,
                         .shuffle = true,
                         .seed = options_.seed,
                         .drop_last = true,
                         .flatten = true,
                         .device = options_.device}) {
    data_notice_ = std::move(data.notice);
    model_.to(options_.device);
  }

  std::string describe() const override {
    char text[512];
    std::snprintf(
        text, sizeof text,
        "VAE with %d stochastic layer%s of 50 units (%lld pixels, tanh hidden layers of 200), estimator "
        "%s%s%s on the v1 -> "
        "decoder layer, on %s (%lld training, %lld test examples, dynamically binarised), batch %lld, "
        "Adam lr %g, seed %llu, device %s",
        model_.layers(), model_.layers() > 1 ? "s" : "", (long long)train_.example_numel(),
        options_.estimator.c_str(), options_.solver.empty() ? "" : " solver ", options_.solver.c_str(),
        train_.name.c_str(), (long long)train_.size(), (long long)test_.size(), (long long)options_.batch,
        options_.lr, (unsigned long long)options_.seed, options_.device.str().c_str());
    return text;
  }
  Module& module() override { return model_; }
  int64_t batches_per_epoch() const override { return loader_.num_batches(); }

  StepRecord step() override {
    data::Batch b = loader_.batch(static_cast<uint64_t>(epoch_), batch_index_);
    StepRecord r;
    r.epoch = epoch_;
    VAEStepStats s = model_.step(b.images);
    require_finite_loss(s.loss, steps_ + 1);  // before the position moves past a diverged step
    advance(loader_.num_batches());
    r.step = steps_;
    r.estimator = options_.estimator;
    r.loss = s.loss;
    r.nll = s.nll;
    r.kl = s.kl;
    r.seconds = s.seconds;
    return r;
  }

  EvalRecord evaluate(const EvalOptions& e) override {
    R2G2_CHECK(e.split == "train" || e.split == "test", "--split must be train or test, got '", e.split, "'");
    R2G2_CHECK(e.iwae_samples >= 1, "--iwae-samples must be positive, got ", e.iwae_samples);
    R2G2_CHECK(e.iwae_chunk >= 1, "--iwae-chunk must be positive, got ", e.iwae_chunk);
    const data::Dataset& split = e.split == "train" ? train_ : test_;
    const int64_t n = e.max_examples > 0 ? std::min(e.max_examples, split.size()) : split.size();
    Generator binarize_stream(derive_seed(e.seed, 1));
    double total = 0;
    for (int64_t start = 0, part = 0; start < n; start += kIwaeExamplesAtOnce, ++part) {
      const int64_t count = std::min(kIwaeExamplesAtOnce, n - start);
      Tensor x = binarize(split.images.slice(0, start, start + count).to(options_.device), binarize_stream);
      for (double b : model_.iwae_bound(x, e.iwae_samples, std::min(e.iwae_chunk, e.iwae_samples),
                                        derive_seed(e.seed, 1000 + static_cast<uint64_t>(part))))
        total += b;
    }
    EvalRecord r;
    r.split = e.split;
    r.examples = n;
    // An empty split has no bound (NaN, null in JSON), not a bound of 0.
    r.iwae_bound = n > 0 ? total / static_cast<double>(n) : std::numeric_limits<double>::quiet_NaN();
    r.iwae_samples = e.iwae_samples;
    return r;
  }

  void save(const std::string& path) const override {
    VAE& model = const_cast<VAE&>(model_);  // save_module only reads through these pointers
    TrainingState state = training_state(model);
    state.metadata = experiment_detail::checkpoint_metadata(options_, steps_, epoch_, batch_index_);
    save_module(model, path, state);
  }

  void load(const std::string& path) override {
    auto metadata = experiment_detail::read_checkpoint_metadata(path);
    experiment_detail::check_checkpoint_fits(path, metadata, options_);
    // Everything is checked before load_module changes parameters and optimizer state.
    const auto position = experiment_detail::checked_position(path, metadata, loader_.num_batches());
    TrainingState state = training_state(model_);
    load_module(model_, path, state);
    steps_ = position.steps;
    epoch_ = position.epoch;
    batch_index_ = position.batch_index;
    model_.set_steps_taken(steps_);
  }

  std::vector<std::string> variance_layers() const override { return {"px_input"}; }

  void set_fixed_batch(int64_t size, uint64_t seed) override {
    R2G2_CHECK(size > 0 && size <= train_.size(), "fixed batch size must be in [1, ", train_.size(),
               "], got ", size);
    data::BatchLoader picker(
        train_,
        {.batch_size = size, .shuffle = true, .seed = seed, .flatten = true, .device = options_.device});
    Generator binarize_stream(derive_seed(seed, 7));
    fixed_ = binarize(picker.batch(0, 0).images, binarize_stream);
  }

  LayerGradients gradient_draw(const std::string& estimator, uint64_t noise_seed) override {
    R2G2_CHECK(fixed_.defined(), "gradient_draw needs set_fixed_batch first");
    model_.set_estimator(estimator, estimator_options());
    LayerGradients out;
    try {
      model_.zero_grad();
      model_.train(true);
      Generator noise(noise_seed);
      VAEObjective o = model_.elbo(fixed_, noise);
      backward(o.loss);
      for (const auto& [name, p] : model_.named_parameters())
        if (name.rfind("px_input.", 0) == 0 && p.grad().defined())
          out.emplace_back(name, p.grad().to_vector());
    } catch (...) {
      model_.zero_grad();
      model_.set_estimator(options_.estimator, estimator_options());
      throw;
    }
    model_.zero_grad();
    model_.set_estimator(options_.estimator, estimator_options());
    return out;
  }

 private:
  EstimatorOptions estimator_options() const { return experiment_detail::solver_options(options_.solver); }
  static VAEConfig config(const ExperimentOptions& o, const data::Dataset& train) {
    VAEConfig c;
    c.layers = o.model[3] - '0';
    c.input = train.example_numel();
    c.estimator = o.estimator;
    c.estimator_options = experiment_detail::solver_options(o.solver);
    c.seed = o.seed;
    c.adam.lr = o.lr;
    return c;
  }
  static TrainingState training_state(VAE& model) {
    TrainingState state;
    state.optimizer = &model.optimizer();
    state.generators = noise_generators(model);
    state.generators["vae.train"] = &model.train_generator();
    state.generators["vae.binarize"] = &model.binarize_generator();
    return state;
  }

  data::Dataset train_, test_;
  VAE model_;
  data::BatchLoader loader_;
  Tensor fixed_;
};

}  // namespace

namespace experiment_detail {

std::unique_ptr<Experiment> make_vae(const ExperimentOptions& options) {
  ExperimentOptions o = options;
  ExperimentData data = load_data(o);
  return std::make_unique<VAEExperiment>(o, std::move(data));
}

}  // namespace experiment_detail

}  // namespace r2g2::cli
