// The CPU kernels' thread pool: every index exactly once, the first exception rethrown as
// thrown, nested and concurrent calls inline, the one-thread (R2G2_NUM_THREADS=1) path;
// and the kernels that use it give the same bits in one call as in many small ones.
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "r2g2/kernels/cpu/elementwise.h"
#include "r2g2/kernels/cpu/optim.h"
#include "r2g2/kernels/cpu/r2g2_elementwise.h"
#include "r2g2/kernels/cpu/random.h"
#include "r2g2/kernels/runtime/error.h"
#include "r2g2/kernels/runtime/hash.h"
#include "r2g2/kernels/runtime/thread_pool.h"

namespace {

using r2g2::kernels::runtime::parallel_for;
using r2g2::kernels::runtime::ThreadPool;
namespace kcpu = r2g2::kernels::cpu;

struct Chunk {
  int64_t lo, hi;
  std::thread::id thread;
};

// Runs the pool over [begin, end) and returns the chunks it handed out, in start order.
std::vector<Chunk> chunks_of(ThreadPool& pool, int64_t begin, int64_t end, int64_t grain) {
  std::mutex mutex;
  std::vector<Chunk> chunks;
  auto record = [&](int64_t lo, int64_t hi) {
    std::lock_guard lock(mutex);
    chunks.push_back({lo, hi, std::this_thread::get_id()});
  };
  pool.run(begin, end, grain, record);
  std::sort(chunks.begin(), chunks.end(), [](const Chunk& a, const Chunk& b) { return a.lo < b.lo; });
  return chunks;
}

// Waits (at most a few seconds, so a broken pool fails instead of hanging) for `flag`.
bool wait_for(const std::atomic<bool>& flag) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!flag.load() && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
  return flag.load();
}

struct WorkerFailure : std::runtime_error {
  WorkerFailure(const std::string& what, int chunk_index) : std::runtime_error(what), index(chunk_index) {}
  int index;
};

std::vector<float> inputs(size_t n, uint64_t salt, double lo = -3.0, double hi = 3.0) {
  r2g2::Xorshift64 rng(20260601, salt);
  std::vector<float> v(n);
  for (auto& x : v) x = static_cast<float>(rng.next_in(lo, hi));
  return v;
}

// Runs `kernel(lo, hi)` once over [0, n) (split across the pool) and again as pieces of
// `piece` elements (each below every kernel's grain, so inline): the outputs `out` must
// hold the same bits both times.
template <class Kernel>
void check_split_invariant(int64_t n, int64_t piece, std::vector<std::vector<float>*> outs, Kernel kernel) {
  kernel(0, n);
  std::vector<std::vector<float>> whole;
  for (auto* out : outs) whole.push_back(*out);
  for (auto* out : outs) std::fill(out->begin(), out->end(), -7.0f);
  for (int64_t lo = 0; lo < n; lo += piece) kernel(lo, std::min(n, lo + piece));
  for (size_t k = 0; k < outs.size(); ++k) CHECK(*outs[k] == whole[k]);
}

}  // namespace

TEST_CASE("thread pool: every index exactly once, in chunks of at least the grain, for awkward sizes") {
  ThreadPool pool(3);
  REQUIRE(pool.size() >= 1);
  const std::pair<int64_t, int64_t> ranges[] = {{0, 1}, {0, 2}, {5, 12}, {-50, 47}, {0, 1000003}, {3, 4099}};
  const int64_t grains[] = {1, 3, 64, 1000, 1 << 20};
  for (const auto& range : ranges) {
    const int64_t begin = range.first, end = range.second;
    for (int64_t grain : grains) {
      CAPTURE(begin);
      CAPTURE(end);
      CAPTURE(grain);
      std::vector<Chunk> chunks = chunks_of(pool, begin, end, grain);
      REQUIRE(!chunks.empty());
      CHECK(chunks.front().lo == begin);
      CHECK(chunks.back().hi == end);
      for (size_t c = 0; c < chunks.size(); ++c) {
        CHECK(chunks[c].lo < chunks[c].hi);
        if (c + 1 < chunks.size()) {
          CHECK(chunks[c].hi == chunks[c + 1].lo);  // no gap, no overlap
          CHECK(chunks[c].hi - chunks[c].lo >= grain);
        }
      }
      if (end - begin <= grain) CHECK(chunks.size() == 1);
    }
  }
  // The same through the global pool, counting each index.
  const int64_t n = 300007;
  std::vector<std::atomic<int>> seen(n);
  parallel_for(0, n, 1000, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) seen[i].fetch_add(1);
  });
  int64_t wrong = 0;
  for (auto& s : seen) wrong += s.load() != 1;
  CHECK(wrong == 0);
  parallel_for(10, 10, 1, [](int64_t, int64_t) { FAIL("an empty range calls nothing"); });
  parallel_for(10, 3, 1, [](int64_t, int64_t) { FAIL("an empty range calls nothing"); });
}

TEST_CASE("thread pool: the first exception of a worker reaches the caller as thrown; the pool lives on") {
  ThreadPool pool(2);
  if (pool.size() < 2) return;  // no second thread to be had here
  const auto caller = std::this_thread::get_id();
  std::atomic<bool> worker_started{false};
  std::atomic<int> worker_calls{0};
  auto fn = [&](int64_t lo, int64_t) {
    if (std::this_thread::get_id() == caller) {
      // Hold the caller until a worker has taken a chunk, so that the throw is a worker's.
      wait_for(worker_started);
      return;
    }
    ++worker_calls;
    worker_started = true;
    throw WorkerFailure("chunk at " + std::to_string(lo) + " failed", static_cast<int>(lo));
  };
  bool caught = false;
  try {
    pool.run(0, 64, 1, fn);
  } catch (const WorkerFailure& e) {
    caught = true;
    CHECK(std::string(e.what()).find("failed") != std::string::npos);
    CHECK(e.index >= 0);
  }
  CHECK(caught);
  // A thread that threw takes no further chunk (the others are skipped once the caller
  // has seen the failure, which races with its waking here, so is not counted).
  CHECK(worker_calls.load() == 1);

  // The pool still works, and an exception on the caller's own chunk propagates too.
  std::atomic<int64_t> sum{0};
  pool.run(0, 1000, 10, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) sum += i;
  });
  CHECK(sum.load() == 999 * 1000 / 2);
  CHECK_THROWS_AS(pool.run(0, 1000, 10, [](int64_t, int64_t) { throw r2g2::Error("every chunk fails"); }),
                  r2g2::Error);
}

TEST_CASE("thread pool: a call from inside a chunk runs inline, on that thread, as one chunk") {
  ThreadPool pool(3);
  std::atomic<int> inner_calls{0}, inner_on_other_thread{0}, inner_split{0};
  std::atomic<int64_t> total{0};
  pool.run(0, 16, 1, [&](int64_t lo, int64_t hi) {
    for (int64_t outer = lo; outer < hi; ++outer) {
      const auto here = std::this_thread::get_id();
      auto inner = [&](int64_t a, int64_t b) {
        ++inner_calls;
        if (std::this_thread::get_id() != here) ++inner_on_other_thread;
        if (a != 0 || b != 1000) ++inner_split;
        for (int64_t i = a; i < b; ++i) total += i;
      };
      parallel_for(0, 1000, 1, inner);  // the global pool
      pool.run(0, 1000, 1, inner);      // the same pool
    }
  });
  CHECK(inner_calls.load() == 32);
  CHECK(inner_on_other_thread.load() == 0);
  CHECK(inner_split.load() == 0);
  CHECK(total.load() == 32 * (999 * 1000 / 2));
}

TEST_CASE("thread pool: two threads calling at once both get every index") {
  ThreadPool pool(3);
  std::vector<std::atomic<int>> a(50000), b(50000);
  auto count_into = [&](std::vector<std::atomic<int>>& v) {
    for (int rep = 0; rep < 20; ++rep)
      pool.run(0, static_cast<int64_t>(v.size()), 100, [&](int64_t lo, int64_t hi) {
        for (int64_t i = lo; i < hi; ++i) v[i].fetch_add(1);
      });
  };
  std::thread other([&] { count_into(b); });
  count_into(a);
  other.join();
  int64_t wrong = 0;
  for (size_t i = 0; i < a.size(); ++i) wrong += (a[i].load() != 20) + (b[i].load() != 20);
  CHECK(wrong == 0);
}

TEST_CASE("thread pool: one thread (R2G2_NUM_THREADS=1) runs everything inline, serially") {
  CHECK(r2g2::kernels::runtime::parse_thread_count("1", 16) == 1);
  CHECK(r2g2::kernels::runtime::parse_thread_count("3", 16) == 3);
  CHECK(r2g2::kernels::runtime::parse_thread_count(nullptr, 16) == 16);
  CHECK(r2g2::kernels::runtime::parse_thread_count("", 16) == 16);
  CHECK(r2g2::kernels::runtime::parse_thread_count(nullptr, 0) == 1);  // unknown hardware
  for (const char* bad : {"0", "-2", "two", "3x", "99999999999999999999"}) {
    CAPTURE(bad);
    try {
      r2g2::kernels::runtime::parse_thread_count(bad, 16);
      FAIL("accepted a bad thread count");
    } catch (const r2g2::Error& e) {
      CHECK(std::string(e.what()).find(std::string("R2G2_NUM_THREADS")) != std::string::npos);
      CHECK(std::string(e.what()).find(std::string("'") + bad + "'") != std::string::npos);
    }
  }
  CHECK(ThreadPool::global().size() == r2g2::kernels::runtime::thread_count_from_environment());

  ThreadPool serial(1);
  CHECK(serial.size() == 1);
  std::vector<Chunk> chunks = chunks_of(serial, 0, 1000003, 1);
  REQUIRE(chunks.size() == 1);
  CHECK(chunks[0].lo == 0);
  CHECK(chunks[0].hi == 1000003);
  CHECK(chunks[0].thread == std::this_thread::get_id());
  CHECK_THROWS_WITH_AS(serial.run(0, 10, 1, [](int64_t, int64_t) { throw std::out_of_range("inline"); }),
                       "inline", std::out_of_range);
}

TEST_CASE("parallel kernels: one large call gives the bits of many small ones") {
  const int64_t n = 400000, piece = 1000;  // pieces stay below every kernel's grain
  std::vector<float> x = inputs(n, 1), y = inputs(n, 2), positive = inputs(n, 3, 0.0, 2.0), out(n), out2(n);
  SUBCASE("philox_normal") {
    check_split_invariant(n, piece, {&out}, [&](int64_t lo, int64_t hi) {
      kcpu::philox_normal<float>(99, 12345 + static_cast<uint64_t>(lo), out.data() + lo, hi - lo);
    });
  }
  SUBCASE("unary and its backward") {
    check_split_invariant(n, piece, {&out, &out2}, [&](int64_t lo, int64_t hi) {
      kcpu::unary<float>(r2g2::kernels::UnaryOp::softplus, x.data() + lo, out.data() + lo, hi - lo);
      kcpu::unary_backward<float>(r2g2::kernels::UnaryOp::softplus, x.data() + lo, out.data() + lo, y.data() + lo,
                                  out2.data() + lo, hi - lo);
    });
  }
  SUBCASE("binary_scalar, fill, axpy, cast") {
    std::vector<double> wide(n);
    check_split_invariant(n, piece, {&out, &out2}, [&](int64_t lo, int64_t hi) {
      kcpu::binary_scalar<float>(r2g2::kernels::BinaryOp::div, x.data() + lo, 3.0f, out.data() + lo, hi - lo);
      kcpu::fill<float>(out2.data() + lo, 0.25f, hi - lo);
      kcpu::axpy<float>(-1.5f, y.data() + lo, out2.data() + lo, hi - lo);
      kcpu::cast<float, double>(out2.data() + lo, wide.data() + lo, hi - lo);
      kcpu::cast<double, float>(wide.data() + lo, out2.data() + lo, hi - lo);
    });
  }
  SUBCASE("adam_step and sgd_step") {
    std::vector<float> m(n, 0.1f), v(n, 0.2f), buf(n, 0.3f);
    out = x;
    check_split_invariant(n, piece, {&out, &m, &v, &out2, &buf}, [&](int64_t lo, int64_t hi) {
      // Fresh state per run so that both runs start from the same values.
      std::copy(x.begin() + lo, x.begin() + hi, out.begin() + lo);
      std::fill(m.begin() + lo, m.begin() + hi, 0.1f);
      std::fill(v.begin() + lo, v.begin() + hi, 0.2f);
      kcpu::adam_step<float>(out.data() + lo, y.data() + lo, m.data() + lo, v.data() + lo, hi - lo, 1e-3f, 0.9f,
                             0.999f, 1e-8f, 1e-2f, 3);
      std::copy(x.begin() + lo, x.begin() + hi, out2.begin() + lo);
      std::fill(buf.begin() + lo, buf.begin() + hi, 0.3f);
      kcpu::sgd_step<float>(out2.data() + lo, y.data() + lo, buf.data() + lo, hi - lo, 0.1f, 0.9f, 1e-4f, false);
    });
  }
  SUBCASE("lrt_sample, r2g2_ratio, sign_of, mask_by_positive") {
    std::vector<float> q(n), beta(n), sign(n), masked(n);
    std::vector<float> v = positive;
    for (int64_t i = 0; i < n; i += 7) v[i] = 0.0f;  // degenerate variances too
    check_split_invariant(n, piece, {&out, &q, &beta, &sign, &masked}, [&](int64_t lo, int64_t hi) {
      kcpu::lrt_sample<float>(x.data() + lo, v.data() + lo, y.data() + lo, out.data() + lo, q.data() + lo, hi - lo);
      kcpu::r2g2_ratio<float>(x.data() + lo, v.data() + lo, beta.data() + lo, hi - lo, 1e-3, 10);
      kcpu::sign_of<float>(x.data() + lo, sign.data() + lo, hi - lo);
      kcpu::mask_by_positive<float>(y.data() + lo, v.data() + lo, masked.data() + lo, hi - lo);
    });
  }
}

TEST_CASE("parallel kernels: broadcast binary and strided copy equal their row-by-row results") {
  // out[r, c] = a[r, c] - b[c] over 500 x 700 (split across the pool), against each row
  // computed alone (a 1 x 700 problem, inline).
  const int64_t rows = 500, cols = 700;
  std::vector<float> a = inputs(rows * cols, 4), b = inputs(cols, 5), out(rows * cols), row_out(cols);
  r2g2::kernels::Strided2 g;
  g.ndim = 2;
  g.shape[0] = rows;
  g.shape[1] = cols;
  g.a_stride[0] = cols;
  g.a_stride[1] = 1;
  g.b_stride[0] = 0;
  g.b_stride[1] = 1;
  kcpu::binary<float>(r2g2::kernels::BinaryOp::sub, a.data(), b.data(), out.data(), g);
  r2g2::kernels::Strided2 row = g;
  row.shape[0] = 1;
  int64_t wrong = 0;
  for (int64_t r = 0; r < rows; ++r) {
    kcpu::binary<float>(r2g2::kernels::BinaryOp::sub, a.data() + r * cols, b.data(), row_out.data(), row);
    for (int64_t c = 0; c < cols; ++c) wrong += out[r * cols + c] != row_out[c];
  }
  CHECK(wrong == 0);

  // The transpose of a as a strided copy: out[c, r] = a[r, c].
  r2g2::kernels::Strided2 t;
  t.ndim = 2;
  t.shape[0] = cols;
  t.shape[1] = rows;
  t.a_stride[0] = 1;
  t.a_stride[1] = cols;
  kcpu::copy_strided<float>(a.data(), out.data(), t);
  wrong = 0;
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) wrong += out[c * rows + r] != a[r * cols + c];
  CHECK(wrong == 0);
}
