#include "r2g2/kernels/runtime/thread_pool.h"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <system_error>
#include <thread>
#include <vector>

#include "r2g2/kernels/runtime/error.h"

namespace r2g2::kernels::runtime {

namespace {

// Chunks per thread: more than one, so that a thread the (shared, busy) machine does not
// schedule holds up little work, which the others pick up instead.
constexpr int64_t kChunksPerThread = 4;

// Set on workers for their lifetime and on a caller while it works on its own call's
// chunks: a parallel_for from such a thread runs inline.
thread_local bool t_inside_pool = false;

}  // namespace

// One call: chunks are handed out by an atomic counter, so whichever thread is free takes
// the next; the caller's stack holds it.
struct Job {
  Job(ChunkFunction f, int64_t first, int64_t last, int64_t size)
      : fn(f), begin(first), end(last), chunk_size(size), chunks((last - first + size - 1) / size) {}

  ChunkFunction fn;
  int64_t begin, end, chunk_size, chunks;
  std::atomic<int64_t> next_chunk{0};
  std::atomic<bool> failed{false};
  std::exception_ptr error;  // written once, by the thread that set `failed`
  int workers_inside = 0;    // guarded by Shared::mutex
};

struct ThreadPool::Shared {
  std::mutex mutex;
  std::condition_variable wake;  // workers wait here for a job
  std::condition_variable done;  // the caller waits here for the workers inside its job
  Job* job = nullptr;            // the open job, if any
  uint64_t generation = 0;       // counts jobs, so a worker joins each at most once
  bool stopping = false;
  std::mutex busy;  // held by the caller whose job the pool runs
  std::vector<std::thread> workers;
};

namespace {

void work_on_chunks(Job& job) {
  for (;;) {
    const int64_t c = job.next_chunk.fetch_add(1, std::memory_order_relaxed);
    if (c >= job.chunks) return;
    const int64_t lo = job.begin + c * job.chunk_size;
    const int64_t hi = std::min(job.end, lo + job.chunk_size);
    try {
      job.fn(lo, hi);
    } catch (...) {
      if (!job.failed.exchange(true)) job.error = std::current_exception();
      job.next_chunk.store(job.chunks, std::memory_order_relaxed);  // skip what is left
      return;
    }
  }
}

}  // namespace

ThreadPool::ThreadPool(int threads) : shared_(std::make_unique<Shared>()) {
  Shared& s = *shared_;
  for (int t = 1; t < threads; ++t) {
    try {
      s.workers.emplace_back([&s] {
        t_inside_pool = true;
        uint64_t seen = 0;
        std::unique_lock lock(s.mutex);
        for (;;) {
          s.wake.wait(lock, [&] { return s.stopping || (s.job != nullptr && s.generation != seen); });
          if (s.stopping) return;
          seen = s.generation;
          Job& job = *s.job;
          ++job.workers_inside;
          lock.unlock();
          work_on_chunks(job);
          lock.lock();
          if (--job.workers_inside == 0) s.done.notify_one();
        }
      });
    } catch (const std::system_error&) {
      break;  // no more threads to be had: work with those started
    }
  }
}

ThreadPool::~ThreadPool() {
  Shared& s = *shared_;
  {
    std::lock_guard lock(s.mutex);
    s.stopping = true;
  }
  s.wake.notify_all();
  for (auto& worker : s.workers) worker.join();
}

int ThreadPool::size() const { return static_cast<int>(shared_->workers.size()) + 1; }

void ThreadPool::run(int64_t begin, int64_t end, int64_t grain, ChunkFunction fn) {
  if (end <= begin) return;
  grain = std::max<int64_t>(grain, 1);
  const int64_t n = end - begin;
  Shared& s = *shared_;
  if (n <= grain || s.workers.empty() || t_inside_pool || !s.busy.try_lock()) {
    fn(begin, end);
    return;
  }
  std::lock_guard busy(s.busy, std::adopt_lock);
  const int64_t most_chunks = kChunksPerThread * size();
  const int64_t chunk_size = std::max(grain, (n + most_chunks - 1) / most_chunks);
  Job job(fn, begin, end, chunk_size);
  {
    std::lock_guard lock(s.mutex);
    s.job = &job;
    ++s.generation;
  }
  s.wake.notify_all();
  t_inside_pool = true;
  work_on_chunks(job);
  t_inside_pool = false;
  {
    // Closing the job under the lock means no worker joins it from now on; those inside
    // finish the chunks they hold.
    std::unique_lock lock(s.mutex);
    s.job = nullptr;
    s.done.wait(lock, [&] { return job.workers_inside == 0; });
  }
  if (job.error) std::rethrow_exception(job.error);
}

ThreadPool& ThreadPool::global() {
  // Deliberately never destroyed: a kernel run from another static's destructor still
  // finds its pool, and idle workers simply end with the process.
  static ThreadPool* pool = new ThreadPool(thread_count_from_environment());
  return *pool;
}

int parse_thread_count(const char* env_value, unsigned hardware_threads) {
  if (env_value == nullptr || *env_value == '\0') return static_cast<int>(std::clamp(hardware_threads, 1u, 1024u));
  char* rest = nullptr;
  errno = 0;
  const long value = std::strtol(env_value, &rest, 10);
  R2G2_CHECK(errno == 0 && *rest == '\0' && value >= 1 && value <= 1024,
             "R2G2_NUM_THREADS must be an integer from 1 to 1024 (1: no worker threads), got '", env_value, "'");
  return static_cast<int>(value);
}

int thread_count_from_environment() {
  return parse_thread_count(std::getenv("R2G2_NUM_THREADS"), std::thread::hardware_concurrency());
}

}  // namespace r2g2::kernels::runtime
