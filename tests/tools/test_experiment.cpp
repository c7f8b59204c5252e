#include <doctest/doctest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "experiment_test_util.h"
#include "r2g2/models/vae.h"
#include "tools/experiment.h"

namespace {

using namespace r2g2;
using namespace r2g2::cli;
using r2g2::test::error_of;
using r2g2::test::TempDir;

ExperimentOptions tiny(const std::string& model, const TempDir& data) {
  ExperimentOptions o;
  o.model = model;
  o.data_dir = data.path().string();
  o.batch = 8;
  o.train_examples = 24;  // 3 batches an epoch: 20 steps cross six epoch boundaries
  o.test_examples = 10;
  o.hidden = {32};
  o.seed = 5;
  if (model == "vgg11") {
    o.width_divisor = 16;
    o.batch = 4;
    o.train_examples = 12;
  }
  return o;
}

std::vector<std::vector<float>> parameters_of(Experiment& run) {
  std::vector<std::vector<float>> out;
  for (const auto& [name, p] : run.module().named_parameters()) {
    std::vector<double> v = p.to_vector();
    out.emplace_back(v.begin(), v.end());
  }
  return out;
}

// Overwrites the value of checkpoint metadata `key` in place with `value` of the same length,
// as a damaged or hand-edited file would hold it.
void edit_metadata(const std::string& path, const std::string& key, const std::string& value) {
  std::string bytes;
  {
    std::ifstream in(path, std::ios::binary);
    std::stringstream s;
    s << in.rdbuf();
    bytes = s.str();
  }
  const std::string quoted_key = "experiment/" + key + "\"";
  const size_t at = bytes.find(quoted_key);
  REQUIRE(at != std::string::npos);
  const size_t open = bytes.find('"', at + quoted_key.size());
  const size_t close = bytes.find('"', open + 1);
  REQUIRE(close - open - 1 == value.size());
  bytes.replace(open + 1, value.size(), value);
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

bool bit_identical(const std::vector<std::vector<float>>& a, const std::vector<std::vector<float>>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (a[i].size() != b[i].size() || std::memcmp(a[i].data(), b[i].data(), a[i].size() * sizeof(float)) != 0)
      return false;
  return true;
}

void check_resume_is_exact(const std::string& model) {
  TempDir data, out;
  test::write_tiny_fashion_mnist(data);
  const ExperimentOptions options = tiny(model, data);

  auto whole = Experiment::create(options);
  StepRecord last_whole;
  for (int i = 0; i < 20; ++i) last_whole = whole->step();

  auto first = Experiment::create(options);
  for (int i = 0; i < 10; ++i) first->step();
  const std::string path = out.file(model + ".safetensors");
  first->save(path);

  ExperimentOptions reread = Experiment::read_options(path);
  CHECK(reread.model == model);
  reread.data_dir = options.data_dir;
  reread.test_examples = options.test_examples;
  auto resumed = Experiment::create(reread);
  resumed->load(path);
  CHECK(resumed->steps_taken() == 10);
  CHECK(resumed->epoch() == first->epoch());
  CHECK(resumed->batch_in_epoch() == first->batch_in_epoch());
  if (auto* vae = dynamic_cast<VAE*>(&resumed->module())) CHECK(vae->steps_taken() == 10);
  StepRecord last_resumed;
  for (int i = 0; i < 10; ++i) last_resumed = resumed->step();

  CHECK(last_resumed.step == 20);
  CHECK(last_resumed.epoch == last_whole.epoch);
  CHECK(last_resumed.loss == last_whole.loss);
  CHECK(bit_identical(parameters_of(*whole), parameters_of(*resumed)));
  const EvalOptions scoring{.samples = 2, .iwae_samples = 3, .iwae_chunk = 2};
  const EvalRecord a = whole->evaluate(scoring), b = resumed->evaluate(scoring);
  CHECK(a.examples == 10);
  if (resumed->is_classifier()) {
    CHECK(a.accuracy == b.accuracy);
    CHECK(a.log_likelihood == b.log_likelihood);
  } else {
    CHECK(a.iwae_bound == b.iwae_bound);
  }
  // And the run did move: a resume that restored nothing would still start from the seed.
  CHECK_FALSE(bit_identical(parameters_of(*whole), parameters_of(*Experiment::create(options))));
}

TEST_CASE("a resumed mlp run continues bit for bit") { check_resume_is_exact("mlp"); }
TEST_CASE("a resumed vgg11 run continues bit for bit") { check_resume_is_exact("vgg11"); }
TEST_CASE("a resumed vae1 run continues bit for bit") { check_resume_is_exact("vae1"); }
TEST_CASE("a resumed vae2 run continues bit for bit") { check_resume_is_exact("vae2"); }

TEST_CASE("load refuses a checkpoint of another model or size, and a truncated file") {
  TempDir data, out;
  test::write_tiny_fashion_mnist(data);
  ExperimentOptions wide = tiny("mlp", data);
  auto run = Experiment::create(wide);
  run->step();
  const std::string path = out.file("mlp32.safetensors");
  run->save(path);

  ExperimentOptions narrow = wide;
  narrow.hidden = {16};
  std::string message = error_of([&] { Experiment::create(narrow)->load(path); });
  CHECK(message.find(path) != std::string::npos);
  CHECK(message.find("hidden '32'") != std::string::npos);
  CHECK(message.find("hidden '16'") != std::string::npos);

  auto vae = Experiment::create(tiny("vae1", data));
  const std::string vae_path = out.file("vae1.safetensors");
  vae->save(vae_path);
  message = error_of([&] { Experiment::create(tiny("vae2", data))->load(vae_path); });
  CHECK(message.find("model 'vae1'") != std::string::npos);
  CHECK(message.find("model 'vae2'") != std::string::npos);

  const auto size = std::filesystem::file_size(path);
  std::filesystem::resize_file(path, size - 16);
  auto fresh = Experiment::create(wide);
  const auto before = parameters_of(*fresh);
  message = error_of([&] { fresh->load(path); });
  CHECK(message.find(path) != std::string::npos);
  CHECK(bit_identical(before, parameters_of(*fresh)));
  std::filesystem::resize_file(path, 5);
  CHECK(error_of([&] { Experiment::read_options(path); }).find("not an r2g2 checkpoint") !=
        std::string::npos);
}

TEST_CASE("load refuses a checkpoint with a bad loader position before changing the run") {
  TempDir data, out;
  test::write_tiny_fashion_mnist(data);
  for (const char* model : {"mlp", "vae1"}) {
    CAPTURE(model);
    auto saved = Experiment::create(tiny(model, data));
    saved->step();  // batch 1 of the 3 in an epoch
    const std::string path = out.file(std::string(model) + ".safetensors");
    saved->save(path);
    edit_metadata(path, "batch_index", "7");

    auto run = Experiment::create(tiny(model, data));
    run->step();
    run->step();
    const auto before = parameters_of(*run);
    const std::string message = error_of([&] { run->load(path); });
    CHECK(message.find(path) != std::string::npos);
    CHECK(message.find("loader position (epoch 0, batch 7) outside the 3 batches") != std::string::npos);
    CHECK(bit_identical(before, parameters_of(*run)));
    CHECK(run->steps_taken() == 2);
    CHECK(run->batch_in_epoch() == 2);
  }
}

TEST_CASE("read_options refuses numbers with trailing garbage") {
  TempDir data, out;
  test::write_tiny_fashion_mnist(data);
  auto run = Experiment::create(tiny("mlp", data));
  const std::string path = out.file("mlp.safetensors");
  run->save(path);
  CHECK(Experiment::read_options(path).hidden == std::vector<int64_t>{32});
  edit_metadata(path, "hidden", "3x");
  auto refusal = [&] { return error_of([&] { Experiment::read_options(path); }); };
  CHECK(refusal().find("experiment/hidden is '3x', not a list of widths") != std::string::npos);
  edit_metadata(path, "hidden", "32");
  const std::string lr = experiment_detail::read_checkpoint_metadata(path).at("experiment/lr");
  const std::string bad_lr = lr.substr(0, lr.size() - 1) + "x";
  edit_metadata(path, "lr", bad_lr);
  CHECK(refusal().find("experiment/lr is '" + bad_lr + "', not a number") != std::string::npos);
  edit_metadata(path, "lr", lr);
  edit_metadata(path, "train_examples", "2x");
  CHECK(refusal().find("experiment/train_examples is '2x', not an integer") != std::string::npos);
}

TEST_CASE("create names a bad option before reading any data") {
  ExperimentOptions o;
  o.data_dir = "/nonexistent";
  o.model = "resnet";
  CHECK(error_of([&] { Experiment::create(o); }).find("known: mlp, vgg11, vae1, vae2, vae3") !=
        std::string::npos);
  o.model = "vae1";
  o.estimator = "lrt";
  CHECK(error_of([&] { Experiment::create(o); }).find("--estimator 'lrt'") != std::string::npos);
  o.estimator = "";
  o.batch = 0;
  CHECK(error_of([&] { Experiment::create(o); }).find("--batch") != std::string::npos);
}

TEST_CASE("vgg11 without CIFAR-10 trains on the padded Fashion-MNIST stand-in and says so") {
  TempDir data;
  test::write_tiny_fashion_mnist(data);
  auto run = Experiment::create(tiny("vgg11", data));
  CHECK(run->options().data == "fashion-mnist-32x3");
  CHECK(run->data_notice().find("CIFAR-10 not found") != std::string::npos);
  CHECK(run->describe().find("stand-in fashion-mnist-32x3") != std::string::npos);
  EvalRecord e = run->evaluate({.samples = 2});
  CHECK(e.examples == 10);
  CHECK(e.accuracy >= 0.0);
  CHECK(e.accuracy <= 1.0);
}

TEST_CASE("gradient_draw returns the compared layers' gradients and leaves training untouched") {
  TempDir data;
  test::write_tiny_fashion_mnist(data);
  for (const char* model : {"mlp", "vae1"}) {
    CAPTURE(model);
    auto plain = Experiment::create(tiny(model, data));
    auto probed = Experiment::create(tiny(model, data));
    probed->set_fixed_batch(8, 3);
    LayerGradients a = probed->gradient_draw("rt", 11);
    LayerGradients b = probed->gradient_draw("rt", 11);
    LayerGradients c = probed->gradient_draw("rt", 12);
    REQUIRE(!a.empty());
    for (const auto& [name, g] : a) {
      bool in_a_compared_layer = false;
      for (const auto& layer : probed->variance_layers())
        in_a_compared_layer |= name.rfind(layer + ".", 0) == 0;
      CHECK(in_a_compared_layer);
    }
    CHECK(a == b);        // the draw is a function of its noise seed
    CHECK_FALSE(a == c);  // ... and the seed matters
    StepRecord p = plain->step(), q = probed->step();
    CHECK(p.loss == q.loss);
    CHECK(bit_identical(parameters_of(*plain), parameters_of(*probed)));
  }
}

}  // namespace
