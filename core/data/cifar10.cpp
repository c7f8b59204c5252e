#include "r2g2/core/data/cifar10.h"

#include <algorithm>

#include "r2g2/core/data/data_file.h"
#include "r2g2/core/error.h"

namespace r2g2::data {

namespace {
// One CIFAR-10 batch is 30.7 MB; a file far beyond this is not a CIFAR-10 batch.
constexpr uint64_t kMaxCifarBytes = uint64_t{1} << 31;
}  // namespace

LabeledBytes read_cifar10(const std::string& path) {
  std::vector<uint8_t> bytes = read_all_bytes(path, kMaxCifarBytes);
  const auto size = static_cast<int64_t>(bytes.size());
  R2G2_CHECK(size > 0, path, ": empty file: a CIFAR-10 file holds records of ", kCifarRecord, " bytes");
  const int64_t n = size / kCifarRecord, rest = size % kCifarRecord;
  R2G2_CHECK(rest == 0, path, ": truncated record: ", size, " bytes is ", n, " whole records of ",
             kCifarRecord, " bytes (1 label + ", kCifarPixels, " pixels) plus ", rest, " bytes");
  LabeledBytes out;
  out.example_dims = {3, 32, 32};
  out.labels.resize(static_cast<size_t>(n));
  out.pixels.resize(static_cast<size_t>(n * kCifarPixels));
  for (int64_t i = 0; i < n; ++i) {
    const uint8_t* record = bytes.data() + i * kCifarRecord;
    R2G2_CHECK(record[0] <= 9, path, ": record ", i, " has label ", int{record[0]},
               "; CIFAR-10 labels are 0-9 (a CIFAR-100 file has 2 label bytes per record)");
    out.labels[static_cast<size_t>(i)] = record[0];
    std::copy(record + 1, record + kCifarRecord, out.pixels.begin() + i * kCifarPixels);
  }
  return out;
}

void write_cifar10(const std::string& path, const LabeledBytes& examples, bool gzip) {
  const int64_t n = examples.count();
  R2G2_CHECK(examples.example_numel() == kCifarPixels &&
                 static_cast<int64_t>(examples.pixels.size()) == n * kCifarPixels,
             path, ": CIFAR-10 records need ", kCifarPixels, " pixels per example, got example dims of ",
             examples.example_numel(), " elements and ", examples.pixels.size(), " pixels for ", n,
             " labels");
  std::vector<uint8_t> bytes(static_cast<size_t>(n * kCifarRecord));
  for (int64_t i = 0; i < n; ++i) {
    uint8_t* record = bytes.data() + i * kCifarRecord;
    record[0] = examples.labels[static_cast<size_t>(i)];
    std::copy(examples.pixels.begin() + i * kCifarPixels, examples.pixels.begin() + (i + 1) * kCifarPixels,
              record + 1);
  }
  write_bytes(path, {bytes}, gzip);
}

}  // namespace r2g2::data
