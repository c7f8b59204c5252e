// The host caching allocator: size classes, reuse and its counters, the switch, the error
// when the system says no or a tensor is too large, and the property it exists for: a training loop in its steady
// state takes no memory from the system.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "r2g2/core/error.h"
#include "r2g2/core/host_allocator.h"
#include "r2g2/core/optim.h"
#include "r2g2/core/tensor.h"
#include "r2g2/kernels/runtime/device_memory.h"
#include "r2g2/models/bayes_mlp.h"
#include "test_util.h"

#if defined(__SANITIZE_ADDRESS__)
#define R2G2_TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define R2G2_TEST_ASAN 1
#endif
#endif
#if defined(__SANITIZE_THREAD__)
#define R2G2_TEST_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define R2G2_TEST_TSAN 1
#endif
#endif
#if R2G2_TEST_ASAN
#include <sanitizer/asan_interface.h>
#endif

namespace {

using namespace r2g2;

// Runs the test with caching on (whatever R2G2_HOST_CACHE says) and puts the state back.
struct CachingOn {
  bool before = host_caching_enabled();
  CachingOn() { set_host_caching(true); }
  ~CachingOn() { set_host_caching(before); }
};

}  // namespace

TEST_CASE("host size classes: 64 B steps up to 4 KiB, then four per power of two") {
  CHECK(host_allocator_round_size(0) == 64);
  CHECK(host_allocator_round_size(1) == 64);
  CHECK(host_allocator_round_size(64) == 64);
  CHECK(host_allocator_round_size(65) == 128);
  CHECK(host_allocator_round_size(4096) == 4096);
  CHECK(host_allocator_round_size(4097) == 5120);
  CHECK(host_allocator_round_size(80 * 1024 * 4) == 80 * 1024 * 4);  // 1.25 * 2^18: a class itself
  CHECK(host_allocator_round_size((size_t{1} << 20) + 1) == (size_t{1} << 20) + (size_t{1} << 18));
  for (size_t bytes = 1; bytes < (size_t{1} << 26); bytes = bytes * 3 + 7) {
    const size_t size = host_allocator_round_size(bytes);
    CHECK(size >= bytes);
    CHECK(size % 64 == 0);
    CHECK(size - bytes < std::max<size_t>(64, bytes / 4));
    CHECK(host_allocator_round_size(size) == size);  // a class rounds to itself
  }
}

TEST_CASE("a freed host block is reused by the next request of its class, counters follow") {
  CachingOn on;
  const size_t bytes = 300000, size = host_allocator_round_size(bytes);
  void* first = host_allocate(bytes);
  const HostMemoryStats a = host_memory_stats();
  host_free(first);
  const HostMemoryStats b = host_memory_stats();
  CHECK(b.bytes_in_use == a.bytes_in_use - size);
  CHECK(b.bytes_cached == a.bytes_cached + size);
  CHECK(b.system_frees == a.system_frees);

  void* second = host_allocate(bytes - 1000);  // same class
  const HostMemoryStats c = host_memory_stats();
  CHECK(second == first);
  CHECK(c.system_allocations == b.system_allocations);
  CHECK(c.cache_hits == b.cache_hits + 1);
  CHECK(c.allocations == b.allocations + 1);
  CHECK(c.bytes_in_use == a.bytes_in_use);
  CHECK(c.bytes_cached == b.bytes_cached - size);
  CHECK(c.peak_bytes_in_use >= c.bytes_in_use);
  host_free(second);

  host_empty_cache();
  const HostMemoryStats d = host_memory_stats();
  CHECK(d.bytes_cached == 0);
  CHECK(d.system_frees > c.system_frees);
  void* third = host_allocate(bytes);
  CHECK(host_memory_stats().system_allocations == d.system_allocations + 1);
  host_free(third);
  host_free(nullptr);  // ignored
}

TEST_CASE("host blocks are 64-byte aligned and tensors built on them hold their values") {
  CachingOn on;
  std::vector<void*> blocks;
  for (size_t bytes : {size_t{1}, size_t{63}, size_t{100}, size_t{4097}, size_t{123457}}) {
    blocks.push_back(host_allocate(bytes));
    CHECK(reinterpret_cast<uintptr_t>(blocks.back()) % 64 == 0);
  }
  for (void* p : blocks) host_free(p);
  Tensor t = Tensor::from_vector(std::vector<float>{1, 2, 3}, {3});
  CHECK(reinterpret_cast<uintptr_t>(t.raw_data()) % 64 == 0);
  CHECK(t.to_vector() == std::vector<double>{1, 2, 3});
}

TEST_CASE("with host caching off every block comes from the system and goes back to it") {
  CachingOn on;
  set_host_caching(false);
  CHECK_FALSE(host_caching_enabled());
  const HostMemoryStats a = host_memory_stats();
  CHECK(a.bytes_cached == 0);  // switching off emptied the cache
  void* p = host_allocate(1000);
  host_free(p);
  void* q = host_allocate(1000);
  host_free(q);
  const HostMemoryStats b = host_memory_stats();
  CHECK(b.system_allocations == a.system_allocations + 2);
  CHECK(b.system_frees == a.system_frees + 2);
  CHECK(b.cache_hits == a.cache_hits);
  CHECK(b.bytes_cached == 0);
  CHECK(b.bytes_in_use == a.bytes_in_use);

  // A block handed out while caching was on is still accounted for when freed after.
  set_host_caching(true);
  void* r = host_allocate(5000);
  set_host_caching(false);
  host_free(r);
  CHECK(host_memory_stats().bytes_in_use == a.bytes_in_use);
}

TEST_CASE("the host cache stays under its limit") {
  CachingOn on;
  const size_t limit_before = host_cache_limit();
  host_empty_cache();
  set_host_cache_limit(100000);
  void* small = host_allocate(60000);
  void* large = host_allocate(200000);
  const HostMemoryStats a = host_memory_stats();
  host_free(small);  // fits: cached
  host_free(large);  // would pass the limit: back to the system
  const HostMemoryStats b = host_memory_stats();
  CHECK(b.bytes_cached == host_allocator_round_size(60000));
  CHECK(b.system_frees == a.system_frees + 1);
  set_host_cache_limit(0);  // shrinking empties what no longer fits
  CHECK(host_memory_stats().bytes_cached == 0);
  set_host_cache_limit(limit_before);
}

// Refused before the system (or a sanitizer's allocator, which would abort) is asked.
TEST_CASE("a host allocation larger than the host names the size and what r2g2 holds") {
  CachingOn on;
  const size_t absurd = size_t{1} << 61;
  const std::string expected = "out of host memory allocating " + std::to_string(absurd) + " bytes";
  CHECK_THROWS_WITH_AS(host_allocate(absurd), doctest::Contains(expected.c_str()), Error);
  CHECK_THROWS_WITH_AS(host_allocate(absurd), doctest::Contains("cached"), Error);
  CHECK_THROWS_WITH_AS(host_allocate(SIZE_MAX), doctest::Contains("more than this host's memory"), Error);
}

TEST_CASE("a tensor too large for the host is an error naming its shape, dtype, size and the memory in use") {
  const HostMemoryStats before = host_memory_stats();
  const std::string message = test::error_of([] { Tensor::empty({int64_t{1} << 40}, DType::f32); });
  CAPTURE(message);
  CHECK(test::contains(message, "cannot allocate a float32 tensor of shape [1099511627776] on cpu"));
  CHECK(test::contains(message, "allocating 4398046511104 bytes (4.0 TiB)"));
  CHECK(test::contains(message, "r2g2 holds "));
  CHECK(test::contains(message, " in tensors and "));
  CHECK(host_memory_stats().bytes_in_use == before.bytes_in_use);  // nothing was taken
  // A size that does not even fit in 64 bits, and the float64 spelling.
  const std::string overflow =
      test::error_of([] { Tensor::zeros({int64_t{1} << 40, int64_t{1} << 30}, DType::f64); });
  CHECK(test::contains(overflow, "cannot allocate a float64 tensor of shape [1099511627776, 1073741824]"));
  CHECK(test::contains(overflow, "overflows 64 bits"));
  // An empty tensor needs no memory whatever its other dimensions.
  CHECK(Tensor::zeros({int64_t{1} << 62, 0}).numel() == 0);
}

TEST_CASE("memory sizes in allocator errors read in binary units") {
  using kernels::runtime::memory_size_str;
  CHECK(memory_size_str(0) == "0 B");
  CHECK(memory_size_str(1023) == "1023 B");
  CHECK(memory_size_str(1536) == "1.5 KiB");
  CHECK(memory_size_str(size_t{3} << 20) == "3.0 MiB");
  CHECK(memory_size_str(size_t{1} << 42) == "4.0 TiB");
  CHECK(memory_size_str(SIZE_MAX) == "16.0 EiB");
}

#if R2G2_TEST_ASAN
TEST_CASE("under AddressSanitizer cached blocks and the slack past a request are poisoned") {
  CachingOn on;
  char* p = static_cast<char*>(host_allocate(100));
  CHECK(host_allocator_round_size(100) == 128);
  CHECK_FALSE(__asan_address_is_poisoned(p));
  CHECK_FALSE(__asan_address_is_poisoned(p + 127));  // the request rounded to 64 B
  host_free(p);
  CHECK(__asan_address_is_poisoned(p));
  p = static_cast<char*>(host_allocate(5000));  // a 5120-byte block
  CHECK_FALSE(__asan_address_is_poisoned(p + 5055));
  CHECK(__asan_address_is_poisoned(p + 5056));
  host_free(p);
  CHECK(__asan_address_is_poisoned(p));
}
#endif

TEST_CASE("Adam's steady state takes no host memory from the system") {
  CachingOn on;
  std::vector<Tensor> params;
  for (int64_t n : {300, 7000, 70000}) params.push_back(Tensor::randn({n}, 1, static_cast<uint64_t>(n)).requires_grad_());
  Adam adam(params, {.lr = 1e-2});
  auto step = [&] {
    for (auto& p : params) p.set_grad(Tensor::full(p.shape(), 0.5f));
    adam.step();
    adam.zero_grad();
  };
  step();  // creates the moments
  step();
  const HostMemoryStats warm = host_memory_stats();
  for (int i = 0; i < 3; ++i) {
    step();
    const HostMemoryStats now = host_memory_stats();
    CHECK(now.system_allocations == warm.system_allocations);
    CHECK(now.bytes_in_use == warm.bytes_in_use);
  }
  CHECK(host_memory_stats().cache_hits > warm.cache_hits);
}

TEST_CASE("a Bayesian MLP's training steps take no host memory from the system after warm-up") {
  CachingOn on;
  for (const char* estimator : {"rt", "r2g2"}) {
    CAPTURE(estimator);
    BayesMLPConfig cfg;
    cfg.sizes = {784, 64, 64, 10};
    cfg.schedule = estimator;
    cfg.train_size = 1000;
    cfg.seed = 5;
    BayesMLP model(cfg);
    Tensor x = Tensor::randn({16, 784}, 7, 0);
    std::vector<int32_t> labels(16);
    for (size_t i = 0; i < labels.size(); ++i) labels[i] = static_cast<int32_t>(i % 10);
    Tensor y = Tensor::from_vector(labels, {16});
    model.step(x, y);  // the first step creates Adam's moments
    model.step(x, y);
    const HostMemoryStats warm = host_memory_stats();
    for (int i = 0; i < 3; ++i) {
      model.step(x, y);
      const HostMemoryStats now = host_memory_stats();
      CHECK(now.system_allocations == warm.system_allocations);
      CHECK(now.bytes_in_use == warm.bytes_in_use);
    }
  }
}
