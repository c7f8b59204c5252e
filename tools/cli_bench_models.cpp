// `r2g2 bench models`: ms per training step (forward, backward, Adam) of the paper's
// models, built straight from the library, on synthetic inputs of the paper's shapes, one
// row per (model, estimator). tools/bench-vs-torch.sh puts these rows beside the same
// models written in plain PyTorch (tools/torch_reference.py).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <functional>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "r2g2/core/device.h"
#include "r2g2/core/error.h"
#include "r2g2/core/ops.h"
#include "r2g2/core/profiler.h"
#include "r2g2/core/random.h"
#include "r2g2/estimators/estimator.h"
#include "r2g2/estimators/table.h"
#include "r2g2/kernels/cpu/gemm.h"
#include "r2g2/kernels/runtime/thread_pool.h"
#include "r2g2/models/bayes_mlp.h"
#include "r2g2/models/bayes_vgg.h"
#include "r2g2/models/vae.h"
#include "tools/bench_models_r2g2_layers.h"
#include "tools/cli.h"
#include "tools/run_log.h"

namespace {

using namespace r2g2;
using cli::split_list;

struct BenchSettings {
  int64_t batch = 80, vgg_batch = 16, steps = 10, warmup = 2, width_divisor = 1;
  Device device;
  uint64_t seed = 1;
};

struct Row {
  std::string model, estimator;
  int64_t batch = 0;
  double median_ms = 0, min_ms = 0;
  double r2g2_kernel_ms = -1;  // per step, from the op profiler; < 0: not measured
  int64_t r2g2_kernel_calls = 0;
};

// A model ready to train: `step` runs one forward, backward and Adam update.
struct Trainable {
  std::function<void()> step;
};

int64_t divided(int64_t width, int64_t divisor) { return std::max<int64_t>(1, width / divisor); }

// Pixels in (0, 1) from a fixed seed, like images.
Tensor synthetic_pixels(const Shape& shape, uint64_t seed) {
  NoGrad ng;
  return mul(add(tanh(Tensor::randn(shape, seed, 0)), 1.0), 0.5);
}

Tensor synthetic_labels(int64_t batch, uint64_t seed) {
  std::vector<int32_t> labels(static_cast<size_t>(batch));
  auto u = Tensor::randn({batch}, seed, 0, DType::f64).to_vector();
  for (int64_t i = 0; i < batch; ++i)
    labels[static_cast<size_t>(i)] =
        static_cast<int32_t>(std::min(9.0, std::floor(5.0 * (1.0 + std::erf(u[i] / std::sqrt(2.0))))));
  return Tensor::from_vector(labels, {batch});
}

// The model named `model` with `estimator` in place, holding its own synthetic batch.
// Throws r2g2::Error for an unknown model or an estimator the model does not support.
Trainable make_trainable(const std::string& model, const std::string& estimator, const BenchSettings& s,
                         int64_t& batch_out) {
  const Device dev = s.device;
  if (model == "mlp") {
    BayesMLPConfig cfg;
    const int64_t hidden = divided(1024, s.width_divisor);
    cfg.sizes = {784, hidden, hidden, 10};
    cfg.seed = s.seed;
    cfg.schedule = estimator;
    auto net = std::make_shared<BayesMLP>(cfg);
    net->to(dev);
    Tensor x = synthetic_pixels({s.batch, 784}, s.seed + 101).to(dev);
    Tensor y = synthetic_labels(s.batch, s.seed + 102).to(dev);
    batch_out = s.batch;
    return {[net, x, y] { net->step(x, y); }};
  }
  if (model == "vgg11") {
    BayesVGGConfig cfg;
    for (int& w : cfg.layers)
      if (w > 0) w = static_cast<int>(divided(w, s.width_divisor));
    cfg.estimator = estimator;
    cfg.seed = s.seed;
    auto net = std::make_shared<BayesVGG>(cfg);
    net->to(dev);
    Tensor x = synthetic_pixels({s.vgg_batch, 3, 32, 32}, s.seed + 201).to(dev);
    Tensor y = synthetic_labels(s.vgg_batch, s.seed + 202).to(dev);
    batch_out = s.vgg_batch;
    return {[net, x, y] { net->step(x, y); }};
  }
  if (model == "vae1" || model == "vae2" || model == "vae3") {
    VAEConfig cfg;
    cfg.layers = model[3] - '0';
    cfg.hidden = divided(200, s.width_divisor);
    cfg.estimator = estimator;
    cfg.seed = s.seed;
    auto net = std::make_shared<VAE>(cfg);
    net->to(dev);
    Generator gen(s.seed + 302);
    Tensor x = binarize(synthetic_pixels({s.batch, 784}, s.seed + 301), gen).to(dev);
    batch_out = s.batch;
    return {[net, x] { net->step_binary(x); }};
  }
  R2G2_CHECK(false, "r2g2 bench models: unknown model '", model,
             "' in --models; known: mlp, vgg11, vae1, vae2, vae3");
  return {};
}

// Whether `model` can run `estimator` where its estimator sits (mlp: linear layers, vgg11:
// conv layers, VAEs: the latent -> decoder layer). An unknown estimator is an error here.
bool supports(const std::string& model, const std::string& estimator) {
  const std::string name = estimator.substr(0, estimator.find(':'));  // mlp schedules: r2g2:2000
  make_estimator(name);  // throws, naming the known estimators, for an unknown one
  const est::EstimatorEntry* entry = est::find_estimator(name);
  if (!entry) return false;
  if (model == "vgg11") return entry->conv2d != nullptr;
  if (model == "mlp") return entry->linear != nullptr;
  return entry->latent_linear != nullptr;
}

std::string default_estimators(const std::string& model) {
  if (model == "mlp") return "rt,lrt,flipout,r2g2";
  if (model == "vgg11") return "rt,r2g2";
  return "rt,r2g2,r2g2-paper";
}

double ms_since(std::chrono::steady_clock::time_point t0) {
  return 1e3 * std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Profiled time of the kernels whose name holds "r2g2" (the eps* solves and ratios).
std::pair<double, uint64_t> r2g2_kernel_totals() {
  double seconds = 0;
  uint64_t calls = 0;
  for (const auto& r : profiler::report())
    if (r.kind == profiler::Kind::kernel && r.name.find("r2g2") != std::string::npos) {
      seconds += r.total_seconds;
      calls += r.calls;
    }
  return {seconds, calls};
}

// The r2g2 kernels' time per step, over two extra profiled steps (the timed steps run with
// the profiler as the user left it). Counts are differences, so a --profile table is kept.
void profile_r2g2_kernels(Trainable& t, const BenchSettings& s, Row& row) {
  const bool was_on = profiler::enabled();
  profiler::enable(true);
  const auto before = r2g2_kernel_totals();
  const int profiled_steps = 2;
  for (int i = 0; i < profiled_steps; ++i) t.step();
  device_synchronize(s.device);
  const auto after = r2g2_kernel_totals();
  profiler::enable(was_on);
  row.r2g2_kernel_ms = 1e3 * (after.first - before.first) / profiled_steps;
  row.r2g2_kernel_calls = static_cast<int64_t>(after.second - before.second) / profiled_steps;
}

Row time_one(const std::string& model, const std::string& estimator, const BenchSettings& s) {
  Row row{model, estimator};
  Trainable t = make_trainable(model, estimator, s, row.batch);
  for (int64_t i = 0; i < s.warmup; ++i) t.step();
  device_synchronize(s.device);
  std::vector<double> ms;
  for (int64_t i = 0; i < s.steps; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    t.step();
    device_synchronize(s.device);
    ms.push_back(ms_since(t0));
  }
  std::sort(ms.begin(), ms.end());
  const size_t n = ms.size();
  row.median_ms = n % 2 ? ms[n / 2] : 0.5 * (ms[n / 2 - 1] + ms[n / 2]);
  row.min_ms = ms.front();
  if (estimator.find("r2g2") != std::string::npos) profile_r2g2_kernels(t, s, row);
  return row;
}

const Row* find_row(const std::vector<Row>& rows, const std::string& model, const std::string& estimator) {
  for (const auto& r : rows)
    if (r.model == model && r.estimator == estimator) return &r;
  return nullptr;
}

std::string json_escape(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '"' || c == '\\') out += '\\';
    if (static_cast<unsigned char>(c) >= 0x20) out += c;
  }
  return out;
}

// printf into a std::string of any length.
std::string printed(const char* format, ...) __attribute__((format(printf, 1, 2)));
std::string printed(const char* format, ...) {
  va_list args, again;
  va_start(args, format);
  va_copy(again, args);
  const int length = std::vsnprintf(nullptr, 0, format, args);
  va_end(args);
  std::string text(length > 0 ? static_cast<size_t>(length) : 0, '\0');
  if (length > 0) std::vsnprintf(text.data(), text.size() + 1, format, again);
  va_end(again);
  return text;
}

void write_json(const std::string& path, const std::vector<Row>& rows, const BenchSettings& s, int threads) {
  std::string text = printed(
      "{\"framework\": \"r2g2\", \"device\": \"%s\", \"threads\": %d, \"matmul\": \"%s\", \"steps\": %lld, "
      "\"warmup\": %lld, \"width_divisor\": %lld, \"rows\": [",
      s.device.str().c_str(), threads, kernels::cpu::gemm_uses_blas() ? "OpenBLAS" : "hand-written",
      (long long)s.steps, (long long)s.warmup, (long long)s.width_divisor);
  for (size_t i = 0; i < rows.size(); ++i) {
    const Row& r = rows[i];
    text += printed(
        "%s\n  {\"model\": \"%s\", \"estimator\": \"%s\", \"batch\": %lld, \"median_ms\": %.4f, "
        "\"min_ms\": %.4f",
        i ? "," : "", json_escape(r.model).c_str(), json_escape(r.estimator).c_str(), (long long)r.batch,
        r.median_ms, r.min_ms);
    if (r.r2g2_kernel_ms >= 0)
      text += printed(", \"r2g2_kernel_ms\": %.4f, \"r2g2_kernel_calls\": %lld", r.r2g2_kernel_ms,
                      (long long)r.r2g2_kernel_calls);
    text += "}";
  }
  text += "\n]}\n";
  cli::write_file_atomically(path, text);
}

void print_table(const std::vector<Row>& rows) {
  std::printf("%-7s %-11s %6s %10s %10s %9s %8s %12s %s\n", "model", "estimator", "batch", "median ms",
              "min ms", "steps/s", "vs rt", "+ms over rt", "r2g2 kernels ms/step (calls)");
  for (const auto& r : rows) {
    const Row* rt = find_row(rows, r.model, "rt");
    char ratio[32] = "-", extra[32] = "-", kernels[64] = "";
    if (rt && rt->median_ms > 0) std::snprintf(ratio, sizeof ratio, "%.2f", r.median_ms / rt->median_ms);
    if (rt && r.estimator.find("r2g2") != std::string::npos)
      std::snprintf(extra, sizeof extra, "%+.2f", r.median_ms - rt->median_ms);
    if (r.r2g2_kernel_ms >= 0)
      std::snprintf(kernels, sizeof kernels, "%.2f (%lld)", r.r2g2_kernel_ms, (long long)r.r2g2_kernel_calls);
    std::printf("%-7s %-11s %6lld %10.2f %10.2f %9.2f %8s %12s %s\n", r.model.c_str(), r.estimator.c_str(),
                (long long)r.batch, r.median_ms, r.min_ms, 1e3 / r.median_ms, ratio, extra, kernels);
    std::fflush(stdout);
  }
}

int run_bench_models(const std::vector<std::string>& words) {
  cli::Args args(words, {"models", "estimators", "batch", "vgg-batch", "steps", "warmup", "device", "json",
                         "width-divisor", "seed"});
  BenchSettings s;
  std::vector<std::string> models;
  cli::checking_usage([&] {
    s.batch = args.get_int("batch", 80, 1, cli::kMaxBatch);
    s.vgg_batch = args.get_int("vgg-batch", 16, 1, cli::kMaxBatch);
    s.steps = args.get_int("steps", 10, 1, cli::kMaxSteps);
    s.warmup = args.get_int("warmup", 2, 0, cli::kMaxSteps);
    s.width_divisor = args.get_int("width-divisor", 1, 1, 64);
    s.seed = static_cast<uint64_t>(args.get_int("seed", 1, 0, cli::kMaxSeed));
    R2G2_CHECK(args.positional().empty(), "unexpected argument '", args.positional().front(), "'");
    models = split_list(args.get("models", "mlp,vgg11,vae1,vae2,vae3"));
    R2G2_CHECK(!models.empty(), "--models names no model");
    for (const auto& model : models)
      R2G2_CHECK(model == "mlp" || model == "vgg11" || model == "vae1" || model == "vae2" || model == "vae3",
                 "unknown model '", model, "' in --models; known: mlp, vgg11, vae1, vae2, vae3");
    s.device = parse_device(args.get("device", "cpu"));
  });
  const bool explicit_estimators = args.has("estimators");

  const int threads = kernels::runtime::thread_count_from_environment();
  std::printf(
      "r2g2 bench models on %s: %d kernel threads (R2G2_NUM_THREADS, else %u hardware threads), matmul %s;\n"
      "batch %lld (vgg11: %lld), %lld warm-up + %lld timed steps (forward, backward, Adam), width divisor "
      "%lld\n\n",
      s.device.str().c_str(), threads, std::thread::hardware_concurrency(),
      kernels::cpu::gemm_uses_blas() ? "OpenBLAS" : "hand-written", (long long)s.batch,
      (long long)s.vgg_batch, (long long)s.warmup, (long long)s.steps, (long long)s.width_divisor);

  std::vector<Row> rows;
  for (const auto& model : models) {
    const auto names =
        split_list(explicit_estimators ? args.get("estimators", "") : default_estimators(model));
    for (const auto& estimator : names) {
      // An estimator the model lacks is skipped only when the user listed it for every model;
      // any other failure (out of memory, a device error) ends the benchmark.
      if (explicit_estimators && !supports(model, estimator)) {
        std::fprintf(stderr, "r2g2 bench models: skipping %s with %s: %s does not support it\n",
                     model.c_str(), estimator.c_str(), model.c_str());
        continue;
      }
      rows.push_back(time_one(model, estimator, s));
    }
  }
  R2G2_CHECK(!rows.empty(), "r2g2 bench models: no (model, estimator) pair could run");
  print_table(rows);
  std::printf(
      "\nvs rt: median over rt's median of the same model; + ms over rt: what R2-G2 adds per step.\n"
      "r2g2 kernels: profiled time of the kernels named r2g2* (eps* solves), over two extra steps.\n");
  if (find_row(rows, "vgg11", "r2g2"))
    bench::print_r2g2_conv_layer_table(bench::vgg_estimator_conv_layers(s.width_divisor), s.vgg_batch,
                                       static_cast<int>(std::min<int64_t>(s.steps, 5)), s.device, s.seed);
  if (args.has("json")) write_json(args.get("json", ""), rows, s, threads);
  return 0;
}

}  // namespace

R2G2_COMMAND(
    "bench-models", "ms per training step of the paper's models, estimator by estimator",
    "usage: r2g2 bench models [--models mlp,vgg11,vae1,vae2,vae3] [--estimators LIST] [--batch 80]\n"
    "                         [--vgg-batch 16] [--steps 10] [--warmup 2] [--device cpu|cuda]\n"
    "                         [--json PATH] [--width-divisor 1] [--seed 1]\n\n"
    "Builds each model from the library (Bayesian MLP 784-1024-1024-10; Bayesian VGG-11 on 32x32x3\n"
    "with the estimator on the last four conv layers, rt below, lrt on the classifier; VAEs with 1-3\n"
    "stochastic layers) on a fixed synthetic batch (pixels in (0, 1), random labels; binary for the\n"
    "VAEs), runs --warmup steps, then times --steps training steps (forward, backward, Adam) and\n"
    "prints per (model, estimator) the median and minimum ms/step, steps/s and the ratio to rt.\n"
    "With vgg11 and r2g2, each R2-G2 conv layer is then timed alone with rt and r2g2: the extra\n"
    "ms beside the time the multiply-adds R2-G2 adds would take at the measured GEMM rate.\n"
    "Default estimators: mlp rt,lrt,flipout,r2g2; vgg11 rt,r2g2; vae* rt,r2g2,r2g2-paper. With\n"
    "--estimators the list applies to every model, and pairs a model does not support are skipped.\n"
    "--width-divisor divides the hidden widths (1024, conv channels, 200) for quick runs.\n"
    "--json writes the rows for tools/bench-vs-torch.sh.",
    run_bench_models);
