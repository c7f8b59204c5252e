#pragma once
// The CPU kernels' one thread pool: started once, reused by every parallel kernel, so that
// splitting a few hundred microseconds of work across cores pays off (starting a thread
// per call costs tens of microseconds). Bottom layer: depends on nothing in core/.
//
//   parallel_for(begin, end, grain, [&](int64_t lo, int64_t hi) { ... });
//
// calls the function on disjoint chunks [lo, hi) that together cover [begin, end) exactly
// once, each at least `grain` long except possibly the last. The caller works on chunks
// too and returns when all are done. A range of at most `grain` indices, a pool of one
// thread, a call from inside a chunk (nested) and a call while another thread holds the
// pool all run inline, as one chunk on the calling thread. The first exception a chunk
// throws is rethrown to the caller as it was thrown; the chunks not yet started are skipped.
//
// Threads: R2G2_NUM_THREADS when set (1 runs everything serially), else the hardware's
// concurrency. Kernels whose results must not depend on the thread count use it only for
// work where each output element depends on its own index alone (elementwise maps,
// counter-based random numbers), never to reorder a sum.
#include <cstdint>
#include <memory>
#include <type_traits>

namespace r2g2::kernels::runtime {

// A borrowed callable taking (chunk_begin, chunk_end): two pointers, no allocation. Only a
// parameter: the callable (a temporary is fine) outlives the call it is passed to.
class ChunkFunction {
 public:
  template <class F, class = std::enable_if_t<!std::is_same_v<std::decay_t<F>, ChunkFunction>>>
  ChunkFunction(F&& f)  // NOLINT(google-explicit-constructor): built at the call site
      : object_(const_cast<void*>(static_cast<const void*>(&f))), call_([](void* object, int64_t lo, int64_t hi) {
          (*static_cast<std::remove_reference_t<F>*>(object))(lo, hi);
        }) {}

  void operator()(int64_t lo, int64_t hi) const { call_(object_, lo, hi); }

 private:
  void* object_;
  void (*call_)(void*, int64_t, int64_t);
};

class ThreadPool {
 public:
  // `threads` counts the caller: threads - 1 workers are started (fewer if the system
  // refuses more). At least 1.
  explicit ThreadPool(int threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  // The threads that work on a call: the workers started plus the caller.
  int size() const;
  void run(int64_t begin, int64_t end, int64_t grain, ChunkFunction fn);

  // The pool the kernels share, of thread_count_from_environment() threads, started on
  // first use and never stopped (so that kernels may run during static destruction).
  static ThreadPool& global();

 private:
  struct Shared;
  std::unique_ptr<Shared> shared_;
};

// R2G2_NUM_THREADS when set and not empty, else std::thread::hardware_concurrency() (1 if
// unknown). A value that is not a positive integer throws r2g2::Error naming it.
int thread_count_from_environment();
// The same rule on given values (env_value may be null), for tests.
int parse_thread_count(const char* env_value, unsigned hardware_threads);

// Grains of the CPU kernels, in elements. Waking a worker costs a few microseconds, so a
// chunk should hold at least some tens of microseconds of work: 2^15 elements of a map
// that costs a few cycles each (memory bound: add, fill, axpy, Adam), 2^12 of one that
// calls a transcendental function per element (exp, log, softplus, sqrt and division).
inline constexpr int64_t kCheapElementGrain = int64_t{1} << 15;
inline constexpr int64_t kCostlyElementGrain = int64_t{1} << 12;

template <class F>
void parallel_for(int64_t begin, int64_t end, int64_t grain, F&& fn) {
  if (end <= begin) return;
  if (end - begin <= grain) {
    fn(begin, end);  // too small to share: no need to touch the pool
    return;
  }
  ThreadPool::global().run(begin, end, grain, ChunkFunction(fn));
}

}  // namespace r2g2::kernels::runtime
