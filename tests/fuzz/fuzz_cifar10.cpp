// CIFAR-10 binary batches, plain or (when the bytes start with 1f 8b) gzip.
#include "fuzz_util.h"
#include "r2g2/core/data/cifar10.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string& path = r2g2::fuzz::write_scratch({data, size});
  r2g2::fuzz::expect_read_or_error([&] {
    r2g2::data::LabeledBytes examples = r2g2::data::read_cifar10(path);
    const bool consistent = examples.count() > 0 &&
                            examples.pixels.size() == examples.labels.size() * r2g2::data::kCifarPixels;
    if (!consistent) __builtin_trap();
    for (uint8_t label : examples.labels)
      if (label > 9) __builtin_trap();
  });
  return 0;
}
