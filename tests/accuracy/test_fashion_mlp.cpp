// The end-to-end check: a deterministic MLP 784-256-10 trained for one
// epoch on the real Fashion-MNIST reaches at least 83% test accuracy. Without the data
// set installed the suite reports itself skipped, never passed.
#include <doctest/doctest.h>

#include <cstdio>

#include "r2g2/core/data/datasets.h"
#include "r2g2/models/mlp_train.h"
#include "test_util.h"

using namespace r2g2;

TEST_CASE("MLP 784-256-10 reaches 83% on Fashion-MNIST after one epoch") {
  auto where = data::find_data_dir("fashion-mnist");
  if (!where.found()) {
    test::skip_suite("Fashion-MNIST is not installed (" + where.message + ")");
    return;
  }
  MESSAGE("using the real Fashion-MNIST from " << where.dir);
  auto train = data::load_fashion_mnist(where.dir, "train");
  auto test_set = data::load_fashion_mnist(where.dir, "test");
  REQUIRE(train.size() == 60000);
  REQUIRE(test_set.size() == 10000);
  MLP model({784, 256, 10}, /*seed=*/1);
  auto result = train_classifier(model, train, {.epochs = 1, .batch_size = 64, .lr = 1e-3, .seed = 1});
  double accuracy = classifier_accuracy(model, test_set);
  MESSAGE("one epoch: " << result.steps << " steps in " << result.seconds << " s, test accuracy " << accuracy);
  CHECK(result.steps == 938);
  CHECK(accuracy >= 0.83);
}
