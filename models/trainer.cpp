#include "r2g2/models/trainer.h"

#include <chrono>
#include <cmath>
#include <set>

#include "r2g2/core/autograd.h"
#include "r2g2/core/cuda/graph.h"
#include "r2g2/core/dispatch.h"
#include "r2g2/core/error.h"
#include "r2g2/core/ops.h"
#include "r2g2/kernels/cuda/graph.h"
#include "r2g2/layers/elbo.h"
#include "r2g2/layers/serialize.h"

namespace r2g2 {

namespace {

// Points the model's Bayesian layers at `during` for a scope, then back at `after`.
class NoiseSourceScope {
 public:
  NoiseSourceScope(Module& model, std::shared_ptr<Generator> during, std::shared_ptr<Generator> after)
      : model_(model), after_(std::move(after)) {
    model_.set_noise_source(std::move(during));
  }
  ~NoiseSourceScope() { model_.set_noise_source(after_); }
  NoiseSourceScope(const NoiseSourceScope&) = delete;
  NoiseSourceScope& operator=(const NoiseSourceScope&) = delete;

 private:
  Module& model_;
  std::shared_ptr<Generator> after_;
};

double batch_accuracy(const Tensor& predicted, const Tensor& labels) {
  const auto pred = predicted.to_int_vector();
  const auto lab = labels.to_int_vector();
  int64_t hit = 0;
  for (size_t i = 0; i < pred.size(); ++i) hit += pred[i] == lab[i];
  return pred.empty() ? 0.0 : static_cast<double>(hit) / static_cast<double>(pred.size());
}

// cross_entropy (core/ops.h) on a CUDA device, with the loss and the label check left on the
// device (kernels/cuda/graph.h), so that a captured step can hold it: the same value and
// gradient. *bad_row receives the first row whose label is out of range, or -1
// (check_labels reads it).
Tensor device_cross_entropy(const Tensor& logits, const Tensor& labels, Tensor* bad_row) {
  R2G2_CHECK(
      logits.dim() == 2 && labels.dtype() == DType::i32 && labels.dim() == 1 &&
          labels.shape()[0] == logits.shape()[0] && logits.numel() > 0 && logits.device() == labels.device(),
      "cross_entropy: logits of shape ", shape_str(logits.shape()), " and int32 labels of shape ",
      shape_str(labels.shape()), " on one device expected, got ", dtype_name(labels.dtype()), " labels");
  const int64_t rows = logits.shape()[0], cols = logits.shape()[1];
  Tensor x = logits.detach().contiguous();
  Tensor lab = labels.detach().contiguous();
  Tensor log_probs = Tensor::empty(logits.shape(), logits.dtype(), logits.device());
  Tensor loss = Tensor::empty({}, logits.dtype(), logits.device());
  *bad_row = Tensor::empty({1}, DType::i32, logits.device());
  dispatch_floating(logits.dtype(), "cross_entropy", [&](auto tag) {
    using T = decltype(tag);
    auto kernel = R2G2_CUDA_ONLY_KERNEL(logits.device(), cross_entropy_on_device<T>);
    R2G2_CHECK(kernel, "cross_entropy kept on the device needs a CUDA tensor, got one on ",
               logits.device().str());
    kernel(x.data<T>(), lab.data<int32_t>(), log_probs.data<T>(), loss.data<T>(), bad_row->data<int32_t>(),
           rows, cols);
  });
  // The backward of core/ops_loss.cpp's cross_entropy.
  return record("cross_entropy", loss, {logits}, [log_probs, lab, rows, cols](const Tensor& g) {
    Tensor gx = Tensor::empty(log_probs.shape(), log_probs.dtype(), log_probs.device());
    dispatch_floating(log_probs.dtype(), "cross_entropy backward", [&](auto tag) {
      using T = decltype(tag);
      auto backward_kernel = R2G2_KERNEL(gx.device(), cross_entropy_backward<T>);
      backward_kernel(log_probs.data<T>(), lab.data<int32_t>(), T(1), gx.data<T>(), rows, cols);
    });
    return std::vector<Tensor>{mul(gx, g)};
  });
}

// The error core/ops_loss.cpp's cross_entropy raises for a bad label, from device_cross_entropy's row.
void check_labels(const Tensor& bad_row, const Tensor& labels, int64_t classes) {
  const int32_t row = bad_row.to_int_vector()[0];
  if (row < 0) return;
  const int32_t label = labels.slice(0, row, row + 1).to_int_vector()[0];
  throw Error(detail::concat("cross_entropy: label ", label, " in row ", row, " is outside [0, ", classes,
                             ") for logits of ", classes, " classes"));
}

}  // namespace

// The CUDA-graph mode's state: the static input buffers the graph reads, the captured
// step's outputs that every replay rewrites, and the graph.
struct BayesTrainer::GraphState {
  Tensor x, labels;
  int warmups_done = 0;
  std::unique_ptr<cuda_backend::StepGraph> graph;
  Tensor nll, kl, predicted, bad_row;
  int64_t classes = 0;
  // Frozen into the captured update as kernel arguments (lr and t are read per replay).
  double beta1 = 0, beta2 = 0, eps = 0, weight_decay = 0;
};

BayesTrainer::BayesTrainer(Module& model, const BayesTrainerOptions& options, std::string who)
    : model_(model),
      options_(options),
      who_(std::move(who)),
      train_gen_(std::make_shared<Generator>(derive_seed(options.seed, 1))),
      eval_gen_(std::make_shared<Generator>(derive_seed(options.seed, 2))) {
  R2G2_CHECK(options.train_size > 0, who_, ": train_size (N of the ELBO) must be positive, got ",
             options.train_size);
  R2G2_CHECK(options.kl_weight >= 0 && std::isfinite(options.kl_weight), who_, ": kl_weight must be >= 0, got ",
             options.kl_weight);
  use_training_stream();
}

void BayesTrainer::set_schedule(const EstimatorSchedule& schedule, std::vector<BayesianModule*> layers,
                                const EstimatorOptions& options) {
  scheduled_ = std::move(layers);
  estimator_options_ = options;
  set_schedule(schedule);
}

void BayesTrainer::set_schedule(const EstimatorSchedule& schedule) {
  R2G2_CHECK(!schedule.empty(), who_, ": empty estimator schedule");
  schedule_ = schedule;
  current_.clear();  // forces the re-application below
  apply_schedule(step_);
}

void BayesTrainer::apply_schedule(int64_t step) {
  if (schedule_.empty()) return;
  const std::string& name = schedule_.name_at(step);
  if (name == current_) return;
  for (BayesianModule* layer : scheduled_) layer->set_estimator(name, estimator_options_);
  current_ = name;
}

void BayesTrainer::refuse_pending_score_terms() {
  std::string stale;
  for (BayesianModule* m : model_.bayesian_modules()) {
    if (!m->has_estimator() || !m->estimator().has_pending_score_term()) continue;
    stale += (stale.empty() ? "" : ", ") + m->describe();
    m->estimator().discard_score_term();
  }
  if (!stale.empty())
    throw Error(who_ + ": refused: a forward left score-function terms that never reached a "
                       "loss (" + stale + "), so mu and sigma of those layers received no gradient; form such a "
                       "loss with elbo_loss or with_score_surrogates (layers/elbo.h). The terms are dropped.");
}

BayesObjective BayesTrainer::objective(const Tensor& x, const Tensor& labels) {
  return objective(x, labels, nullptr);
}

BayesObjective BayesTrainer::objective(const Tensor& x, const Tensor& labels, Tensor* bad_row) {
  refuse_pending_score_terms();
  apply_schedule(step_);
  model_.train(true);
  use_training_stream();
  BayesObjective o;
  if (forward_and_kl_) {
    std::tie(o.logits, o.kl) = forward_and_kl_(x);
  } else {
    o.logits = model_.forward(x);
    o.kl = total_kl(model_);
  }
  o.nll = bad_row ? device_cross_entropy(o.logits, labels, bad_row) : cross_entropy(o.logits, labels);
  o.loss = elbo_loss(o.nll, o.kl, options_.kl_weight, options_.train_size, model_.bayesian_modules());
  return o;
}

Adam& BayesTrainer::optimizer() {
  if (!optimizer_) optimizer_ = std::make_unique<Adam>(model_.parameters(), options_.adam);
  return *optimizer_;
}

void BayesTrainer::finish_stats(BayesStepStats& s, double nll, double kl) const {
  s.nll = nll;
  s.kl = kl;
  s.loss = s.nll + options_.kl_weight * s.kl / static_cast<double>(options_.train_size);
  require_finite_loss(s.loss, s.step + 1);  // steps count from 1 in messages
}

BayesStepStats BayesTrainer::step(const Tensor& x, const Tensor& labels) {
  if (options_.cuda_graph) return graph_step(x, labels);
  return eager_step(x, labels, false);
}

BayesStepStats BayesTrainer::eager_step(const Tensor& x, const Tensor& labels, bool device_loss) {
  const auto t0 = std::chrono::steady_clock::now();
  Adam& opt = optimizer();
  opt.zero_grad();
  Tensor bad_row;
  BayesObjective o = objective(x, labels, device_loss ? &bad_row : nullptr);
  backward(o.loss);
  BayesStepStats s;
  s.step = step_;
  s.estimator = current_;
  {
    // Read before the update (the device waits here either way), so that a non-finite
    // loss stops training with the parameters still finite.
    NoGrad no_grad;
    if (device_loss) check_labels(bad_row, labels, o.logits.size(1));
    finish_stats(s, o.nll.item(), o.kl.item());
    s.batch_accuracy = batch_accuracy(argmax(o.logits.detach(), 1), labels);
  }
  opt.step();
  ++step_;
  s.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return s;
}

void BayesTrainer::set_cuda_graph(bool on) {
  options_.cuda_graph = on;
  graph_.reset();
}

bool BayesTrainer::cuda_graph_captured() const { return graph_ && graph_->graph && graph_->graph->captured(); }

BayesStepStats BayesTrainer::graph_step(const Tensor& x, const Tensor& labels) {
  R2G2_CHECK(x.device().is_cuda(), who_,
             ": the CUDA-graph mode (--cuda-graph) needs a CUDA device; the batch is on ", x.device().str());
  std::set<std::string> estimators;
  for (const auto& segment : schedule_.segments()) estimators.insert(segment.first);
  R2G2_CHECK(estimators.size() <= 1, who_,
             ": the CUDA-graph mode captures one step, and the estimator schedule ", schedule_.str(),
             " switches estimators; train with one estimator, or without --cuda-graph");
  R2G2_CHECK(options_.cuda_graph_warmup >= 1, who_,
             ": the CUDA-graph mode needs at least one eager warm-up step, got cuda_graph_warmup ",
             options_.cuda_graph_warmup);
  if (!graph_) graph_ = std::make_shared<GraphState>();
  GraphState& g = *graph_;
  if (!g.x.defined()) {
    // Made before the warm-up (the graph object holds device words too), so that the
    // warm-up leaves in the cache exactly the blocks the captured step will ask for.
    g.x = Tensor::empty(x.shape(), x.dtype(), x.device());
    g.labels = Tensor::empty(labels.shape(), labels.dtype(), labels.device());
    g.graph = std::make_unique<cuda_backend::StepGraph>();
  }
  R2G2_CHECK(x.shape() == g.x.shape() && labels.shape() == g.labels.shape() && x.device() == g.x.device(),
             who_, ": the CUDA-graph mode replays one batch shape, ", shape_str(g.x.shape()), " on ",
             g.x.device().str(), ", and got ", shape_str(x.shape()), " on ", x.device().str(),
             "; drop the last partial batch");
  g.x.copy_(x);
  g.labels.copy_(labels);
  if (g.warmups_done < options_.cuda_graph_warmup) {
    // Eager, on the static buffers and with the loss the graph will hold, so that the
    // cache ends up holding exactly the blocks the captured step asks for.
    BayesStepStats s = eager_step(g.x, g.labels, true);
    ++g.warmups_done;
    return s;
  }
  if (!g.graph) g.graph = std::make_unique<cuda_backend::StepGraph>();  // a failed capture dropped it
  if (!g.graph->captured()) capture_graph();

  const auto t0 = std::chrono::steady_clock::now();
  Adam& opt = optimizer();
  R2G2_CHECK(opt.options.beta1 == g.beta1 && opt.options.beta2 == g.beta2 && opt.options.eps == g.eps &&
                 opt.options.weight_decay == g.weight_decay,
             who_, ": Adam's beta1, beta2, eps or weight_decay changed after the step was captured as a CUDA ",
             "graph (they are part of the graph; only lr may change); turn the CUDA-graph mode off and on ",
             "again to capture anew");
  g.graph->set_adam(opt.options.lr, opt.options.beta1, opt.options.beta2, opt.steps_taken() + 1);
  g.graph->replay();  // advances the noise streams, as the eager forward does
  BayesStepStats s;
  s.step = step_;
  s.estimator = current_;
  {
    NoGrad no_grad;
    // A bad label or a non-finite loss cleared the graph's finite flag, so its Adam update
    // left the parameters and moments alone; the error is the eager step's.
    check_labels(g.bad_row, g.labels, g.classes);
    finish_stats(s, g.nll.item(), g.kl.item());
    s.batch_accuracy = batch_accuracy(g.predicted, g.labels);
  }
  opt.set_steps_taken(opt.steps_taken() + 1);
  ++step_;
  s.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return s;
}

void BayesTrainer::capture_graph() {
  GraphState& g = *graph_;
  Adam& opt = optimizer();
  cuda_backend::StepGraph* graph = g.graph.get();
  graph->follow(*train_gen_);
  for (const auto& [name, gen] : noise_generators(model_)) graph->follow(*gen);
  const int64_t adam_steps = opt.steps_taken();
  Tensor nll, kl, predicted, bad_row;
  int64_t classes = 0;
  try {
    graph->capture([&] {
      opt.zero_grad();
      BayesObjective o = objective(g.x, g.labels, &bad_row);
      backward(o.loss);
      NoGrad no_grad;
      // The nll and the KL, the two values the host's check after the replay reads
      // (finish_stats), so that the update is skipped exactly when that check throws.
      for (const Tensor& t : {o.nll, o.kl}) {
        R2G2_CHECK(t.is_contiguous(), who_, ": a loss term is a strided view");
        if (t.dtype() == DType::f64)
          graph->mark_loss_finite(t.data<double>(), t.numel());
        else
          graph->mark_loss_finite(t.data<float>(), t.numel());
      }
      opt.step();
      nll = o.nll.detach();
      kl = o.kl.detach();
      predicted = argmax(o.logits.detach(), 1);
      classes = o.logits.size(1);
    });
  } catch (const Error& e) {
    opt.set_steps_taken(adam_steps);  // the capture ran nothing
    g.graph.reset();
    throw Error(who_ + ": --cuda-graph with estimator " + current_ + ": " + e.what());
  }
  opt.set_steps_taken(adam_steps);
  g.nll = nll;
  g.kl = kl;
  g.predicted = predicted;
  g.bad_row = bad_row;
  g.classes = classes;
  g.beta1 = opt.options.beta1;
  g.beta2 = opt.options.beta2;
  g.eps = opt.options.eps;
  g.weight_decay = opt.options.weight_decay;
}

BayesEvalStats BayesTrainer::evaluate(const Tensor& x, const Tensor& labels, int samples, int64_t batch_size) {
  NoiseSourceScope scope(model_, eval_gen_, train_gen_);
  return bayes_evaluate(
      model_, [this](const Tensor& xb) { return model_.forward(xb); }, x, labels, samples, batch_size,
      who_ + "::evaluate");
}

}  // namespace r2g2
