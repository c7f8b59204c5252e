// EstimatorSchedule specs ("r2g2:2000,rt"): a schedule that parses must answer name_at
// for any step and print a canonical form that parses back to the same schedule.
#include <cstdint>
#include <limits>
#include <string>

#include "fuzz_util.h"
#include "r2g2/estimators/estimator.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string spec(reinterpret_cast<const char*>(data), size);
  r2g2::fuzz::expect_read_or_error([&] {
    r2g2::EstimatorSchedule schedule(spec);
    for (int64_t step : {int64_t{0}, int64_t{1}, int64_t{1999}, int64_t{1} << 40, std::numeric_limits<int64_t>::max()})
      (void)schedule.name_at(step);
    const r2g2::EstimatorSchedule again(schedule.str());
    if (again.str() != schedule.str()) __builtin_trap();
  });
  return 0;
}
