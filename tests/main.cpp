// Shared doctest main. A suite may declare itself unable to run here (no GPU, no data)
// by calling r2g2::test::skip_suite(reason): it then exits with 77, which ctest reports
// as skipped rather than passed.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <cstdio>

#include "test_util.h"

namespace r2g2::test {
namespace {
std::string g_skip_reason;
}
void skip_suite(const std::string& reason) {
  if (g_skip_reason.empty()) g_skip_reason = reason;
}
}  // namespace r2g2::test

int main(int argc, char** argv) {
  doctest::Context context(argc, argv);
  int rc = context.run();
  if (context.shouldExit()) return rc;
  if (rc == 0 && !r2g2::test::g_skip_reason.empty()) {
    std::printf("SKIPPED: %s\n", r2g2::test::g_skip_reason.c_str());
    return 77;
  }
  return rc;
}
