#pragma once
// The op profiler. Off by default; on with R2G2_PROFILE=1 in the environment (the table is
// then printed on stderr at exit), with `--profile` on the command line, or with enable().
// While on, it counts calls and wall time per name, in three kinds of row:
//   kernel    every kernel called through R2G2_KERNEL (core/dispatch.h), under the name
//             the call site wrote ("gemm<T>"): exact.
//   backward  the backward closure of each tape node kind ("matmul"), including every op
//             and kernel that closure runs.
//   op        each op that reaches record() (core/autograd.h), taped or not, and the
//             untaped tensor work that has its own row (randn, fill, contiguous copy, the
//             optimizers' steps): the kernel time run on this thread since the previous
//             op row, so each row holds its own kernels; other untaped kernels (a fused kernel an
//             estimator calls directly) are counted in the next op row.
// Rows nest (a backward row contains kernel rows), so the shares, each a fraction of the
// wall time since profiling started, do not add up to 100 %.
//
// On a CUDA device each profiled kernel is synchronised before and after it runs, so that
// its time is its own: this serialises the host and the device, and the whole run is
// slower than without profiling. CPU timings are unaffected.
//
// Off, a profiled call costs one well-predicted branch on a cached flag. Thread-safe: the
// counters sit behind a mutex (taken only while profiling).
#include <atomic>
#include <chrono>
#include <cstdint>
#include <iosfwd>
#include <string>
#include <string_view>
#include <vector>

#include "r2g2/core/device.h"

namespace r2g2::profiler {

enum class Kind { op, backward, kernel };
const char* kind_name(Kind kind);

struct Row {
  Kind kind = Kind::op;
  std::string name;
  uint64_t calls = 0;
  double total_seconds = 0;
  double share = 0;  // total_seconds over the wall time since profiling started
  double mean_seconds() const { return calls ? total_seconds / static_cast<double>(calls) : 0.0; }
};

namespace detail {
// -1: the environment has not been read yet; 0: off; 1: on.
extern std::atomic<int> g_state;
bool enabled_from_environment();
}  // namespace detail

inline bool enabled() {
  const int state = detail::g_state.load(std::memory_order_relaxed);
  if (state == 0) [[likely]]
    return false;
  return state > 0 || detail::enabled_from_environment();
}

// Turning profiling on starts the wall clock the shares are measured against (when it
// was off); the counters are kept until reset().
void enable(bool on);
void reset();

// One row per (kind, name), sorted by total time, largest first.
std::vector<Row> report();
// The table of report(), with a header naming the columns and the wall time.
void print(std::ostream& os);

// Counts one call of `name` that took `seconds`.
void add(Kind kind, std::string_view name, double seconds);

// Kernel timing, for R2G2_KERNEL. kernel_start synchronises a CUDA device first, so that
// earlier work is not counted; kernel_stop synchronises it again, then counts the call
// both as a kernel row and as time pending for the next op.
using Clock = std::chrono::steady_clock;
Clock::time_point kernel_start(Device device);
void kernel_stop(const char* name, Device device, Clock::time_point start);

// The tape's hooks (core/autograd.cpp): an op row takes the pending kernel time; a
// backward closure's own kernels are already inside its backward row, so they are dropped.
void count_op(const char* name);
void discard_pending();

// Times its scope as one call of `name`, when profiling is on at construction.
class ScopeTimer {
 public:
  ScopeTimer(Kind kind, const std::string& name);
  ~ScopeTimer();
  ScopeTimer(const ScopeTimer&) = delete;
  ScopeTimer& operator=(const ScopeTimer&) = delete;

 private:
  bool active_;
  Kind kind_;
  std::string name_;
  Clock::time_point start_;
};

}  // namespace r2g2::profiler
