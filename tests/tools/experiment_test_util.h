#pragma once
// A tiny data set in Fashion-MNIST's file layout, so that experiment tests need no
// installed data: 28x28 images of noise bytes, labels cycling over the ten classes.
#include <cstdint>
#include <string>
#include <vector>

#include "core/data/data_test_util.h"
#include "temp_dir.h"

namespace r2g2::test {

inline void write_tiny_fashion_mnist(const TempDir& dir, uint32_t train_examples = 48,
                                     uint32_t test_examples = 20) {
  const struct {
    const char* prefix;
    uint32_t n;
  } splits[] = {{"train", train_examples}, {"t10k", test_examples}};
  for (const auto& s : splits) {
    std::vector<uint8_t> labels(s.n);
    for (uint32_t i = 0; i < s.n; ++i) labels[i] = static_cast<uint8_t>(i % 10);
    write_raw(dir.file(std::string(s.prefix) + "-images-idx3-ubyte"),
              concat_bytes(idx_header({s.n, 28, 28}), noise_bytes(size_t{s.n} * 28 * 28, s.n)));
    write_raw(dir.file(std::string(s.prefix) + "-labels-idx1-ubyte"),
              concat_bytes(idx_header({s.n}), labels));
  }
}

}  // namespace r2g2::test
