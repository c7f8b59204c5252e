#pragma once
// CIFAR-10 binary files (data_batch_1..5.bin, test_batch.bin): records of one label byte
// (0-9) followed by 3072 pixel bytes, the 32x32 red plane, then green, then blue, which
// is exactly the [3, 32, 32] NCHW layout. Plain or gzip, detected from the content.
// A length that is not a whole number of records, an empty file or a label above 9 is
// an r2g2::Error naming the file and the numbers.
#include <cstdint>
#include <string>

#include "r2g2/core/data/labeled_bytes.h"

namespace r2g2::data {

constexpr int64_t kCifarPixels = 3 * 32 * 32;
constexpr int64_t kCifarRecord = 1 + kCifarPixels;

// example_dims = [3, 32, 32].
LabeledBytes read_cifar10(const std::string& path);
// Writes records in the same layout (gzip when asked): used by tests and tools.
void write_cifar10(const std::string& path, const LabeledBytes& examples, bool gzip = false);

}  // namespace r2g2::data
