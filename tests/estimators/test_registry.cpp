// The estimator registry, schedules, and rejected configurations.
#include <doctest/doctest.h>

#include "r2g2/estimators/estimator.h"
#include "estimators/estimator_test_util.h"

using namespace r2g2;

TEST_CASE("registry builds every listed estimator under its own name") {
  auto names = estimator_names();
  for (const char* expected : {"rt", "rt-per-example", "lrt", "flipout", "score", "r2g2", "r2g2-paper"})
    CHECK(std::find(names.begin(), names.end(), expected) != names.end());
  for (const auto& n : names) CHECK(make_estimator(n)->name() == n);
  CHECK(make_estimator("score")->needs_surrogate());
  CHECK_FALSE(make_estimator("r2g2")->needs_surrogate());
}

TEST_CASE("unknown estimator name is rejected with the list of known names") {
  CHECK_THROWS_WITH_AS(make_estimator("rtt"), doctest::Contains("unknown estimator 'rtt'"), Error);
  CHECK_THROWS_WITH_AS(make_estimator("R2G2"), doctest::Contains("r2g2-paper"), Error);
}

TEST_CASE("schedule 'r2g2:2000,rt' switches at step 2000") {
  EstimatorSchedule s("r2g2:2000,rt");
  CHECK(s.name_at(0) == "r2g2");
  CHECK(s.name_at(1999) == "r2g2");
  CHECK(s.name_at(2000) == "rt");
  CHECK(s.name_at(1000000) == "rt");
  CHECK(s.str() == "r2g2:2000,rt");
  EstimatorSchedule three(" lrt:10 , r2g2:5, score ");
  CHECK(three.name_at(9) == "lrt");
  CHECK(three.name_at(10) == "r2g2");
  CHECK(three.name_at(14) == "r2g2");
  CHECK(three.name_at(15) == "score");
  CHECK(EstimatorSchedule("flipout").name_at(123) == "flipout");
}

TEST_CASE("bad schedules are rejected with a message naming the segment") {
  CHECK_THROWS_WITH_AS(EstimatorSchedule("r2g2,rt"), doctest::Contains("needs a step count"), Error);
  CHECK_THROWS_WITH_AS(EstimatorSchedule("r2g2:0,rt"), doctest::Contains("positive step count"), Error);
  CHECK_THROWS_WITH_AS(EstimatorSchedule("r2g2:abc,rt"), doctest::Contains("positive step count"), Error);
  CHECK_THROWS_WITH_AS(EstimatorSchedule("r2g2:10,foo"), doctest::Contains("unknown estimator 'foo'"), Error);
  CHECK_THROWS_WITH_AS(EstimatorSchedule(""), doctest::Contains("empty"), Error);
  CHECK_THROWS_WITH_AS(EstimatorSchedule("rt:5,,lrt"), doctest::Contains("segment 2 is empty"), Error);
}

TEST_CASE("LRT on a conv layer or a latent, Flipout on a latent: clear errors") {
  Generator gen(1);
  Tensor x = test::uniform({2, 3, 5, 5}, 1), mu = test::uniform({4, 3, 3, 3}, 2),
         sigma = test::uniform({4, 3, 3, 3}, 3, 0.1, 0.2);
  auto lrt = make_estimator("lrt");
  CHECK_THROWS_WITH_AS(lrt->conv2d(x, mu, sigma, {}, gen),
                       doctest::Contains("lrt cannot be used on a conv2d layer"), Error);
  Tensor zmu = test::uniform({4, 3}, 4), zs = test::uniform({4, 3}, 5, 0.1, 0.2),
         W = test::uniform({6, 3}, 6);
  CHECK_THROWS_WITH_AS(lrt->latent_linear(zmu, zs, W, Tensor(), gen), doctest::Contains("diagonal K"), Error);
  CHECK_THROWS_WITH_AS(make_estimator("flipout")->latent_linear(zmu, zs, W, Tensor(), gen),
                       doctest::Contains("flipout cannot be used on a Gaussian latent"), Error);
}

TEST_CASE("shape mismatches name the shapes") {
  Generator gen(1);
  auto p = test::make_linear_problem(3, 4, 2, 7);
  Tensor bad_x = test::uniform({3, 5}, 9);
  for (const auto& n : estimator_names())
    CHECK_THROWS_WITH_AS(make_estimator(n)->linear(bad_x, p.mu, p.sigma, p.bias_mu, p.bias_sigma, gen),
                         doctest::Contains("[3, 5]"), Error);
  CHECK_THROWS_WITH_AS(
      make_estimator("r2g2")->latent_linear(test::uniform({2, 3}, 1), test::uniform({2, 3}, 2),
                                            test::uniform({5, 4}, 3), Tensor(), gen),
      doctest::Contains("[5, 4]"), Error);
}
