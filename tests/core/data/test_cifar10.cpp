// CIFAR-10 binary records: round trip, broken files, and the split loader.
#include <doctest/doctest.h>

#include <filesystem>

#include "r2g2/core/data/cifar10.h"
#include "r2g2/core/data/datasets.h"
#include "data_test_util.h"

using namespace r2g2;
using namespace r2g2::data;
using r2g2::test::error_of;
using r2g2::test::noise_bytes;
using r2g2::test::read_raw;
using r2g2::test::TempDir;
using r2g2::test::write_raw;

namespace {
LabeledBytes cifar_examples(int64_t n, uint64_t seed, int first_label = 0) {
  LabeledBytes ex;
  ex.example_dims = {3, 32, 32};
  ex.pixels = noise_bytes(static_cast<size_t>(n * kCifarPixels), seed);
  for (int64_t i = 0; i < n; ++i) ex.labels.push_back(static_cast<uint8_t>((first_label + i) % 10));
  return ex;
}
}  // namespace

TEST_SUITE("cifar10") {
  TEST_CASE("records round trip, plain and gzip, in the label + RGB planes layout") {
    TempDir dir;
    LabeledBytes ex = cifar_examples(3, 1, 7);
    for (bool gzip : {false, true}) {
      CAPTURE(gzip);
      std::string p = dir.file(gzip ? "b.bin.gz" : "b.bin");
      write_cifar10(p, ex, gzip);
      if (!gzip) {
        auto raw = read_raw(p);
        REQUIRE(raw.size() == 3 * kCifarRecord);
        CHECK(raw[0] == 7);
        CHECK(raw[kCifarRecord] == 8);
        CHECK(raw[1] == ex.pixels[0]);
        CHECK(raw[kCifarRecord + 1] == ex.pixels[kCifarPixels]);
      }
      LabeledBytes back = read_cifar10(p);
      CHECK(back.example_dims == std::vector<int64_t>{3, 32, 32});
      CHECK(back.labels == std::vector<uint8_t>{7, 8, 9});
      CHECK(back.pixels == ex.pixels);
    }
  }

  TEST_CASE("a truncated record, an empty file and a label above 9 are errors") {
    TempDir dir;
    std::string p = dir.file("b.bin");
    write_cifar10(p, cifar_examples(3, 2), false);
    auto raw = read_raw(p);
    REQUIRE(raw.size() == 3 * kCifarRecord);
    raw.resize(2 * kCifarRecord + 100);  // 2 records and 100 bytes
    write_raw(p, raw);
    std::string e = error_of([&] { read_cifar10(p); });
    CAPTURE(e);
    CHECK(e.find(p) != std::string::npos);
    CHECK(e.find("truncated record") != std::string::npos);
    CHECK(e.find("2 whole records of 3073 bytes") != std::string::npos);
    CHECK(e.find("plus 100 bytes") != std::string::npos);
    write_raw(p, raw, true);  // the same inside gzip
    CHECK(error_of([&] { read_cifar10(p); }).find("plus 100 bytes") != std::string::npos);

    write_raw(p, {});
    CHECK(error_of([&] { read_cifar10(p); }).find("empty file") != std::string::npos);

    write_cifar10(p, cifar_examples(2, 3), false);
    raw = read_raw(p);
    raw[kCifarRecord] = 10;
    write_raw(p, raw);
    e = error_of([&] { read_cifar10(p); });
    CAPTURE(e);
    CHECK(e.find("record 1 has label 10") != std::string::npos);
  }

  TEST_CASE("load_cifar10 joins the five training batches and scales pixels") {
    TempDir dir;
    std::filesystem::path sub = dir.path() / "cifar-10-batches-bin";
    std::vector<LabeledBytes> parts;
    for (int k = 1; k <= 5; ++k) {
      parts.push_back(cifar_examples(k, static_cast<uint64_t>(10 + k), k));
      write_cifar10((sub / ("data_batch_" + std::to_string(k) + ".bin")).string(), parts.back(), k % 2 == 0);
    }
    write_cifar10((sub / "test_batch.bin").string(), cifar_examples(4, 99), false);

    Dataset train = load_cifar10(dir.path().string(), "train");  // finds the subfolder
    CHECK(train.name == "cifar10/train");
    CHECK(train.images.shape() == Shape{15, 3, 32, 32});
    CHECK(train.num_classes == 10);
    CHECK(train.class_names.at(3) == "cat");
    // Example 1 is the first record of batch 2.
    CHECK(train.labels.to_int_vector()[1] == 2);
    const float* x = train.images.data<float>();
    CHECK(x[kCifarPixels + 5] == doctest::Approx(parts[1].pixels[5] / 255.0));
    CHECK(x[14 * kCifarPixels + 7] == doctest::Approx(parts[4].pixels[4 * kCifarPixels + 7] / 255.0));

    Dataset test = load_cifar10(sub.string(), "test");
    CHECK(test.size() == 4);

    std::filesystem::remove(sub / "data_batch_3.bin");
    std::string e = error_of([&] { load_cifar10(dir.path().string(), "train"); });
    CAPTURE(e);
    CHECK(e.find("missing: data_batch_3.bin") != std::string::npos);
  }
}
