// Estimator schedules that fuzz_estimator_schedule (tests/fuzz) showed to be trouble:
// each must be refused with a clear r2g2::Error, never overflow or crash.
#include <doctest/doctest.h>

#include <string>

#include "r2g2/core/error.h"
#include "r2g2/estimators/estimator.h"
#include "test_util.h"

using r2g2::EstimatorSchedule;
using r2g2::test::contains;
using r2g2::test::error_of;

TEST_CASE("a schedule whose segments end beyond int64 is refused, not overflowed") {
  // name_at(step) adds the counts up: 9223372036854775807 + 1 would overflow.
  const std::string spec = "r2g2:9223372036854775807,rt:1,lrt";
  const std::string error = error_of([&] { EstimatorSchedule schedule(spec); });
  CHECK(contains(error, "estimator schedule 'r2g2:9223372036854775807,rt:1,lrt': segment 2 ('rt:1') ends "
                        "beyond step 9223372036854775807"));
  // The largest count that still fits is accepted and answers every step.
  EstimatorSchedule largest("r2g2:9223372036854775806,rt:1,lrt");
  CHECK(largest.name_at(0) == "r2g2");
  CHECK(largest.name_at(9223372036854775806) == "rt");
  CHECK(largest.name_at(9223372036854775807) == "lrt");
}
