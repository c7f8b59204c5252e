#include "r2g2/core/profiler.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <map>
#include <mutex>
#include <ostream>
#include <string_view>
#include <utility>

namespace r2g2::profiler {

namespace detail {
std::atomic<int> g_state{-1};
}  // namespace detail

namespace {

struct Counter {
  uint64_t calls = 0;
  double seconds = 0;
};

// Kernels are timed on whichever thread launches them; one lock keeps the table whole.
struct Registry {
  std::mutex mutex;
  std::map<std::string, Counter, std::less<>> counters[3];  // by Kind, then by name
  Clock::time_point started = Clock::now();
  double wall_before_pause = 0;  // wall seconds profiled before the last enable(false)
  bool running = false;
};

Registry& registry() {
  static Registry* instance = new Registry;  // never destroyed: the exit report reads it
  return *instance;
}

// Kernel seconds run on this thread since the last op took them.
thread_local double t_pending_kernel_seconds = 0;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

double wall_seconds(const Registry& r) {
  return r.wall_before_pause + (r.running ? seconds_since(r.started) : 0.0);
}

void print_at_exit() {
  if (!report().empty()) print(std::cerr);
}

void set_running(bool on) {
  Registry& r = registry();
  std::lock_guard lock(r.mutex);
  if (on && !r.running) r.started = Clock::now();
  if (!on && r.running) r.wall_before_pause += seconds_since(r.started);
  r.running = on;
}

}  // namespace

bool detail::enabled_from_environment() {
  static std::once_flag once;
  std::call_once(once, [] {
    const char* env = std::getenv("R2G2_PROFILE");
    const bool on = env != nullptr && *env != '\0' && std::strcmp(env, "0") != 0;
    int unread = -1;
    // enable() may have been called meanwhile: it wins over the environment.
    if (g_state.compare_exchange_strong(unread, on ? 1 : 0) && on) {
      set_running(true);
      std::atexit(print_at_exit);
    }
  });
  return g_state.load(std::memory_order_relaxed) > 0;
}

const char* kind_name(Kind kind) {
  switch (kind) {
    case Kind::op:
      return "op";
    case Kind::backward:
      return "backward";
    case Kind::kernel:
      return "kernel";
  }
  return "?";
}

void enable(bool on) {
  detail::g_state.store(on ? 1 : 0, std::memory_order_relaxed);
  set_running(on);
}

void reset() {
  Registry& r = registry();
  std::lock_guard lock(r.mutex);
  for (auto& counters : r.counters) counters.clear();
  r.started = Clock::now();
  r.wall_before_pause = 0;
  t_pending_kernel_seconds = 0;
}

void add(Kind kind, std::string_view name, double seconds) {
  Registry& r = registry();
  std::lock_guard lock(r.mutex);
  auto& counters = r.counters[static_cast<int>(kind)];
  auto it = counters.find(name);
  if (it == counters.end()) it = counters.emplace(std::string(name), Counter{}).first;
  it->second.calls += 1;
  it->second.seconds += seconds;
}

std::vector<Row> report() {
  Registry& r = registry();
  std::lock_guard lock(r.mutex);
  const double wall = wall_seconds(r);
  std::vector<Row> rows;
  for (Kind kind : {Kind::op, Kind::backward, Kind::kernel})
    for (const auto& [name, counter] : r.counters[static_cast<int>(kind)])
      rows.push_back(Row{.kind = kind,
                         .name = name,
                         .calls = counter.calls,
                         .total_seconds = counter.seconds,
                         .share = wall > 0 ? counter.seconds / wall : 0.0});
  std::stable_sort(rows.begin(), rows.end(),
                   [](const Row& a, const Row& b) { return a.total_seconds > b.total_seconds; });
  return rows;
}

void print(std::ostream& os) {
  double wall = 0;
  {
    Registry& r = registry();
    std::lock_guard lock(r.mutex);
    wall = wall_seconds(r);
  }
  const std::vector<Row> rows = report();
  char line[256];
  std::snprintf(line, sizeof line,
                "r2g2 profile: %.1f ms of wall time profiled, %zu rows, largest total first\n", wall * 1e3,
                rows.size());
  os << line;
  std::snprintf(line, sizeof line, "%-9s %-36s %10s %12s %12s %7s\n", "kind", "name", "calls", "total ms",
                "mean us", "share");
  os << line;
  for (const Row& row : rows) {
    std::snprintf(line, sizeof line, "%-9s %-36s %10llu %12.3f %12.3f %6.1f%%\n", kind_name(row.kind),
                  row.name.c_str(), static_cast<unsigned long long>(row.calls), row.total_seconds * 1e3,
                  row.mean_seconds() * 1e6, row.share * 100.0);
    os << line;
  }
  os << "(backward rows include the ops and kernels they run; op rows are the kernel time since the "
        "previous op; on CUDA every kernel is synchronised)\n";
  os.flush();
}

Clock::time_point kernel_start(Device device) {
  if (device.is_cuda()) device_synchronize(device);
  return Clock::now();
}

void kernel_stop(const char* name, Device device, Clock::time_point start) {
  if (device.is_cuda()) device_synchronize(device);
  const double seconds = seconds_since(start);
  t_pending_kernel_seconds += seconds;
  add(Kind::kernel, name, seconds);
}

void count_op(const char* name) {
  const double seconds = std::exchange(t_pending_kernel_seconds, 0.0);
  add(Kind::op, name, seconds);
}

void discard_pending() { t_pending_kernel_seconds = 0; }

ScopeTimer::ScopeTimer(Kind kind, const std::string& name) : active_(enabled()), kind_(kind) {
  if (!active_) return;
  name_ = name;
  start_ = Clock::now();
}

ScopeTimer::~ScopeTimer() {
  if (active_) add(kind_, name_, seconds_since(start_));
}

}  // namespace r2g2::profiler
