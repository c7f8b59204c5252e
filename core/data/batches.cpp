#include "r2g2/core/data/batches.h"

#include <limits>
#include <numeric>

#include "r2g2/core/autograd.h"
#include "r2g2/core/error.h"
#include "r2g2/core/ops.h"

namespace r2g2::data {

std::vector<int32_t> shuffled_order(int64_t n, uint64_t seed, uint64_t epoch) {
  R2G2_CHECK(n >= 0 && n <= std::numeric_limits<int32_t>::max(), "shuffled_order: n = ", n,
             " is outside [0, 2^31)");
  std::vector<int32_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  uint64_t state = splitmix64(seed ^ splitmix64(epoch + kGoldenGamma));
  auto next = [&state] {  // the SplitMix64 stream: output mix(state + golden), then advance
    uint64_t r = splitmix64(state);
    state += kGoldenGamma;
    return r;
  };
  // Lemire's nearly-divisionless bounded integer, with rejection so that every j is
  // equally likely (a plain modulo would favour small j).
  auto below = [&next](uint64_t range) {
    uint32_t r = static_cast<uint32_t>(range);
    uint64_t m = static_cast<uint64_t>(static_cast<uint32_t>(next() >> 32)) * r;
    if (static_cast<uint32_t>(m) < r) {
      const uint32_t threshold = static_cast<uint32_t>(-r) % r;
      while (static_cast<uint32_t>(m) < threshold)
        m = static_cast<uint64_t>(static_cast<uint32_t>(next() >> 32)) * r;
    }
    return static_cast<size_t>(m >> 32);
  };
  for (int64_t i = n - 1; i > 0; --i)
    std::swap(order[static_cast<size_t>(i)], order[below(static_cast<uint64_t>(i) + 1)]);
  return order;
}

BatchLoader::BatchLoader(const Dataset& data, BatchOptions options)
    : images_(data.images), labels_(data.labels), n_(data.size()), options_(options) {
  R2G2_CHECK(options_.batch_size > 0, "BatchLoader: batch size must be positive, got ", options_.batch_size);
  R2G2_CHECK(images_.defined() && labels_.defined(), "BatchLoader: data set '", data.name,
             "' has no tensors");
  R2G2_CHECK(labels_.dim() == 1 && images_.dim() >= 1 && images_.size(0) == n_, "BatchLoader: data set '",
             data.name, "' has images ", shape_str(images_.shape()), " and labels ",
             shape_str(labels_.shape()), "; expected [n, ...] and [n]");
  R2G2_CHECK(n_ <= std::numeric_limits<int32_t>::max(), "BatchLoader: ", n_,
             " examples exceed int32 indices");
  if (options_.flatten) images_ = images_.reshape({n_, n_ == 0 ? 0 : images_.numel() / n_});
}

int64_t BatchLoader::num_batches() const {
  const int64_t b = options_.batch_size;
  return options_.drop_last ? n_ / b : (n_ + b - 1) / b;
}

const std::vector<int32_t>& BatchLoader::order(uint64_t epoch) {
  if (cached_epoch_ != epoch) {
    if (options_.shuffle) {
      cached_order_ = shuffled_order(n_, options_.seed, epoch);
    } else if (static_cast<int64_t>(cached_order_.size()) != n_ || !cached_epoch_) {
      cached_order_.resize(static_cast<size_t>(n_));
      std::iota(cached_order_.begin(), cached_order_.end(), 0);
    }
    cached_epoch_ = epoch;
  }
  return cached_order_;
}

Batch BatchLoader::batch(uint64_t epoch, int64_t index) {
  R2G2_CHECK(index >= 0 && index < num_batches(), "BatchLoader: batch ", index, " is outside [0, ",
             num_batches(), ") for ", n_, " examples in batches of ", options_.batch_size,
             options_.drop_last ? " (drop_last)" : "");
  const auto& ord = order(epoch);
  const int64_t start = index * options_.batch_size;
  const int64_t end = std::min(n_, start + options_.batch_size);
  std::vector<int32_t> ids(ord.begin() + start, ord.begin() + end);
  const Shape index_shape = {end - start};
  NoGrad no_grad;  // data never needs a gradient
  Batch out;
  out.index = index;
  // The gather runs where the data lives; only the batch then moves.
  out.images = gather_rows(images_, Tensor::from_vector(ids, index_shape, images_.device()));
  out.labels = gather_rows(labels_, Tensor::from_vector(ids, index_shape, labels_.device()));
  if (options_.device) {
    if (out.images.device() != *options_.device) out.images = out.images.to(*options_.device);
    if (out.labels.device() != *options_.device) out.labels = out.labels.to(*options_.device);
  }
  return out;
}

}  // namespace r2g2::data
