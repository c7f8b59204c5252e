// Mini-batches: coverage, determinism by (seed, epoch), drop_last, the last partial batch.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <set>

#include "r2g2/core/data/batches.h"
#include "r2g2/core/data/datasets.h"
#include "data_test_util.h"

using namespace r2g2;
using namespace r2g2::data;
using r2g2::test::error_of;

namespace {
// n examples of 1x2x2 whose pixels all equal the example index / 255, labels index % 3.
Dataset indexed_dataset(int64_t n) {
  LabeledBytes ex;
  ex.example_dims = {1, 2, 2};
  for (int64_t i = 0; i < n; ++i) {
    for (int k = 0; k < 4; ++k) ex.pixels.push_back(static_cast<uint8_t>(i));
    ex.labels.push_back(static_cast<uint8_t>(i % 3));
  }
  return make_dataset("indexed", ex, 3);
}

// The example indices of a batch, read back from its pixels; checks the labels match.
std::vector<int> batch_ids(const Batch& b) {
  auto x = b.images.to_vector();
  auto y = b.labels.to_int_vector();
  const size_t per = x.size() / y.size();
  std::vector<int> ids;
  for (size_t i = 0; i < y.size(); ++i) {
    int id = static_cast<int>(std::lround(x[i * per] * 255));
    for (size_t k = 1; k < per; ++k) CHECK(x[i * per + k] == x[i * per]);
    CHECK(y[i] == id % 3);
    ids.push_back(id);
  }
  return ids;
}

std::vector<int> epoch_ids(BatchLoader& loader, uint64_t epoch, std::vector<int64_t>* sizes = nullptr) {
  std::vector<int> all;
  for (const Batch& b : loader.epoch(epoch)) {
    auto ids = batch_ids(b);
    if (sizes) sizes->push_back(static_cast<int64_t>(ids.size()));
    all.insert(all.end(), ids.begin(), ids.end());
  }
  return all;
}
}  // namespace

TEST_SUITE("batches") {
  TEST_CASE("each epoch covers every example exactly once, with a partial last batch") {
    Dataset data = indexed_dataset(10);
    BatchLoader loader(data, {.batch_size = 3, .seed = 5});
    CHECK(loader.num_batches() == 4);
    for (uint64_t epoch : {0u, 1u, 7u}) {
      std::vector<int64_t> sizes;
      auto ids = epoch_ids(loader, epoch, &sizes);
      CHECK(sizes == std::vector<int64_t>{3, 3, 3, 1});
      std::vector<int> expect(10);
      std::iota(expect.begin(), expect.end(), 0);
      auto sorted = ids;
      std::sort(sorted.begin(), sorted.end());
      CHECK(sorted == expect);
      CHECK(ids != expect);  // shuffled (10! orders: identity by chance is negligible)
      // The batches follow order(epoch).
      const auto& ord = loader.order(epoch);
      CHECK(std::vector<int>(ord.begin(), ord.end()) == ids);
    }
  }

  TEST_CASE("the same seed replays the same orders; epochs and seeds differ") {
    Dataset data = indexed_dataset(50);
    BatchLoader a(data, {.batch_size = 8, .seed = 42}), b(data, {.batch_size = 8, .seed = 42}),
        c(data, {.batch_size = 8, .seed = 43});
    auto a0 = epoch_ids(a, 0), a1 = epoch_ids(a, 1);
    CHECK(a0 == epoch_ids(b, 0));
    CHECK(a1 == epoch_ids(b, 1));
    CHECK(a0 != a1);
    CHECK(a0 != epoch_ids(c, 0));
    // Going back to an earlier epoch gives its order again (nothing depends on history).
    CHECK(epoch_ids(a, 0) == a0);
    CHECK(shuffled_order(50, 42, 1) == a.order(1));
  }

  TEST_CASE("drop_last drops only a short final batch") {
    Dataset data = indexed_dataset(10);
    BatchLoader loader(data, {.batch_size = 3, .seed = 1, .drop_last = true});
    CHECK(loader.num_batches() == 3);
    std::vector<int64_t> sizes;
    auto ids = epoch_ids(loader, 0, &sizes);
    CHECK(sizes == std::vector<int64_t>{3, 3, 3});
    CHECK(std::set<int>(ids.begin(), ids.end()).size() == 9);
    BatchLoader exact(data, {.batch_size = 5, .drop_last = true});
    CHECK(exact.num_batches() == 2);
    BatchLoader too_big(data, {.batch_size = 11, .drop_last = true});
    CHECK(too_big.num_batches() == 0);
    CHECK(epoch_ids(too_big, 0).empty());
  }

  TEST_CASE("without shuffle the order is the file order; flatten gives [b, D]") {
    Dataset data = indexed_dataset(7);
    BatchLoader loader(data, {.batch_size = 4, .shuffle = false, .flatten = true});
    CHECK(epoch_ids(loader, 3) == std::vector<int>{0, 1, 2, 3, 4, 5, 6});
    Batch last = loader.batch(0, 1);
    CHECK(last.index == 1);
    CHECK(last.images.shape() == Shape{3, 4});
    CHECK(last.labels.shape() == Shape{3});
    CHECK(last.labels.dtype() == DType::i32);
    BatchLoader nchw(data, {.batch_size = 4, .device = Device::cpu()});
    CHECK(nchw.batch(0, 0).images.shape() == Shape{4, 1, 2, 2});
  }

  TEST_CASE("the shuffle is a uniform permutation") {
    // Where example 0 lands, over many seeds: each of the 4 slots about a quarter of the time.
    std::vector<int> where(4, 0);
    for (uint64_t seed = 0; seed < 4000; ++seed) {
      auto ord = shuffled_order(4, seed, 0);
      ++where[static_cast<size_t>(std::find(ord.begin(), ord.end(), 0) - ord.begin())];
    }
    for (int w : where) CHECK(std::abs(w - 1000) < 120);  // about 4 standard deviations
    auto big = shuffled_order(1000, 9, 2);
    std::vector<int32_t> sorted = big;
    std::sort(sorted.begin(), sorted.end());
    for (int32_t i = 0; i < 1000; ++i) REQUIRE(sorted[static_cast<size_t>(i)] == i);
  }

  TEST_CASE("bad options and out-of-range batches are errors") {
    Dataset data = indexed_dataset(5);
    CHECK(error_of([&] { BatchLoader(data, {.batch_size = 0}); }).find("batch size must be positive") !=
          std::string::npos);
    BatchLoader loader(data, {.batch_size = 2});
    CHECK(error_of([&] { loader.batch(0, 3); }).find("batch 3 is outside [0, 3)") != std::string::npos);
  }
}
