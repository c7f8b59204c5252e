// save_module / load_module: round trips of parameters, Adam state, generators and
// metadata; training resumed from a file matching uninterrupted training bit for bit;
// one clear error per way a file can fail to fit a module; and the safetensors container:
// one clear error per way a file can break the format, and an independent Python reader.
#include <doctest/doctest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "r2g2/core/checkpoint.h"
#include "r2g2/core/device.h"
#include "r2g2/core/error.h"
#include "r2g2/core/json.h"
#include "r2g2/core/ops.h"
#include "r2g2/core/optim.h"
#include "r2g2/layers/activations.h"
#include "r2g2/layers/bayes_linear.h"
#include "r2g2/layers/linear.h"
#include "r2g2/layers/sequential.h"
#include "r2g2/layers/serialize.h"
#include "temp_dir.h"
#include "test_util.h"

namespace {

using namespace r2g2;
using r2g2::test::contains;
using r2g2::test::error_of;
namespace fs = std::filesystem;

using r2g2::test::TempDir;

// A Bayesian hidden layer and a deterministic read-out: parameters "hidden.mu",
// "hidden.rho", "hidden.bias_mu", "hidden.bias_rho", "out.weight", "out.bias".
struct TinyNet : Module {
  BayesLinear hidden;
  Linear out;
  explicit TinyNet(uint64_t seed, DType dtype = DType::f32)
      : hidden(4, 6, hidden_options(seed, dtype)), out(6, 3, out_options(seed, dtype)) {
    register_module("hidden", &hidden);
    register_module("out", &out);
  }
  // Noise from `noise`, or from the hidden layer's own generator when null.
  Tensor run(const Tensor& x, Generator* noise) {
    return out.forward(relu(noise != nullptr ? hidden.forward(x, *noise) : hidden.forward(x)));
  }

  static BayesLinearOptions hidden_options(uint64_t seed, DType dtype) {
    BayesLinearOptions o;
    o.rho_init = -3.0;
    o.estimator = "lrt";
    o.seed = seed;
    o.dtype = dtype;
    return o;
  }
  static LinearOptions out_options(uint64_t seed, DType dtype) {
    LinearOptions o;
    o.seed = seed + 100;
    o.dtype = dtype;
    return o;
  }
};

// One ELBO-shaped step on fixed data: squared error plus a small KL.
void train_step(TinyNet& net, Adam& adam, Generator* noise) {
  static const Tensor x = r2g2::test::uniform({5, 4}, 11, -1, 1, DType::f32);
  static const Tensor y = r2g2::test::uniform({5, 3}, 12, -1, 1, DType::f32);
  Tensor loss = mean(square(net.run(x, noise) - y)) + mul(net.hidden.kl(), 1e-3);
  adam.zero_grad();
  backward(loss);
  adam.step();
}

std::vector<double> values_of(const Tensor& t) { return t.to_vector(); }

// Every parameter equal, bit for bit (compared in float64, exact for float32 values).
void check_identical(const Module& a, const Module& b) {
  auto pa = a.named_parameters(), pb = b.named_parameters();
  REQUIRE(pa.size() == pb.size());
  for (size_t i = 0; i < pa.size(); ++i) {
    INFO("parameter ", pa[i].first);
    CHECK(pa[i].first == pb[i].first);
    CHECK(values_of(pa[i].second) == values_of(pb[i].second));
  }
}

bool any_differs(const Module& a, const Module& b) {
  auto pa = a.named_parameters(), pb = b.named_parameters();
  for (size_t i = 0; i < pa.size(); ++i)
    if (values_of(pa[i].second) != values_of(pb[i].second)) return true;
  return false;
}

TEST_CASE("save_module and load_module round-trip parameters, Adam state, generators and metadata") {
  TempDir dir;
  const std::string path = dir.file("net.ckpt");
  TinyNet trained(1);
  Adam adam(trained.parameters(), {.lr = 0.01});
  Generator noise(std::numeric_limits<uint64_t>::max() - 3);  // a seed beyond int64
  Generator init(5, 77);
  for (int i = 0; i < 3; ++i) train_step(trained, adam, &noise);
  REQUIRE(noise.offset > 0);

  TrainingState saved{.optimizer = &adam, .generators = {{"noise", &noise}, {"init", &init}}};
  saved.metadata["step"] = "3";
  saved.metadata["estimator schedule"] = "lrt:0-100, r2g2";
  save_module(trained, path, saved);

  TinyNet fresh(2);
  REQUIRE(any_differs(trained, fresh));
  // The optimizer is built before the load: loading copies into the same tensors.
  Adam fresh_adam(fresh.parameters(), {.lr = 0.01});
  Generator fresh_noise, fresh_init;
  TrainingState restored{.optimizer = &fresh_adam,
                         .generators = {{"noise", &fresh_noise}, {"init", &fresh_init}}};
  restored.metadata["stale entry"] = "dropped by the load";
  load_module(fresh, path, restored);

  check_identical(trained, fresh);
  CHECK(fresh_adam.steps_taken() == 3);
  for (size_t i = 0; i < adam.params().size(); ++i) {
    CHECK(values_of(fresh_adam.first_moments()[i]) == values_of(adam.first_moments()[i]));
    CHECK(values_of(fresh_adam.second_moments()[i]) == values_of(adam.second_moments()[i]));
  }
  CHECK(fresh_noise.seed == noise.seed);
  CHECK(fresh_noise.offset == noise.offset);
  CHECK(fresh_init.seed == 5);
  CHECK(fresh_init.offset == 77);
  CHECK(restored.metadata == saved.metadata);
  for (const auto& [name, p] : fresh.named_parameters()) {
    CHECK(p.requires_grad());
    CHECK(p.is_leaf());
  }
}

TEST_CASE("load_module without a training state restores parameters only") {
  TempDir dir;
  const std::string path = dir.file("net.ckpt");
  TinyNet a(1), b(2);
  save_module(a, path);
  load_module(b, path);
  check_identical(a, b);
}

TEST_CASE("Adam state is matched by parameter name, whatever the optimizer's order") {
  TempDir dir;
  const std::string path = dir.file("net.ckpt");
  TinyNet a(1);
  Adam adam(a.parameters(), {.lr = 0.01});
  Generator noise(9);
  for (int i = 0; i < 2; ++i) train_step(a, adam, &noise);
  save_module(a, path, {.optimizer = &adam});

  TinyNet b(2);
  std::vector<Tensor> reversed = b.parameters();
  std::reverse(reversed.begin(), reversed.end());
  Adam reversed_adam(reversed, {.lr = 0.01});
  TrainingState state{.optimizer = &reversed_adam};
  load_module(b, path, state);
  const size_t n = reversed.size();
  for (size_t i = 0; i < n; ++i) {
    CHECK(values_of(reversed_adam.first_moments()[n - 1 - i]) == values_of(adam.first_moments()[i]));
    CHECK(values_of(reversed_adam.second_moments()[n - 1 - i]) == values_of(adam.second_moments()[i]));
  }
}

TEST_CASE("training resumed from a file is bit-identical to uninterrupted training") {
  TempDir dir;
  const std::string path = dir.file("half.ckpt");
  constexpr int kSteps = 12;

  TinyNet uninterrupted(3);
  Adam adam(uninterrupted.parameters(), {.lr = 0.02});
  Generator noise(42);
  for (int i = 0; i < kSteps; ++i) train_step(uninterrupted, adam, &noise);

  {
    TinyNet first_half(3);
    Adam first_adam(first_half.parameters(), {.lr = 0.02});
    Generator first_noise(42);
    for (int i = 0; i < kSteps / 2; ++i) train_step(first_half, first_adam, &first_noise);
    TrainingState state{.optimizer = &first_adam, .generators = {{"noise", &first_noise}}};
    state.metadata["step"] = std::to_string(kSteps / 2);
    save_module(first_half, path, state);
  }

  // Another initialisation and a fresh generator: everything must come from the file.
  TinyNet resumed(99);
  Adam resumed_adam(resumed.parameters(), {.lr = 0.02});
  Generator resumed_noise(0);
  TrainingState state{.optimizer = &resumed_adam, .generators = {{"noise", &resumed_noise}}};
  load_module(resumed, path, state);
  for (int i = std::stoi(state.metadata.at("step")); i < kSteps; ++i)
    train_step(resumed, resumed_adam, &resumed_noise);

  check_identical(uninterrupted, resumed);
  CHECK(resumed_adam.steps_taken() == adam.steps_taken());
  CHECK(resumed_noise.offset == noise.offset);
}

TEST_CASE("noise_generators names each stream once, after the first layer that draws from it") {
  TinyNet net(1);
  auto own = noise_generators(net);
  REQUIRE(own.size() == 1);
  CHECK(own.begin()->first == "hidden.noise");
  CHECK(own.begin()->second == &net.hidden.generator());

  Sequential stack(std::make_unique<BayesLinear>(4, 4), std::make_unique<ReLU>(),
                   std::make_unique<BayesLinear>(4, 2));
  CHECK(noise_generators(stack).size() == 2);
  auto shared = std::make_shared<Generator>(5);
  stack.set_noise_source(shared);
  auto one = noise_generators(stack);
  REQUIRE(one.size() == 1);
  CHECK(one.begin()->first == "0.noise");
  CHECK(one.begin()->second == shared.get());
}

TEST_CASE("training resumed with the layers' own noise streams is bit-identical too") {
  TempDir dir;
  const std::string path = dir.file("half.ckpt");
  constexpr int kSteps = 8;
  TinyNet uninterrupted(4);
  Adam adam(uninterrupted.parameters(), {.lr = 0.02});
  for (int i = 0; i < kSteps; ++i) train_step(uninterrupted, adam, nullptr);

  {
    TinyNet first_half(4);
    Adam first_adam(first_half.parameters(), {.lr = 0.02});
    for (int i = 0; i < kSteps / 2; ++i) train_step(first_half, first_adam, nullptr);
    save_module(first_half, path, {.optimizer = &first_adam, .generators = noise_generators(first_half)});
  }
  TinyNet resumed(98);
  Adam resumed_adam(resumed.parameters(), {.lr = 0.02});
  TrainingState state{.optimizer = &resumed_adam, .generators = noise_generators(resumed)};
  load_module(resumed, path, state);
  for (int i = kSteps / 2; i < kSteps; ++i) train_step(resumed, resumed_adam, nullptr);
  check_identical(uninterrupted, resumed);
  CHECK(resumed.hidden.generator().offset == uninterrupted.hidden.generator().offset);
}

TEST_CASE("Adam moments are saved in their parameter's dtype after the module is converted") {
  TempDir dir;
  const std::string path = dir.file("converted.ckpt");
  TinyNet net(1);
  Adam adam(net.parameters(), {.lr = 0.01});
  Generator noise(2);
  train_step(net, adam, &noise);
  net.to(DType::f64);  // the moments follow at the next step, not before
  save_module(net, path, {.optimizer = &adam});

  TinyNet doubles(2, DType::f64);
  Adam doubles_adam(doubles.parameters(), {.lr = 0.01});
  TrainingState state{.optimizer = &doubles_adam};
  load_module(doubles, path, state);
  check_identical(net, doubles);
  for (size_t i = 0; i < adam.params().size(); ++i) {
    CHECK(doubles_adam.first_moments()[i].dtype() == DType::f64);
    CHECK(values_of(doubles_adam.first_moments()[i]) == values_of(adam.first_moments()[i]));
    CHECK(values_of(doubles_adam.second_moments()[i]) == values_of(adam.second_moments()[i]));
  }
}

namespace {
// One SGD step on a fixed quadratic loss of a Linear layer.
void sgd_step(Linear& layer, SGD& sgd) {
  Tensor x = Tensor::from_vector(std::vector<float>{1, -2, 0.5f, 3, 0.25f, -1}, {2, 3});
  Tensor loss = sum(square(layer.forward(x) - 1.0));
  sgd.zero_grad();
  backward(loss);
  sgd.step();
}
}  // namespace

TEST_CASE("SGD with momentum resumes bit-identically, its buffers saved by parameter name") {
  TempDir dir;
  const std::string path = dir.file("sgd.ckpt");
  const SGDOptions options{.lr = 0.05, .momentum = 0.9};
  Linear uninterrupted(3, 2);
  SGD sgd(uninterrupted.parameters(), options);
  for (int i = 0; i < 6; ++i) sgd_step(uninterrupted, sgd);

  Linear first_half(3, 2);
  SGD first_sgd(first_half.parameters(), options);
  for (int i = 0; i < 3; ++i) sgd_step(first_half, first_sgd);
  save_module(first_half, path, {.optimizer = &first_sgd});

  Linear resumed(3, 2, {.seed = 5});
  SGD resumed_sgd(resumed.parameters(), options);
  TrainingState state{.optimizer = &resumed_sgd};
  load_module(resumed, path, state);
  CHECK(resumed_sgd.steps_taken() == 3);
  for (int i = 0; i < 3; ++i) sgd_step(resumed, resumed_sgd);
  check_identical(uninterrupted, resumed);
}

TEST_CASE("SGD momentum buffers not created yet when saved are reset on load") {
  TempDir dir;
  const std::string path = dir.file("fresh.ckpt");
  const SGDOptions options{.lr = 0.05, .momentum = 0.9};
  Linear fresh(3, 2);
  SGD fresh_sgd(fresh.parameters(), options);
  save_module(fresh, path, {.optimizer = &fresh_sgd});  // before any step: no buffers

  // An optimizer that has stepped holds buffers; loading the fresh state must drop them,
  // or its next step would start from stale momentum instead of the first gradient.
  Linear stepped(3, 2);
  SGD stepped_sgd(stepped.parameters(), options);
  sgd_step(stepped, stepped_sgd);
  TrainingState state{.optimizer = &stepped_sgd};
  load_module(stepped, path, state);
  for (const Tensor& buffer : *stepped_sgd.state_lists()[0].tensors) CHECK_FALSE(buffer.defined());

  sgd_step(fresh, fresh_sgd);
  sgd_step(stepped, stepped_sgd);
  check_identical(fresh, stepped);
}

TEST_CASE("SGD state does not load into Adam, and plain SGD round-trips") {
  TempDir dir;
  const std::string path = dir.file("net.ckpt");
  Linear a(3, 2), b(3, 2, {.seed = 1});
  SGD plain(a.parameters(), {.lr = 0.1});
  save_module(a, path, {.optimizer = &plain});
  SGD plain_b(b.parameters(), {.lr = 0.1});
  TrainingState state{.optimizer = &plain_b};
  load_module(b, path, state);
  check_identical(a, b);

  Adam adam(b.parameters(), {.lr = 0.1});
  TrainingState wrong{.optimizer = &adam};
  CHECK_THROWS_WITH_AS(
      load_module(b, path, wrong),
      doctest::Contains("holds the state of a 'sgd' optimizer; the optimizer to restore is 'adam'"), Error);
}

TEST_CASE("load_module copies onto each parameter's device") {
  if (!cuda_available()) {
    MESSAGE("no CUDA device here: the cross-device load is not exercised");
    return;
  }
  TempDir dir;
  const std::string from_cpu = dir.file("cpu.ckpt"), from_cuda = dir.file("cuda.ckpt");
  TinyNet on_cpu(1);
  save_module(on_cpu, from_cpu);

  TinyNet on_cuda(2);
  on_cuda.to(Device::cuda());
  Adam cuda_adam(on_cuda.parameters(), {.lr = 0.01});
  Generator noise(4);
  TrainingState state{.optimizer = &cuda_adam, .generators = {{"noise", &noise}}};
  save_module(on_cuda, from_cuda, state);
  load_module(on_cuda, from_cpu);
  for (const auto& [name, p] : on_cuda.named_parameters()) CHECK(p.device() == Device::cuda());
  check_identical(on_cpu, on_cuda);

  // And back: moments saved from CUDA land on the CPU optimizer's device.
  TinyNet back(3);
  Adam cpu_adam(back.parameters(), {.lr = 0.01});
  TrainingState cpu_state{.optimizer = &cpu_adam, .generators = {{"noise", &noise}}};
  load_module(back, from_cuda, cpu_state);
  for (const Tensor& m : cpu_adam.first_moments()) CHECK(m.device() == Device::cpu());
}

// --- errors -----------------------------------------------------------------------

TEST_CASE("a parameter missing from the file is an error naming it, unless not strict") {
  TempDir dir;
  const std::string path = dir.file("no_bias.ckpt");
  Linear without_bias(3, 2, {.bias = false, .seed = 1});
  save_module(without_bias, path);
  Linear with_bias(3, 2, {.seed = 2});
  const std::vector<double> bias_before = values_of(with_bias.bias);
  const std::vector<double> weight_before = values_of(with_bias.weight);

  const std::string message = error_of([&] { load_module(with_bias, path); });
  CHECK(contains(message, path));
  CHECK(contains(message, "lacks 1 of the module's 2 parameters: 'bias'"));
  CHECK(values_of(with_bias.weight) == weight_before);  // a failed load changes nothing

  load_module(with_bias, path, {.strict = false});
  CHECK(values_of(with_bias.weight) == values_of(without_bias.weight));
  CHECK(values_of(with_bias.bias) == bias_before);
}

TEST_CASE("a parameter the module does not have is an error naming it, unless not strict") {
  TempDir dir;
  const std::string path = dir.file("bias.ckpt");
  Linear with_bias(3, 2, {.seed = 1});
  save_module(with_bias, path);
  Linear without_bias(3, 2, {.bias = false, .seed = 2});

  const std::string message = error_of([&] { load_module(without_bias, path); });
  CHECK(contains(message, path));
  CHECK(contains(message, "holds parameters the module does not have: 'bias'"));

  load_module(without_bias, path, {.strict = false});
  CHECK(values_of(without_bias.weight) == values_of(with_bias.weight));
}

TEST_CASE("shape and dtype mismatches are errors naming the parameter, expected and found") {
  TempDir dir;
  const std::string path = dir.file("net.ckpt");
  Linear saved(3, 2, {.seed = 1});
  save_module(saved, path);

  Linear wider(4, 2, {.seed = 2});
  const std::vector<double> before = values_of(wider.bias);
  std::string message = error_of([&] { load_module(wider, path); });
  CHECK(contains(message, path));
  CHECK(contains(message, "parameter 'weight' with shape [2, 3]; the module's has shape [2, 4]"));
  CHECK(values_of(wider.bias) == before);  // bias fits, but nothing is copied

  Linear doubles(3, 2, {.seed = 2, .dtype = DType::f64});
  message = error_of([&] { load_module(doubles, path, {.strict = false}); });
  CHECK(contains(message, "parameter 'weight' as float32; the module's is float64"));
}

TEST_CASE("optimizer and generator mismatches are errors naming what is missing") {
  TempDir dir;
  const std::string bare = dir.file("bare.ckpt"), with_adam = dir.file("adam.ckpt");
  TinyNet net(1);
  Adam adam(net.parameters(), {.lr = 0.01});
  Generator noise(3);
  save_module(net, bare);
  save_module(net, with_adam, {.optimizer = &adam, .generators = {{"noise", &noise}}});

  TinyNet other(2);
  Adam other_adam(other.parameters(), {.lr = 0.01});
  TrainingState wants_adam{.optimizer = &other_adam};
  CHECK(contains(error_of([&] { load_module(other, bare, wants_adam); }), "holds no optimizer state"));

  SGD sgd(other.parameters(), {.lr = 0.1});
  TrainingState wants_sgd{.optimizer = &sgd};
  CHECK(contains(error_of([&] { load_module(other, with_adam, wants_sgd); }),
                 "the state of a 'adam' optimizer; the optimizer to restore is 'sgd'"));

  Generator g;
  TrainingState wants_generator{.generators = {{"dropout", &g}}};
  const std::string message = error_of([&] { load_module(other, with_adam, wants_generator); });
  CHECK(contains(message, "has no generator 'dropout' (it holds 'noise')"));
  CHECK(contains(message, with_adam));
  CHECK(any_differs(net, other));  // every failed load above left `other` as it was

  // An optimizer over tensors that are not the module's.
  Tensor stray = Tensor::zeros({7}).requires_grad_();
  Adam stray_adam({stray}, {.lr = 0.01});
  CHECK_THROWS_WITH_AS(
      save_module(net, bare, {.optimizer = &stray_adam}),
      doctest::Contains("optimizer parameter 0 of shape [7] is not a parameter of the module"), Error);
}

TEST_CASE("a checkpoint not written by save_module is refused by name") {
  TempDir dir;
  const std::string path = dir.file("plain.ckpt");
  Checkpoint ck;
  ck.tensors["weight"] = Tensor::zeros({2, 3});
  save_checkpoint(path, ck);
  Linear net(3, 2);
  const std::string message = error_of([&] { load_module(net, path); });
  CHECK(contains(message, path));
  CHECK(contains(message, "was not written by save_module"));
}

// --- the safetensors container ----------------------------------------------------------

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream contents;
  contents << in.rdbuf();
  return std::move(contents).str();
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

// A safetensors file: the 8-byte little-endian header length, the header, the data.
std::string safetensors_file(const std::string& header, const std::string& data) {
  std::string file(8, '\0');
  const uint64_t length = header.size();
  std::memcpy(file.data(), &length, 8);
  return file + header + data;
}

uint64_t header_length_of(const std::string& file) {
  uint64_t length = 0;
  std::memcpy(&length, file.data(), 8);
  return length;
}

TEST_CASE("save_module writes a safetensors file: padded JSON header, tensors back to back") {
  TempDir dir;
  const std::string path = dir.file("net.safetensors");
  Linear layer(3, 2, {.seed = 1});
  Adam adam(layer.parameters(), {.lr = 0.01});
  Generator noise(3, 9);
  TrainingState state{.optimizer = &adam, .generators = {{"noise", &noise}}};
  state.metadata["step"] = "0";
  save_module(layer, path, state);

  const std::string file = read_bytes(path);
  REQUIRE(file.size() >= 8);
  const uint64_t length = header_length_of(file);
  CHECK(length % 8 == 0);
  REQUIRE(8 + length <= file.size());
  const json::Value header = json::parse(std::string_view(file).substr(8, length));
  const json::Value* metadata = header.find("__metadata__");
  REQUIRE(metadata != nullptr);
  CHECK(metadata->find("module/format")->as_string() == "1");
  CHECK(metadata->find("module/data_crc32")->as_string().size() == 8);
  CHECK(metadata->find("optimizer/kind")->as_string() == "adam");
  CHECK(metadata->find("generator/noise/seed")->as_string() == "3");
  CHECK(metadata->find("generator/noise/offset")->as_string() == "9");
  CHECK(metadata->find("user/step")->as_string() == "0");
  int64_t covered = 0;
  for (const char* name : {"optimizer/m/bias", "optimizer/m/weight", "optimizer/v/bias", "optimizer/v/weight",
                           "param/bias", "param/weight"}) {
    INFO(name);
    const json::Value* entry = header.find(name);
    REQUIRE(entry != nullptr);
    CHECK(entry->find("dtype")->as_string() == "F32");
    const auto& offsets = entry->find("data_offsets")->items();
    CHECK(offsets[0].as_integer() == covered);  // same dtype: in name order, no gaps
    covered = offsets[1].as_integer();
  }
  CHECK(header.find("param/weight")->find("shape")->dump() == "[2,3]");
  CHECK(8 + length + static_cast<uint64_t>(covered) == file.size());
  std::vector<float> weight(6);
  const int64_t weight_begin = header.find("param/weight")->find("data_offsets")->items()[0].as_integer();
  std::memcpy(weight.data(), file.data() + 8 + length + weight_begin, sizeof(float) * 6);
  CHECK(std::vector<double>(weight.begin(), weight.end()) == values_of(layer.weight));
}

TEST_CASE("metadata with quotes, backslashes, control characters and UTF-8 round-trips") {
  TempDir dir;
  const std::string path = dir.file("net.safetensors");
  Linear layer(3, 2, {.seed = 1});
  TrainingState saved;
  saved.metadata["note"] = "quote \" backslash \\ newline \n tab \t control \x01 e-acute \xc3\xa9";
  saved.metadata["key with \"quotes\""] = "";
  save_module(layer, path, saved);
  TrainingState restored;
  load_module(layer, path, restored);
  CHECK(restored.metadata == saved.metadata);

  TrainingState invalid;
  invalid.metadata["bytes"] = "\xff\xfe";
  CHECK(contains(error_of([&] { save_module(layer, path, invalid); }),
                 "metadata 'user/bytes' is not valid UTF-8"));
  load_module(layer, path, restored);  // the failed save left the file as it was
  CHECK(restored.metadata == saved.metadata);
}

TEST_CASE("a failed save_module leaves the previous file intact") {
  TempDir dir;
  const std::string path = dir.file("net.safetensors");
  Linear first(3, 2, {.seed = 1}), second(3, 2, {.seed = 2});
  save_module(first, path);
  const std::string before = read_bytes(path);
  for (int64_t fail_after : {0, 5, 100}) {
    CAPTURE(fail_after);
    detail::fail_next_checkpoint_write_after(fail_after);
    const std::string message = error_of([&] { save_module(second, path); });
    CHECK(contains(message, "save_module: writing"));
    CHECK(contains(message, "was left unchanged"));
    CHECK(read_bytes(path) == before);
  }
  CHECK(std::distance(fs::directory_iterator(dir.path()), fs::directory_iterator()) == 1);  // no temp file left
  Linear loaded(3, 2, {.seed = 3});
  load_module(loaded, path);
  check_identical(first, loaded);
}

// Linear(3, 2) in float32: "param/weight" [2, 3] and "param/bias" [2], 32 data bytes.
const std::string kWeight = R"("param/weight":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]})";
const std::string kBias = R"("param/bias":{"dtype":"F32","shape":[2],"data_offsets":[24,32]})";
const std::string kMetadata = R"("__metadata__":{"module/format":"1"})";

struct MalformedFile {
  const char* rule;
  std::string bytes;
  const char* expected;  // part of the message
  std::string located;   // the byte offset's text in the message, when the rule has one
};

std::string located_at(const std::string& header, const std::string& needle) {
  const size_t at = header.find(needle);
  REQUIRE(at != std::string::npos);
  return "(at byte " + std::to_string(8 + at) + ")";
}

std::vector<MalformedFile> malformed_files() {
  std::vector<MalformedFile> cases;
  auto add = [&](const char* rule, const std::string& header, const char* expected,
                 const std::string& needle = "", const std::string& data = std::string(32, '\0')) {
    cases.push_back(
        {rule, safetensors_file(header, data), expected, needle.empty() ? "" : located_at(header, needle)});
  };
  const std::string good = "{" + kMetadata + "," + kWeight + "," + kBias + "}";
  cases.push_back({"a file too short for the length", "abc", "shorter than the 8-byte header length", ""});
  cases.push_back({"header length beyond the file", safetensors_file(good, "").substr(0, 8) + "{}",
                   "header length (at byte 0) announces", ""});
  add("invalid JSON", "{" + kMetadata + ",\"param/weight\":{\"dtype\":\"F32\",}}",
      "has an invalid JSON header", "}}");
  add("a floating-point number", "{" + kMetadata + ",\"param/bias\":{\"dtype\":\"F32\",\"shape\":[2.0]}}",
      "floating-point numbers are not supported", "2.0");
  add("a header that is not an object", "[1,2]", "has a header that is an array, not an object", "[1,2]");
  add("nesting too deep", std::string(100, '[') + std::string(100, ']'), "nesting deeper than 64 levels");
  add("invalid UTF-8", "{\"param/w\xff\":{}}", "invalid UTF-8 inside a string", "\xff");
  add("an unknown escape", "{\"param/\\q\":{}}", "unknown escape \\ followed by 'q'", "\\q");
  add("an unknown dtype",
      "{" + kMetadata + "," + R"("param/weight":{"dtype":"F16","shape":[2,3],"data_offsets":[0,12]},)" +
          kBias + "}",
      "tensor 'param/weight' of dtype 'F16'; this build reads F32, F64 and I32", "\"F16\"");
  add("a shape that disagrees with the offsets",
      "{" + kMetadata + "," + R"("param/weight":{"dtype":"F32","shape":[2,3],"data_offsets":[0,20]},)" +
          kBias + "}",
      "tensor 'param/weight' of dtype F32 and shape [2, 3], which takes 24 bytes, but its data_offsets "
      "[0,20] span 20",
      "[0,20]");
  add("a negative dimension",
      "{" + kMetadata + "," + R"("param/bias":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})",
      "tensor 'param/bias' whose shape holds -2", "-2");
  add("too many dimensions",
      "{" + kMetadata + "," +
          R"("param/bias":{"dtype":"F32","shape":[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1],"data_offsets":[0,4]}})",
      "dimensions; at most");
  add("offsets out of range (end before begin)",
      "{" + kMetadata + "," + R"("param/weight":{"dtype":"F32","shape":[2,3],"data_offsets":[24,0]},)" +
          kBias + "}",
      "data_offsets [24,0] are out of range", "[24,0]");
  add("offsets that are not a pair",
      "{" + kMetadata + "," + R"("param/bias":{"dtype":"F32","shape":[2],"data_offsets":[0]}})",
      "data_offsets [0] are not two integers", "[0]");
  add("overlapping data",
      "{" + kMetadata + "," + kWeight + "," +
          R"("param/bias":{"dtype":"F32","shape":[2],"data_offsets":[20,28]}})",
      "tensor 'param/bias' at [20, 28) overlaps tensor 'param/weight' at [0, 24)",
      "{\"dtype\":\"F32\",\"shape\":[2]", std::string(28, '\0'));
  add("a gap between tensors",
      "{" + kMetadata + "," + kWeight + "," +
          R"("param/bias":{"dtype":"F32","shape":[2],"data_offsets":[28,36]}})",
      "bytes [24, 28) of the data section belong to no tensor", "{\"dtype\":\"F32\",\"shape\":[2]",
      std::string(36, '\0'));
  add("bytes after the last tensor", good, "4 bytes after the last tensor belong to no tensor", "",
      std::string(36, '\0'));
  cases.back().located = "(at byte " + std::to_string(8 + good.size() + 32) + ")";
  add("a metadata value that is not a string",
      R"({"__metadata__":{"module/format":1},)" + kWeight + "," + kBias + "}",
      "metadata 'module/format' that is an integer; safetensors metadata values are strings", "1}");
  add("metadata that is not an object", R"({"__metadata__":["module/format"],)" + kWeight + "," + kBias + "}",
      "'__metadata__' entry that is an array, not an object", "[\"module/format\"]");
  add("a repeated tensor name", "{" + kMetadata + "," + kWeight + "," + kBias + "," + kBias + "}",
      "the key \"param/bias\" appears twice in one object");
  add("a repeated metadata key",
      R"({"__metadata__":{"module/format":"1","module/format":"1"},)" + kWeight + "," + kBias + "}",
      "the key \"module/format\" appears twice in one object", "\"module/format\":\"1\"}");
  add("a repeated field",
      "{" + kMetadata + "," +
          R"("param/bias":{"dtype":"F32","dtype":"F32","shape":[2],"data_offsets":[0,8]}})",
      "the key \"dtype\" appears twice");
  add("an unexpected field",
      "{" + kMetadata + "," + R"("param/bias":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"scale":1}})",
      "tensor 'param/bias' with an unexpected field 'scale'", "1}}", std::string(8, '\0'));
  add("a missing field", "{" + kMetadata + "," + R"("param/bias":{"dtype":"F32","shape":[2]}})",
      "tensor 'param/bias' without a 'data_offsets' field");
  add("a valid file not written by save_module", "{" + kWeight + "," + kBias + "}",
      "was not written by save_module: it has no 'module/format' metadata entry");
  return cases;
}

TEST_CASE("every way a file can break the safetensors format is an error naming the rule and where") {
  TempDir dir;
  const std::string path = dir.file("bad.safetensors");
  Linear layer(3, 2, {.seed = 1});
  const std::vector<double> before = values_of(layer.weight);
  for (const MalformedFile& bad : malformed_files()) {
    INFO(bad.rule);
    write_bytes(path, bad.bytes);
    const std::string message = error_of([&] { load_module(layer, path); });
    INFO(message);
    CHECK(contains(message, "load_module: '" + path + "'"));
    CHECK(contains(message, bad.expected));
    if (!bad.located.empty()) CHECK(contains(message, bad.located));
  }
  CHECK(values_of(layer.weight) == before);
}

TEST_CASE("a file truncated anywhere is refused as truncated and changes nothing") {
  TempDir dir;
  const std::string path = dir.file("net.safetensors"), cut_path = dir.file("cut.safetensors");
  Linear saved(3, 2, {.seed = 1});
  Adam adam(saved.parameters(), {.lr = 0.01});
  save_module(saved, path, {.optimizer = &adam});
  const std::string file = read_bytes(path);
  const size_t data_begin = 8 + header_length_of(file);
  Linear layer(3, 2, {.seed = 2});
  const std::vector<double> before = values_of(layer.weight);
  for (size_t length : {size_t{0}, size_t{5}, size_t{8}, size_t{9}, data_begin / 2, data_begin - 1,
                        data_begin, data_begin + 1, data_begin + 24, file.size() - 1}) {
    CAPTURE(length);
    write_bytes(cut_path, file.substr(0, length));
    const std::string message = error_of([&] { load_module(layer, cut_path); });
    INFO(message);
    CHECK(contains(message, cut_path));
    CHECK(contains(message, "is truncated"));
  }
  CHECK(values_of(layer.weight) == before);
}

TEST_CASE("a flipped bit in the tensor data fails the checksum") {
  TempDir dir;
  const std::string path = dir.file("net.safetensors");
  Linear saved(3, 2, {.seed = 1});
  save_module(saved, path);
  std::string file = read_bytes(path);
  const size_t data_begin = 8 + header_length_of(file);
  Linear layer(3, 2, {.seed = 2});
  const std::vector<double> before = values_of(layer.weight);
  for (size_t at : {data_begin, data_begin + 13, file.size() - 1}) {
    CAPTURE(at);
    std::string flipped = file;
    flipped[at] = static_cast<char>(flipped[at] ^ 0x10);
    write_bytes(path, flipped);
    const std::string message = error_of([&] { load_module(layer, path); });
    CHECK(contains(message, path));
    CHECK(contains(message, "is corrupt: the CRC-32 of its tensor data is"));
  }
  CHECK(values_of(layer.weight) == before);
}

TEST_CASE("the JSON reader behind the header: escapes, surrogate pairs, integers, order") {
  const json::Value v = json::parse(
      R"( {"b": [1, -2, 9223372036854775807], "a": "x\u00e9\ud83d\ude00\n", "t": true, "n": null} )");
  CHECK(v.members()[0].key == "b");  // insertion order, not sorted
  CHECK(v.find("b")->items()[2].as_integer() == std::numeric_limits<int64_t>::max());
  CHECK(v.find("a")->as_string() == "x\xc3\xa9\xf0\x9f\x98\x80\n");
  CHECK(v.find("t")->as_bool());
  CHECK(v.find("n")->kind() == json::Value::Kind::null);
  CHECK(json::parse(v.dump()).dump() == v.dump());
  CHECK(json::quote("a\"\\\x01") == R"("a\"\\\u0001")");
  CHECK_THROWS_WITH_AS(json::parse("[1] x"), doctest::Contains("at byte 4: unexpected content"),
                       json::ParseError);
  CHECK_THROWS_WITH_AS(json::parse("9223372036854775808"), doctest::Contains("does not fit in int64"), Error);
  CHECK_THROWS_WITH_AS(json::parse(R"("\ud800")"), doctest::Contains("high surrogate without its low half"),
                       Error);
  CHECK_THROWS_WITH_AS(json::parse("01"), doctest::Contains("leading zeros"), Error);
  CHECK_THROWS_WITH_AS(json::parse("[1 \x01]"), doctest::Contains("at byte 3: expected ']', found byte 0x01"),
                       Error);
  CHECK_THROWS_WITH_AS(json::parse("\"a\nb\""), doctest::Contains("control character"), Error);
  CHECK_THROWS_WITH_AS(v.find("a")->as_integer(), doctest::Contains("expected an integer, found a string"),
                       Error);
}

// Runs only as its own ctest (safetensors_python_reader), where a missing python3 skips it.
TEST_CASE("an independent Python reader reads what save_module writes" * doctest::skip()) {
  if (std::system("python3 --version > /dev/null 2>&1") != 0) {
    r2g2::test::skip_suite("python3 is not installed");
    return;
  }
  struct TwoDtypes : Module {
    Linear single{3, 2, {.seed = 1}};
    Linear twice{2, 1, {.seed = 2, .dtype = DType::f64}};
    TwoDtypes() {
      register_module("single", &single);
      register_module("double", &twice);
    }
  } net;
  {
    NoGrad no_grad;
    net.single.weight.copy_(
        Tensor::from_vector(std::vector<float>{0.5f, -1.25f, 3.0f, 0.1f, 2.0f, -0.3f}, {2, 3}));
  }
  Adam adam(net.parameters(), {.lr = 0.01});
  Generator noise(std::numeric_limits<uint64_t>::max(), 12);
  TrainingState state{.optimizer = &adam, .generators = {{"noise", &noise}}};
  state.metadata["note"] = "quote \" backslash \\ newline \n tab \t control \x01 e-acute \xc3\xa9";
  TempDir dir;
  const std::string path = dir.file("net.safetensors"), printed = dir.file("printed.txt");
  save_module(net, path, state);

  const std::string command = "python3 '" R2G2_SOURCE_DIR "/tests/layers/read_safetensors.py' '" + path +
                              "' > '" + printed + "' 2>&1";
  const int status = std::system(command.c_str());
  const std::string output = read_bytes(printed);
  INFO(output);
  REQUIRE(status == 0);

  std::map<std::string, Tensor> expected;
  for (const auto& [name, p] : net.named_parameters()) expected["param/" + name] = p;
  for (size_t i = 0; i < adam.params().size(); ++i) {
    const std::string name = net.named_parameters()[i].first;
    expected["optimizer/m/" + name] = adam.first_moments()[i];
    expected["optimizer/v/" + name] = adam.second_moments()[i];
  }
  std::map<std::string, std::string> metadata;
  std::vector<std::string> tensor_order;
  std::istringstream lines(output);
  for (std::string line; std::getline(lines, line);) {
    std::istringstream words(line);
    std::string what, name;
    words >> what >> name;
    if (what == "metadata") {
      std::getline(words >> std::ws, metadata[name]);
      continue;
    }
    REQUIRE(what == "tensor");
    INFO(name);
    REQUIRE(expected.contains(name));
    tensor_order.push_back(name);
    const Tensor& t = expected.at(name);
    std::string dtype, shape;
    words >> dtype >> shape;
    CHECK(dtype == (t.dtype() == DType::f64 ? "F64" : "F32"));
    std::string expected_shape = "[";
    for (size_t d = 0; d < t.shape().size(); ++d) {
      if (d > 0) expected_shape += ',';
      expected_shape += std::to_string(t.shape()[d]);
    }
    CHECK(shape == expected_shape + "]");
    std::vector<double> values;
    for (std::string word; words >> word;) values.push_back(std::strtod(word.c_str(), nullptr));
    CHECK(values == values_of(t));  // repr() round-trips doubles exactly
  }
  CHECK(tensor_order.size() == expected.size());
  // The float64 layer's tensors come first: widest elements first.
  REQUIRE(tensor_order.size() == 12);
  for (size_t i = 0; i < 6; ++i) CHECK(expected.at(tensor_order[i]).dtype() == DType::f64);
  CHECK(metadata["module/format"] == "\"1\"");
  CHECK(metadata["optimizer/kind"] == "\"adam\"");
  CHECK(metadata["optimizer/steps"] == "\"0\"");
  CHECK(metadata["generator/noise/seed"] == "\"18446744073709551615\"");
  CHECK(metadata["generator/noise/offset"] == "\"12\"");
  CHECK(metadata["user/note"] ==
        R"("quote \" backslash \\ newline \n tab \t control \u0001 e-acute \u00e9")");
  CHECK(metadata.size() == 7);  // and module/data_crc32, which the script checked
}

}  // namespace
