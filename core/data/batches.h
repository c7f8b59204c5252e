#pragma once
// Mini-batches over a Dataset. The order of an epoch is a pure function of
// (seed, epoch): the same seed replays the same orders, and each epoch gets its own.
//
//   for (const Batch& b : loader.epoch(e)) { ... b.images, b.labels ... }
//
// The order (spec, so that it can be reproduced elsewhere):
//   state = splitmix64(seed ^ splitmix64(epoch + 0x9E3779B97F4A7C15))
//   start from the identity [0, n); for i = n-1 down to 1:
//     j = a uniform integer in [0, i] from the SplitMix64 stream `state`
//         (Lemire's multiply-shift with rejection: unbiased), swap order[i], order[j].
#include <cstdint>
#include <optional>
#include <vector>

#include "r2g2/core/data/datasets.h"
#include "r2g2/core/device.h"
#include "r2g2/core/tensor.h"
#include "r2g2/kernels/runtime/hash.h"

namespace r2g2::data {

// The SplitMix64 finaliser (kernels/runtime/hash.h), named here because the spec uses it.
using r2g2::splitmix64;
// The shuffled order of epoch `epoch` for `n` examples (see the spec above).
std::vector<int32_t> shuffled_order(int64_t n, uint64_t seed, uint64_t epoch);

struct BatchOptions {
  int64_t batch_size = 128;
  bool shuffle = true;
  uint64_t seed = 0;
  bool drop_last = false;                       // drop a final batch smaller than batch_size
  bool flatten = false;                         // images [b, D] instead of [b, C, H, W]
  std::optional<Device> device = std::nullopt;  // where batches go; default: where the data set lives
};

struct Batch {
  Tensor images;      // float32 [b, C, H, W] (or [b, D] with flatten)
  Tensor labels;      // int32 [b]
  int64_t index = 0;  // position of this batch in its epoch
};

class BatchLoader {
 public:
  // Keeps a reference to `data`'s tensors (shared storage, no copy).
  BatchLoader(const Dataset& data, BatchOptions options);

  const BatchOptions& options() const { return options_; }
  int64_t num_examples() const { return n_; }
  // Batches per epoch: ceil(n / b), or floor with drop_last.
  int64_t num_batches() const;
  // The example order of an epoch (the identity without shuffle). Cached for the latest
  // epoch, so a loader is meant for one thread.
  const std::vector<int32_t>& order(uint64_t epoch);
  // Batch `index` of epoch `epoch`; throws naming the range when out of it.
  Batch batch(uint64_t epoch, int64_t index);

  class Epoch {
   public:
    struct iterator {
      BatchLoader* loader;
      uint64_t epoch;
      int64_t index;
      Batch operator*() const { return loader->batch(epoch, index); }
      iterator& operator++() {
        ++index;
        return *this;
      }
      bool operator==(const iterator& o) const { return index == o.index; }
    };
    Epoch(BatchLoader* loader, uint64_t epoch) : loader_(loader), epoch_(epoch) {}
    iterator begin() const { return {loader_, epoch_, 0}; }
    iterator end() const { return {loader_, epoch_, loader_->num_batches()}; }

   private:
    BatchLoader* loader_;
    uint64_t epoch_;
  };
  Epoch epoch(uint64_t e) { return Epoch(this, e); }

 private:
  Tensor images_, labels_;
  int64_t n_ = 0;
  BatchOptions options_;
  std::optional<uint64_t> cached_epoch_;
  std::vector<int32_t> cached_order_;
};

}  // namespace r2g2::data
