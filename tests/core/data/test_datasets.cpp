// Data sets as tensors: scaling, the IDX folder loaders, finding the data, and the real
// Fashion-MNIST from Debian's dataset-fashion-mnist when it is installed.
#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>

#include "r2g2/core/data/datasets.h"
#include "r2g2/core/data/idx.h"
#include "data_test_util.h"

using namespace r2g2;
using namespace r2g2::data;
using r2g2::test::error_of;
using r2g2::test::noise_bytes;
using r2g2::test::TempDir;

namespace {
LabeledBytes small_examples(int64_t n, int64_t side, uint64_t seed) {
  LabeledBytes ex;
  ex.example_dims = {side, side};
  ex.pixels = noise_bytes(static_cast<size_t>(n * side * side), seed);
  for (int64_t i = 0; i < n; ++i)
    ex.labels.push_back(static_cast<uint8_t>((i * 7 + static_cast<int64_t>(seed)) % 10));
  return ex;
}

// Restores an environment variable when the test ends.
struct EnvGuard {
  std::string name, old;
  bool had;
  EnvGuard(const char* n, const std::string& value) : name(n) {
    const char* o = std::getenv(n);
    had = o != nullptr;
    if (had) old = o;
    ::setenv(n, value.c_str(), 1);
  }
  ~EnvGuard() {
    if (had)
      ::setenv(name.c_str(), old.c_str(), 1);
    else
      ::unsetenv(name.c_str());
  }
};
}  // namespace

TEST_SUITE("datasets") {
  TEST_CASE("make_dataset scales bytes to [0, 1], adds the channel axis, checks labels") {
    LabeledBytes ex;
    ex.example_dims = {1, 3};
    ex.pixels = {0, 51, 255, 255, 0, 102};
    ex.labels = {1, 0};
    Dataset d = make_dataset("tiny", ex, 2);
    CHECK(d.images.shape() == Shape{2, 1, 1, 3});
    CHECK(d.images.dtype() == DType::f32);
    CHECK(d.labels.dtype() == DType::i32);
    auto x = d.images.to_vector();
    CHECK(x[0] == 0.0);
    CHECK(x[1] == doctest::Approx(0.2));
    CHECK(x[2] == 1.0);
    CHECK(x[5] == doctest::Approx(0.4));
    CHECK(d.labels.to_int_vector() == std::vector<int32_t>{1, 0});
    CHECK(class_counts(d) == std::vector<int64_t>{1, 1});
    CHECK(d.flattened().images.shape() == Shape{2, 3});
    Dataset s = d.slice(1, 1);
    CHECK(s.size() == 1);
    CHECK(s.labels.to_int_vector() == std::vector<int32_t>{0});
    CHECK(s.images.to_vector()[2] == doctest::Approx(0.4));
    CHECK(error_of([&] { d.slice(1, 2); }).find("examples [1, 3) are outside [0, 2)") != std::string::npos);

    ex.labels = {1, 12};
    std::string e = error_of([&] { make_dataset("tiny", ex, 10); });
    CAPTURE(e);
    CHECK(e.find("example 1 has label 12, outside [0, 10)") != std::string::npos);
  }

  TEST_CASE("IDX folders load by split, with or without .gz") {
    TempDir dir;
    LabeledBytes train = small_examples(6, 28, 1), test = small_examples(4, 28, 2);
    write_idx_pair(dir.file("train-images-idx3-ubyte.gz"), dir.file("train-labels-idx1-ubyte.gz"), train,
                   true);
    write_idx_pair(dir.file("t10k-images-idx3-ubyte"), dir.file("t10k-labels-idx1-ubyte"), test, false);
    Dataset tr = load_fashion_mnist(dir.path().string(), "train");
    CHECK(tr.name == "fashion-mnist/train");
    CHECK(tr.images.shape() == Shape{6, 1, 28, 28});
    CHECK(tr.class_names.at(9) == "Ankle boot");
    CHECK(tr.labels.to_int_vector() == std::vector<int32_t>(train.labels.begin(), train.labels.end()));
    CHECK(tr.images.to_vector()[100] == doctest::Approx(train.pixels[100] / 255.0));
    CHECK(load_mnist_idx(dir.path().string(), "test").size() == 4);
    CHECK(load_mnist_idx(dir.path().string(), "t10k").size() == 4);
    CHECK(load_dataset("mnist", dir.path().string(), "test").size() == 4);
    CHECK(error_of([&] { load_mnist_idx(dir.path().string(), "valid"); }).find("unknown split 'valid'") !=
          std::string::npos);
    CHECK(error_of([&] { load_dataset("imagenet", "", "train"); }).find("unknown data set 'imagenet'") !=
          std::string::npos);

    TempDir odd;
    write_idx_pair(odd.file("train-images-idx3-ubyte"), odd.file("train-labels-idx1-ubyte"),
                   small_examples(2, 27, 3), false);
    CHECK(error_of([&] {
            load_fashion_mnist(odd.path().string(), "train");
          }).find("28x28, found [1, 27, 27]") != std::string::npos);
    CHECK(load_mnist_idx(odd.path().string(), "train").size() == 2);  // any size for one's own MNIST files
    std::string e = error_of([&] { load_mnist_idx(odd.path().string(), "test"); });
    CAPTURE(e);
    CHECK(e.find("no t10k images file") != std::string::npos);
    CHECK(e.find("t10k-images-idx3-ubyte.gz") != std::string::npos);
  }

  TEST_CASE("find_data_dir prefers $R2G2_DATA and says where it looked when absent") {
    TempDir dir;
    std::filesystem::path fashion = dir.path() / "fashion-mnist";
    write_idx_pair((fashion / "train-images-idx3-ubyte.gz").string(),
                   (fashion / "train-labels-idx1-ubyte.gz").string(), small_examples(2, 28, 4), true);
    EnvGuard env("R2G2_DATA", dir.path().string());
    DataLocation loc = find_data_dir("fashion-mnist");
    REQUIRE(loc.found());
    CHECK(loc.dir == fashion.string());
    CHECK(load_dataset("fashion-mnist", "", "train").size() == 2);

    DataLocation none = find_data_dir("cifar10");
    CHECK_FALSE(none.found());
    CHECK(none.message.find("CIFAR-10 not found") != std::string::npos);
    CHECK(none.message.find(dir.path().string()) != std::string::npos);
    CHECK(error_of([&] { load_dataset("cifar10", "", "train"); }).find("CIFAR-10 not found") !=
          std::string::npos);
  }

  TEST_CASE("the real Fashion-MNIST (Debian's dataset-fashion-mnist)") {
    const std::string debian = "/usr/share/datasets/fashion-mnist";
    if (!std::filesystem::exists(debian + "/train-labels-idx1-ubyte.gz")) {
      MESSAGE("skipped: Fashion-MNIST is not installed at ", debian,
              " (apt-get install dataset-fashion-mnist or run tools/fetch-data.sh)");
      return;
    }
    for (const char* split : {"train", "test"}) {
      CAPTURE(split);
      Dataset d = load_fashion_mnist(debian, split);
      const int64_t n = std::string(split) == "train" ? 60000 : 10000;
      CHECK(d.size() == n);
      CHECK(d.images.shape() == Shape{n, 1, 28, 28});
      CHECK(d.num_classes == 10);
      const float* x = d.images.data<float>();
      float lo = 1, hi = 0;
      for (int64_t i = 0; i < d.images.numel(); ++i) {
        if (x[i] < lo) lo = x[i];
        if (x[i] > hi) hi = x[i];
      }
      CHECK(lo == 0.0f);
      CHECK(hi == 1.0f);
      CHECK(class_counts(d) == std::vector<int64_t>(10, n / 10));
    }
  }
}
