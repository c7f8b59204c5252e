#pragma once
// Examples as the files store them: u8 pixels and u8 labels, before any scaling. The
// IDX, CIFAR-10 and JSON readers all produce this; core/data/datasets.h turns it into
// tensors.
#include <cstdint>
#include <vector>

namespace r2g2::data {

struct LabeledBytes {
  std::vector<int64_t> example_dims;  // per example: [rows, cols] or [C, H, W]
  std::vector<uint8_t> pixels;        // count() * prod(example_dims), row-major
  std::vector<uint8_t> labels;        // one per example
  int64_t count() const { return static_cast<int64_t>(labels.size()); }
  int64_t example_numel() const {
    int64_t n = 1;
    for (auto d : example_dims) n *= d;
    return n;
  }
};

}  // namespace r2g2::data
