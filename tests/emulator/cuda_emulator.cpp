// The emulator's scheduler and runtime (see cuda_emulator.h for the model).
#include "emulator/cuda_emulator.h"

#include <sys/mman.h>
#if !defined(__x86_64__)
#include <ucontext.h>
#endif

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>
#include <vector>

#include "emulator/capture_hooks.h"

// g++ says which sanitizer is on by __SANITIZE_*__, clang (14) only by __has_feature: without
// the fiber-switch annotations below, ASan takes a fiber's stack for a corrupted one.
#if defined(__SANITIZE_THREAD__)
#define R2G2_EMU_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define R2G2_EMU_TSAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define R2G2_EMU_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define R2G2_EMU_ASAN 1
#endif
#endif
#ifdef R2G2_EMU_TSAN
#include <sanitizer/tsan_interface.h>
#endif
#ifdef R2G2_EMU_ASAN
#include <sanitizer/common_interface_defs.h>
#endif

namespace r2g2_emu {
namespace {

// A stack switch. On x86-64 it is a few instructions (callee-saved registers, the
// floating-point control words, the stack pointer): glibc's swapcontext also saves the
// signal mask with a system call, which made it most of the emulator's run time.
#if defined(__x86_64__)
extern "C" void r2g2_emu_switch(void** save_sp, void* load_sp);
asm(R"(
  .text
  .p2align 4
  .globl r2g2_emu_switch
  .hidden r2g2_emu_switch
  .type r2g2_emu_switch, @function
r2g2_emu_switch:
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  subq $8, %rsp
  stmxcsr (%rsp)
  fnstcw 4(%rsp)
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  ldmxcsr (%rsp)
  fldcw 4(%rsp)
  addq $8, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
  .size r2g2_emu_switch, .-r2g2_emu_switch
)");

struct Context {
  void* sp = nullptr;
};
// The target is read before the ThreadSanitizer fiber switch, which must come last.
using Target = void*;
inline Target target_of(Context& c) { return c.sp; }
inline void switch_context(Context& from, Target to) { r2g2_emu_switch(&from.sp, to); }
// A fresh context that starts `entry` on the stack [stack, stack + bytes); entry never returns.
inline void make_context(Context& c, void* stack, size_t bytes, void (*entry)()) {
  auto* top = reinterpret_cast<uint64_t*>((reinterpret_cast<uintptr_t>(stack) + bytes) & ~uintptr_t{15});
  uint32_t control[2];
  asm volatile("stmxcsr %0\n\tfnstcw %1" : "=m"(control[0]), "=m"(control[1]));
  *--top = 0;                                   // entry's return address: none (ends backtraces)
  *--top = reinterpret_cast<uint64_t>(entry);   // where r2g2_emu_switch's ret goes
  for (int r = 0; r < 6; ++r) *--top = 0;       // rbp, rbx, r12-r15
  *--top = control[0] | uint64_t{control[1]} << 32;
  c.sp = top;
}
#else
struct Context {
  ucontext_t uc{};
};
using Target = ucontext_t*;
inline Target target_of(Context& c) { return &c.uc; }
inline void switch_context(Context& from, Target to) { swapcontext(&from.uc, to); }
inline void make_context(Context& c, void* stack, size_t bytes, void (*entry)()) {
  getcontext(&c.uc);
  c.uc.uc_stack.ss_sp = stack;
  c.uc.uc_stack.ss_size = bytes;
  c.uc.uc_link = nullptr;
  makecontext(&c.uc, entry, 0);
}
#endif

// ThreadSanitizer sees each fiber as a thread. The switches carry no synchronisation
// (no_sync), so these acquire/release pairs are the only happens-before edges: exactly
// the ones CUDA guarantees.
inline void hb_release([[maybe_unused]] const void* token) {
#ifdef R2G2_EMU_TSAN
  __tsan_release(const_cast<void*>(token));
#endif
}
inline void hb_acquire([[maybe_unused]] const void* token) {
#ifdef R2G2_EMU_TSAN
  __tsan_acquire(const_cast<void*>(token));
#endif
}

enum State : int { ready, at_barrier, at_warp, done };
constexpr size_t kStackBytes = 512 * 1024;
constexpr int kWarp = 32;

struct Fiber {
  Context context;
  void* stack = nullptr;
  dim3 thread{};
  int linear = 0;
  std::atomic<int> state{done};
  // What this thread brought to the barrier or warp collective it waits at.
  BarrierKind barrier_kind = BarrierKind::plain;
  int predicate = 0;
  Collective collective = Collective::sync;
  unsigned mask = 0;
  unsigned char value[16] = {};
  size_t value_size = 0;
  int source = 0;
  uint64_t key = 0;
  unsigned char result[16] = {};
  unsigned vote = 0;
  void* tsan_fiber = nullptr;
  void* asan_fake_stack = nullptr;

  Fiber() {
    stack = mmap(nullptr, kStackBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (stack == MAP_FAILED) throw std::runtime_error("cuda emulator: cannot map a fiber stack");
#ifdef R2G2_EMU_TSAN
    tsan_fiber = __tsan_create_fiber(0);
#endif
  }
  ~Fiber() {
#ifdef R2G2_EMU_TSAN
    __tsan_destroy_fiber(tsan_fiber);
#endif
    munmap(stack, kStackBytes);
  }
};

struct Warp {
  unsigned completed = 0;  // collectives completed: picks one of two tokens, see below
  char tokens[2] = {};
};

struct Emulator {
  std::recursive_mutex launch_mutex;  // one launch at a time, from any host thread
  std::vector<std::unique_ptr<Fiber>> fibers;
  std::vector<Warp> warps;
  Context scheduler;
  void* scheduler_tsan_fiber = nullptr;
  const void* scheduler_stack_bottom = nullptr;
  size_t scheduler_stack_size = 0;
  std::atomic<Fiber*> current{nullptr};

  // The launch in progress.
  const char* name = "";
  const std::function<void()>* body = nullptr;
  dim3 grid, block, block_index;
  int threads = 0;
  std::unique_ptr<unsigned char, decltype(&std::free)> shared{nullptr, &std::free};
  size_t shared_bytes = 0;
  int barrier_result = 0;
  unsigned barriers = 0;
  char barrier_tokens[2] = {};
  char block_token = 0, end_token = 0;
  // How a thread ended the block early. Written by that thread before it releases
  // end_token; `ended_early` tells the scheduler to acquire end_token and read them.
  std::string failure;  // an EmulationError raised inside a fiber
  bool trapped = false;
  std::atomic<bool> ended_early{false};
  std::atomic<bool> abandoning{false};  // unwinding the threads of a failed block

  // Runtime state.
  DeviceProperties properties;
  std::map<const void*, int> max_shared;
  std::map<const void*, size_t> allocations;
  MemoryStats memory;
  size_t capacity = 0;
  cudaError_t last_error = cudaSuccess;
  cudaError_t pending_error = cudaSuccess;  // raised by a kernel, not yet seen by a synchronisation
  cudaError_t sticky_error = cudaSuccess;   // seen: every later call reports it, as on a device
  int64_t launches = 0;
  std::string last_kernel;
  std::map<std::string, int64_t> launches_by_name;
  std::map<const void*, int64_t> launches_by_kernel;
  ThreadOrder order = ThreadOrder::alternate;
};

Emulator& emu() {
  static Emulator* e = new Emulator;  // never destroyed: fibers may outlive static destructors
  return *e;
}

Fiber& self() {
  Fiber* f = emu().current.load(std::memory_order_relaxed);
  if (f == nullptr) throw EmulationError("cuda emulator: a device function was called outside a kernel");
  return *f;
}

struct Trap {};
struct Abandon {};

// Switches from the running fiber back to the scheduler; returns when it is resumed.
void yield_to_scheduler(Fiber& f, [[maybe_unused]] bool finished) {
  Emulator& e = emu();
#ifdef R2G2_EMU_ASAN
  __sanitizer_start_switch_fiber(finished ? nullptr : &f.asan_fake_stack, e.scheduler_stack_bottom,
                                 e.scheduler_stack_size);
#endif
  const Target scheduler = target_of(e.scheduler);
#ifdef R2G2_EMU_TSAN
  __tsan_switch_to_fiber(e.scheduler_tsan_fiber, __tsan_switch_to_fiber_no_sync);
#endif
  switch_context(f.context, scheduler);
#ifdef R2G2_EMU_ASAN
  __sanitizer_finish_switch_fiber(f.asan_fake_stack, &e.scheduler_stack_bottom, &e.scheduler_stack_size);
#endif
  // Resumed only to be unwound: the block failed while this thread waited.
  if (e.abandoning.load(std::memory_order_relaxed)) throw Abandon{};
}

void resume(Fiber& f) {
  Emulator& e = emu();
  e.current.store(&f, std::memory_order_relaxed);
#ifdef R2G2_EMU_ASAN
  void* fake_stack = nullptr;
  __sanitizer_start_switch_fiber(&fake_stack, f.stack, kStackBytes);
#endif
  const Target fiber = target_of(f.context);
#ifdef R2G2_EMU_TSAN
  __tsan_switch_to_fiber(f.tsan_fiber, __tsan_switch_to_fiber_no_sync);
#endif
  switch_context(e.scheduler, fiber);
#ifdef R2G2_EMU_ASAN
  __sanitizer_finish_switch_fiber(fake_stack, nullptr, nullptr);
#endif
  e.current.store(nullptr, std::memory_order_relaxed);
}


void fiber_main() {
  Emulator& e = emu();
  Fiber& f = self();
#ifdef R2G2_EMU_ASAN
  __sanitizer_finish_switch_fiber(nullptr, &e.scheduler_stack_bottom, &e.scheduler_stack_size);
#endif
  hb_acquire(&e.block_token);
  try {
    (*e.body)();
  } catch (const Abandon&) {
  } catch (const Trap&) {
    e.trapped = true;
    e.ended_early.store(true, std::memory_order_relaxed);
  } catch (const std::exception& ex) {
    e.failure = ex.what();
    e.ended_early.store(true, std::memory_order_relaxed);
  } catch (...) {
    e.failure = "unknown exception";
    e.ended_early.store(true, std::memory_order_relaxed);
  }
  hb_release(&e.end_token);
  f.state.store(done, std::memory_order_relaxed);
  yield_to_scheduler(f, true);
  std::abort();  // a finished fiber is never resumed
}

std::string describe(const Fiber& f) {
  std::ostringstream os;
  os << "thread (" << f.thread.x << "," << f.thread.y << "," << f.thread.z << ")";
  return os.str();
}

[[noreturn]] void fail(const std::string& what) {
  Emulator& e = emu();
  std::ostringstream os;
  os << "cuda emulator: kernel " << e.name << ", block (" << e.block_index.x << "," << e.block_index.y << ","
     << e.block_index.z << "): " << what;
  throw EmulationError(os.str());
}

const char* state_name(int s) {
  switch (s) {
    case ready: return "running";
    case at_barrier: return "at __syncthreads";
    case at_warp: return "at a warp collective";
    default: return "exited";
  }
}

// No fiber can run: complete the block barrier if everyone still running is at it.
bool complete_barrier() {
  Emulator& e = emu();
  // Acquired before the arrivals' predicates are read: each fiber wrote its own and then
  // released this token.
  const char* token = &e.barrier_tokens[e.barriers % 2];
  hb_acquire(token);
  int waiting = 0, all = 1, any = 0, count = 0;
  for (int t = 0; t < e.threads; ++t) {
    Fiber& f = *e.fibers[t];
    const int s = f.state.load(std::memory_order_relaxed);
    if (s == done) continue;
    if (s != at_barrier) return false;
    ++waiting;
    all &= f.predicate != 0;
    any |= f.predicate != 0;
    count += f.predicate != 0;
  }
  if (waiting == 0) return false;
  // Threads that have exited count as arrived, as on hardware since Volta.
  const BarrierKind kind = [&] {
    for (int t = 0; t < e.threads; ++t)
      if (e.fibers[t]->state.load(std::memory_order_relaxed) == at_barrier) return e.fibers[t]->barrier_kind;
    return BarrierKind::plain;
  }();
  e.barrier_result = kind == BarrierKind::all ? all : kind == BarrierKind::any ? any : count;
  ++e.barriers;  // before the release: the fibers read it at their next barrier
  hb_release(token);
  for (int t = 0; t < e.threads; ++t)
    if (e.fibers[t]->state.load(std::memory_order_relaxed) == at_barrier)
      e.fibers[t]->state.store(ready, std::memory_order_relaxed);
  return true;
}

// A block that failed (an emulation error, a trap, a deadlock) still has threads waiting
// at a barrier or collective. Each is resumed once to unwind its stack, so that nothing of
// it is left half-run: ThreadSanitizer then sees the end of every thread, and no later
// launch inherits its frames.
void abandon_block() {
  Emulator& e = emu();
  e.abandoning.store(true, std::memory_order_relaxed);
  for (int t = 0; t < e.threads; ++t)
    if (e.fibers[t]->state.load(std::memory_order_relaxed) != done) resume(*e.fibers[t]);
  e.abandoning.store(false, std::memory_order_relaxed);
  hb_acquire(&e.end_token);
}

void run_block(bool ascending) {
  Emulator& e = emu();
  // Poison dynamic shared memory: a kernel that reads it before writing sees NaNs.
  std::memset(e.shared.get(), 0xFF, e.shared_bytes);
  for (int t = 0; t < e.threads; ++t) {
    Fiber& f = *e.fibers[t];
    make_context(f.context, f.stack, kStackBytes, fiber_main);
    f.state.store(ready, std::memory_order_relaxed);
  }
  hb_release(&e.block_token);
  for (;;) {
    bool ran = false;
    for (int i = 0; i < e.threads; ++i) {
      Fiber& f = *e.fibers[ascending ? i : e.threads - 1 - i];
      if (f.state.load(std::memory_order_relaxed) != ready) continue;
      resume(f);
      ran = true;
      if (!e.ended_early.load(std::memory_order_relaxed)) continue;
      hb_acquire(&e.end_token);
      if (!e.failure.empty()) {
        abandon_block();
        throw EmulationError(e.failure);
      }
      if (e.trapped) {  // a trap ends the whole kernel
        abandon_block();
        return;
      }
    }
    if (ran) continue;
    if (complete_barrier()) continue;
    bool all_done = true;
    for (int t = 0; t < e.threads; ++t) all_done &= e.fibers[t]->state.load(std::memory_order_relaxed) == done;
    if (all_done) break;
    std::ostringstream os;
    os << "deadlock: no thread can proceed (divergent __syncthreads or warp collective).";
    int shown = 0;
    for (int t = 0; t < e.threads && shown < 8; ++t) {
      const int s = e.fibers[t]->state.load(std::memory_order_relaxed);
      const int prev = t == 0 ? -1 : e.fibers[t - 1]->state.load(std::memory_order_relaxed);
      if (s != prev) {
        os << " " << describe(*e.fibers[t]) << " " << state_name(s) << ";";
        ++shown;
      }
    }
    abandon_block();
    fail(os.str());
  }
  hb_acquire(&e.end_token);
}

bool valid_config(dim3 grid, dim3 block, size_t shared, const void* kernel) {
  Emulator& e = emu();
  const uint64_t threads = uint64_t{block.x} * block.y * block.z;
  if (threads == 0 || threads > static_cast<uint64_t>(e.properties.max_threads_per_block)) return false;
  if (block.z > 64 || grid.x == 0 || grid.y == 0 || grid.z == 0) return false;
  if (grid.x > 0x7FFFFFFFu || grid.y > 65535 || grid.z > 65535) return false;
  const int limit = std::max(e.properties.shared_per_block, max_dynamic_shared(kernel));
  return shared <= static_cast<size_t>(limit);
}

}  // namespace

bool valid_launch_config(dim3 grid, dim3 block, size_t shared, const void* kernel) {
  return valid_config(grid, block, shared, kernel);
}
DeviceProperties& device_properties() { return emu().properties; }
MemoryStats memory_stats() { return emu().memory; }
void set_memory_capacity(size_t bytes) { emu().capacity = bytes; }
void reset_device() {
  Emulator& e = emu();
  e.properties = DeviceProperties{};
  e.max_shared.clear();
  e.capacity = 0;
  e.last_error = cudaSuccess;
  e.pending_error = cudaSuccess;
  e.sticky_error = cudaSuccess;
}
void set_thread_order(ThreadOrder order) { emu().order = order; }
int64_t launch_count() { return emu().launches; }
std::string last_kernel() { return emu().last_kernel; }
int64_t launches_of(const std::string& part) {
  int64_t n = 0;
  for (const auto& [name, count] : emu().launches_by_name)
    if (name.find(part) != std::string::npos) n += count;
  return n;
}

const dim3& thread_index() { return self().thread; }
const dim3& block_index() { return emu().block_index; }
const dim3& block_dim() { return emu().block; }
const dim3& grid_dim() { return emu().grid; }
void* dynamic_shared() { return emu().shared.get(); }
int lane_id() { return self().linear % kWarp; }

int block_barrier(BarrierKind kind, int predicate) {
  Emulator& e = emu();
  Fiber& f = self();
  f.barrier_kind = kind;
  f.predicate = predicate;
  const unsigned phase = e.barriers;
  hb_release(&e.barrier_tokens[phase % 2]);
  f.state.store(at_barrier, std::memory_order_relaxed);
  yield_to_scheduler(f, false);
  hb_acquire(&e.barrier_tokens[phase % 2]);
  return e.barrier_result;
}

namespace {
// Registers this lane's arrival at a warp collective; the last lane of `mask` to arrive
// computes every lane's result. Returns after all of them have arrived.
void arrive_at_warp(Fiber& f, Collective kind, unsigned mask) {
  Emulator& e = emu();
  const int lane = f.linear % kWarp, warp = f.linear / kWarp;
  const int lanes_here = std::min(kWarp, e.threads - warp * kWarp);
  if (!(mask >> lane & 1u))
    fail(describe(f) + " calls a warp collective with a mask that does not name its own lane");
  if (lanes_here < kWarp && (mask >> lanes_here) != 0)
    fail(describe(f) + ": warp collective mask names lanes past the end of the block");
  f.collective = kind;
  f.mask = mask;
  Warp& w = e.warps[warp];
  const char* token = &w.tokens[w.completed % 2];
  hb_release(token);
  f.state.store(at_warp, std::memory_order_relaxed);
  Fiber* lanes[kWarp] = {};
  for (int l = 0; l < kWarp; ++l) {
    if (!(mask >> l & 1u)) continue;
    Fiber& other = *e.fibers[warp * kWarp + l];
    const int s = other.state.load(std::memory_order_relaxed);
    if (s == done) fail(describe(f) + " waits in a warp collective for lane " + std::to_string(l) + ", which has exited");
    if (s != at_warp) {
      yield_to_scheduler(f, false);  // not everyone is here yet; the last one wakes us
      hb_acquire(token);
      return;
    }
    lanes[l] = &other;
  }
  // Last to arrive: check that everyone is in the same collective, then answer all.
  hb_acquire(token);
  for (int l = 0; l < kWarp; ++l) {
    if (!lanes[l]) continue;
    if (lanes[l]->mask != mask || lanes[l]->collective != kind)
      fail("lanes of warp " + std::to_string(warp) + " meet in different warp collectives or with different masks");
  }
  unsigned ballot = 0;
  for (int l = 0; l < kWarp; ++l)
    if (lanes[l] && lanes[l]->key != 0) ballot |= 1u << l;
  for (int l = 0; l < kWarp; ++l) {
    Fiber* me = lanes[l];
    if (!me) continue;
    if (kind == Collective::shuffle) {
      const int src = me->source;
      if (src < 0 || src >= kWarp || !lanes[src])
        fail("lane " + std::to_string(l) + " of warp " + std::to_string(warp) + " shuffles from lane " +
             std::to_string(src) + ", which is not in the mask");
      std::memcpy(me->result, lanes[src]->value, me->value_size);
    } else if (kind == Collective::ballot) {
      me->vote = ballot;
    } else if (kind == Collective::match) {
      unsigned same = 0;
      for (int k = 0; k < kWarp; ++k)
        if (lanes[k] && lanes[k]->key == me->key) same |= 1u << k;
      me->vote = same;
    }
  }
  ++w.completed;
  hb_release(token);
  for (int l = 0; l < kWarp; ++l)
    if (lanes[l] && lanes[l] != &f) lanes[l]->state.store(ready, std::memory_order_relaxed);
  f.state.store(ready, std::memory_order_relaxed);
}
}  // namespace

void warp_collective(Collective kind, unsigned mask, const void* value, size_t size, int source, void* out) {
  Fiber& f = self();
  if (size > sizeof f.value) fail("warp collective value larger than 16 bytes");
  if (size) std::memcpy(f.value, value, size);
  f.value_size = size;
  f.source = source;
  arrive_at_warp(f, kind, mask);
  if (out && size) std::memcpy(out, f.result, size);
}

unsigned warp_vote(Collective kind, unsigned mask, uint64_t value) {
  Fiber& f = self();
  f.key = value;
  f.value_size = 0;
  arrive_at_warp(f, kind, mask);
  return f.vote;
}

unsigned active_mask() {
  Emulator& e = emu();
  Fiber& f = self();
  const int warp = f.linear / kWarp;
  unsigned mask = 0;
  for (int l = 0; l < kWarp && warp * kWarp + l < e.threads; ++l)
    if (e.fibers[warp * kWarp + l]->state.load(std::memory_order_relaxed) != done) mask |= 1u << l;
  return mask;
}

void trap() { throw Trap{}; }

int max_dynamic_shared(const void* kernel) {
  auto it = emu().max_shared.find(kernel);
  return it == emu().max_shared.end() ? 0 : it->second;
}
void set_max_dynamic_shared(const void* kernel, int bytes) { emu().max_shared[kernel] = bytes; }

void run(const char* name, const void* kernel, dim3 grid, dim3 block, size_t shared_bytes,
         const std::function<void()>& body) {
  Emulator& e = emu();
  std::lock_guard lock(e.launch_mutex);
  if (e.current.load(std::memory_order_relaxed) != nullptr)
    throw EmulationError("cuda emulator: kernel launch from device code is not supported");
  if (!valid_config(grid, block, shared_bytes, kernel)) {
    e.last_error = cudaErrorInvalidConfiguration;
    return;
  }
  if (e.pending_error != cudaSuccess || e.sticky_error != cudaSuccess) return;  // a failed context runs nothing
  ++e.launches;
  e.last_kernel = name;
  ++e.launches_by_name[name];
#ifdef R2G2_EMU_TSAN
  if (!e.scheduler_tsan_fiber) e.scheduler_tsan_fiber = __tsan_get_current_fiber();
#endif
  e.name = name;
  e.body = &body;
  e.grid = grid;
  e.block = block;
  e.threads = static_cast<int>(block.x * block.y * block.z);
  e.shared_bytes = shared_bytes;
  e.shared.reset(static_cast<unsigned char*>(std::aligned_alloc(128, (shared_bytes + 128) / 128 * 128)));
  while (static_cast<int>(e.fibers.size()) < e.threads) e.fibers.push_back(std::make_unique<Fiber>());
  e.warps.assign((e.threads + kWarp - 1) / kWarp, Warp{});
  for (int t = 0; t < e.threads; ++t) {
    Fiber& f = *e.fibers[t];
    f.linear = t;
    f.thread = dim3(t % block.x, (t / block.x) % block.y, t / (block.x * block.y));
  }
  e.failure.clear();
  e.trapped = false;
  e.ended_early.store(false, std::memory_order_relaxed);
  // Alternate per kernel, not globally, so that what a test sees does not depend on how
  // many other launches ran before it.
  const bool odd_launch = ++e.launches_by_kernel[kernel] % 2 == 1;
  const bool ascending = e.order == ThreadOrder::alternate ? odd_launch : e.order == ThreadOrder::ascending;
  for (unsigned z = 0; z < grid.z; ++z)
    for (unsigned y = 0; y < grid.y; ++y)
      for (unsigned x = 0; x < grid.x; ++x) {
        e.block_index = dim3(x, y, z);
        run_block(ascending);
        if (e.trapped) {
          // As on a device: the error is sticky and surfaces at the next synchronisation.
          e.pending_error = cudaErrorLaunchFailure;
          return;
        }
      }
}

}  // namespace r2g2_emu

// ---- runtime API ---------------------------------------------------------------------------
using r2g2_emu::emu;

namespace {
// A synchronising call: a kernel's error becomes visible here, and stays.
cudaError_t synchronise() {
  auto& e = emu();
  if (e.pending_error != cudaSuccess) {
    e.sticky_error = e.pending_error;
    e.pending_error = cudaSuccess;
  }
  return e.sticky_error;
}
}  // namespace

const char* cudaGetErrorString(cudaError_t error) {
  switch (error) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorInvalidConfiguration: return "invalid configuration argument";
    case cudaErrorInvalidDevicePointer: return "invalid device pointer";
    case cudaErrorLaunchFailure: return "unspecified launch failure";
    case cudaErrorStreamCaptureImplicit:
      return "operation would make the legacy stream depend on a capturing blocking stream";
    case cudaErrorStreamCaptureInvalidated:
      return "operation failed due to a previous error during capture";
    case cudaErrorStreamCaptureUnsupported:
      return "operation not permitted when stream is capturing";
    case cudaErrorIllegalState:
      return "the operation cannot be performed in the present state";
    case cudaErrorInvalidResourceHandle:
      return "invalid resource handle";
  }
  return "unknown error";
}
const char* cudaGetErrorName(cudaError_t error) {
  switch (error) {
    case cudaSuccess: return "cudaSuccess";
    case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
    case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
    case cudaErrorInvalidConfiguration: return "cudaErrorInvalidConfiguration";
    case cudaErrorInvalidDevicePointer: return "cudaErrorInvalidDevicePointer";
    case cudaErrorLaunchFailure: return "cudaErrorLaunchFailure";
    case cudaErrorStreamCaptureImplicit:
      return "cudaErrorStreamCaptureImplicit";
    case cudaErrorStreamCaptureInvalidated:
      return "cudaErrorStreamCaptureInvalidated";
    case cudaErrorStreamCaptureUnsupported:
      return "cudaErrorStreamCaptureUnsupported";
    case cudaErrorIllegalState:
      return "cudaErrorIllegalState";
    case cudaErrorInvalidResourceHandle:
      return "cudaErrorInvalidResourceHandle";
  }
  return "cudaErrorUnknown";
}
cudaError_t cudaGetLastError() {
  cudaError_t e = emu().last_error;
  emu().last_error = cudaSuccess;
  return e != cudaSuccess ? e : emu().sticky_error;
}
cudaError_t cudaPeekAtLastError() {
  return emu().last_error != cudaSuccess ? emu().last_error : emu().sticky_error;
}

namespace {
// A call that a capture prohibits sets the last error too, as a failed call does.
cudaError_t refused_by_capture(cudaError_t error) {
  const cudaError_t refused = r2g2_emu::capture_hooks::refuse(error);
  if (refused != cudaSuccess) emu().last_error = refused;
  return refused;
}
}  // namespace

cudaError_t cudaMalloc(void** ptr, size_t bytes) {
  if (ptr) *ptr = nullptr;
  if (const cudaError_t refused = refused_by_capture(cudaErrorStreamCaptureUnsupported)) return refused;
  auto& e = emu();
  std::lock_guard lock(e.launch_mutex);
  if (e.capacity != 0 && e.memory.bytes_in_use + bytes > e.capacity) {
    ++e.memory.failed_allocations;
    return e.last_error = cudaErrorMemoryAllocation;
  }
  const size_t rounded = (std::max<size_t>(bytes, 1) + 255) / 256 * 256;
  void* p = std::aligned_alloc(256, rounded);
  if (!p) return e.last_error = cudaErrorMemoryAllocation;
  e.allocations[p] = bytes;
  e.memory.bytes_in_use += bytes;
  e.memory.peak_bytes = std::max(e.memory.peak_bytes, e.memory.bytes_in_use);
  ++e.memory.allocations;
  *ptr = p;
  return cudaSuccess;
}
cudaError_t cudaFree(void* ptr) {
  if (const cudaError_t refused = refused_by_capture(cudaErrorStreamCaptureUnsupported)) return refused;
  auto& e = emu();
  std::lock_guard lock(e.launch_mutex);
  if (!ptr) return cudaSuccess;
  auto it = e.allocations.find(ptr);
  if (it == e.allocations.end()) return e.last_error = cudaErrorInvalidDevicePointer;
  e.memory.bytes_in_use -= it->second;
  e.allocations.erase(it);
  std::free(ptr);
  return cudaSuccess;
}
// Stream-ordered allocation would be a graph node; r2g2 does not capture it, so it is
// refused like cudaMalloc.
cudaError_t cudaMallocAsync(void** ptr, size_t bytes, cudaStream_t) { return cudaMalloc(ptr, bytes); }
cudaError_t cudaFreeAsync(void* ptr, cudaStream_t) { return cudaFree(ptr); }
cudaError_t cudaMemcpy(void* dst, const void* src, size_t bytes, cudaMemcpyKind) {
  if (const cudaError_t refused = refused_by_capture(cudaErrorStreamCaptureImplicit)) return refused;
  if (const cudaError_t status = synchronise(); status != cudaSuccess) return status;
  if (bytes) std::memmove(dst, src, bytes);
  return cudaSuccess;
}
cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t bytes, cudaMemcpyKind, cudaStream_t stream) {
  bool recorded = false;
  const cudaError_t status = r2g2_emu::capture_hooks::enqueue(
      stream,
      [dst, src, bytes] {
        if (bytes) std::memmove(dst, src, bytes);
      },
      &recorded);
  if (status != cudaSuccess) return emu().last_error = status;
  if (!recorded && bytes) std::memmove(dst, src, bytes);
  return cudaSuccess;
}
cudaError_t cudaMemset(void* ptr, int value, size_t bytes) {
  if (const cudaError_t refused = refused_by_capture(cudaErrorStreamCaptureImplicit)) return refused;
  if (const cudaError_t status = synchronise(); status != cudaSuccess) return status;
  if (bytes) std::memset(ptr, value, bytes);
  return cudaSuccess;
}
cudaError_t cudaMemsetAsync(void* ptr, int value, size_t bytes, cudaStream_t stream) {
  bool recorded = false;
  const cudaError_t status = r2g2_emu::capture_hooks::enqueue(
      stream,
      [ptr, value, bytes] {
        if (bytes) std::memset(ptr, value, bytes);
      },
      &recorded);
  if (status != cudaSuccess) return emu().last_error = status;
  if (!recorded && bytes) std::memset(ptr, value, bytes);
  return cudaSuccess;
}
cudaError_t cudaStreamSynchronize(cudaStream_t) {
  if (const cudaError_t refused = refused_by_capture(cudaErrorStreamCaptureUnsupported)) return refused;
  return synchronise();
}
cudaError_t cudaDeviceSynchronize() {
  if (const cudaError_t refused = refused_by_capture(cudaErrorStreamCaptureUnsupported)) return refused;
  return synchronise();
}
cudaError_t cudaGetDevice(int* device) {
  *device = 0;
  return cudaSuccess;
}
cudaError_t cudaSetDevice(int device) { return device == 0 ? cudaSuccess : emu().last_error = cudaErrorInvalidValue; }
cudaError_t cudaDeviceGetAttribute(int* value, cudaDeviceAttr attr, int device) {
  if (device != 0) return cudaErrorInvalidValue;
  const auto& p = emu().properties;
  switch (attr) {
    case cudaDevAttrMaxThreadsPerBlock: *value = p.max_threads_per_block; return cudaSuccess;
    case cudaDevAttrMaxSharedMemoryPerBlock: *value = p.shared_per_block; return cudaSuccess;
    case cudaDevAttrMultiProcessorCount: *value = p.multiprocessor_count; return cudaSuccess;
    case cudaDevAttrMaxSharedMemoryPerBlockOptin: *value = p.shared_per_block_optin; return cudaSuccess;
  }
  return cudaErrorInvalidValue;
}
