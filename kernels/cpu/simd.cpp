#include "r2g2/kernels/cpu/simd.h"

#include <atomic>
#include <cstdlib>
#include <string>

#include "r2g2/kernels/runtime/error.h"

namespace r2g2::kernels::cpu {

namespace {

constexpr int kNoOverride = -1;
std::atomic<int> override_path{kNoOverride};

// Checked at the first call rather than by target_clones, whose load-time resolver crashes
// under ThreadSanitizer.
bool cpu_has_avx2() {
#ifdef R2G2_SIMD_HAS_AVX2_COPY
  static const bool has = __builtin_cpu_supports("avx2");
  return has;
#else
  return false;
#endif
}

SimdPath path_from_environment() {
  const char* env = std::getenv("R2G2_SIMD");
  if (!env || !*env) return cpu_has_avx2() ? SimdPath::avx2 : SimdPath::baseline;
  const std::string name = env;
  for (SimdPath path : {SimdPath::scalar, SimdPath::baseline, SimdPath::avx2}) {
    if (name != simd_path_name(path)) continue;
    R2G2_CHECK(simd_path_supported(path), "R2G2_SIMD=", name, ": this CPU or build has no ", name, " copy");
    return path;
  }
  throw Error("R2G2_SIMD=" + name + ": unknown; expected scalar, baseline or avx2");
}

}  // namespace

const char* simd_path_name(SimdPath path) {
  switch (path) {
    case SimdPath::scalar:
      return "scalar";
    case SimdPath::baseline:
      return "baseline";
    case SimdPath::avx2:
      return "avx2";
  }
  return "unknown";
}

bool simd_path_supported(SimdPath path) { return path != SimdPath::avx2 || cpu_has_avx2(); }

std::vector<SimdPath> supported_simd_paths() {
  std::vector<SimdPath> paths;
  for (SimdPath path : {SimdPath::scalar, SimdPath::baseline, SimdPath::avx2})
    if (simd_path_supported(path)) paths.push_back(path);
  return paths;
}

SimdPath active_simd_path() {
  const int forced = override_path.load(std::memory_order_relaxed);
  if (forced != kNoOverride) return static_cast<SimdPath>(forced);
  static const SimdPath chosen = path_from_environment();
  return chosen;
}

SimdPathOverride::SimdPathOverride(SimdPath path) : previous_(override_path.load()) {
  R2G2_CHECK(simd_path_supported(path), "SimdPathOverride: this CPU or build has no ", simd_path_name(path),
             " copy");
  override_path.store(static_cast<int>(path));
}

SimdPathOverride::~SimdPathOverride() { override_path.store(previous_); }

}  // namespace r2g2::kernels::cpu
