// The CUDA runtime layer: device selection errors, copies, the caching allocator's
// counters, error reporting, pinned uploads and the stream.
#include <doctest/doctest.h>

#include <cctype>
#include <cstring>
#include <vector>

#include "gpu_test_util.h"

#if R2G2_WITH_CUDA
#include "r2g2/core/cuda/allocator.h"
#include "r2g2/core/cuda/pinned.h"
#include "r2g2/kernels/cuda/stream.h"
#endif

using namespace r2g2;
using r2g2::test::contains;
using r2g2::test::error_of;

TEST_CASE("runtime: without a usable device, CUDA requests fail with the reason") {
  // This case is the one that runs where there is no device; with one it has nothing to check.
  if (cuda_available()) return;
  const std::string reason = cuda_backend::unavailable_reason();
  CHECK_FALSE(reason.empty());
  CHECK(cuda_backend::device_count() == 0);
  CHECK(parse_device("auto") == Device::cpu());
  std::string e = error_of([] { parse_device("cuda"); });
  CHECK(contains(e, "device 'cuda' was requested but CUDA cannot be used"));
  CHECK(contains(e, reason));
  e = error_of([] { Tensor::ones({3}).to(Device::cuda()); });
  CHECK(contains(e, reason));
  e = error_of([] { Tensor::zeros({2, 2}, DType::f32, Device::cuda()); });
  CHECK(contains(e, reason));
}

TEST_CASE("runtime: device parsing and transfers") {
  R2G2_REQUIRE_CUDA();
  CHECK(cuda_backend::built_with_cuda());
  CHECK(cuda_backend::device_count() >= 1);
  CHECK(cuda_backend::unavailable_reason().empty());
  CHECK(parse_device("cuda") == Device::cuda(0));
  CHECK(parse_device("cuda:0") == Device::cuda(0));
  CHECK(parse_device("auto") == Device::cuda(0));
  std::string e = error_of([] { parse_device("cuda:99"); });
  CHECK(contains(e, "device 'cuda:99' does not exist"));
  CHECK(contains(e, "CUDA device(s) present"));
  CHECK(contains(error_of([] { parse_device("cuda:x"); }), "unknown device 'cuda:x'"));
  CHECK(contains(error_of([] { parse_device("gpu"); }), "expected cpu, cuda, cuda:N or auto"));

  // Round trips of every dtype, contiguous and strided, including 0 and 1 elements.
  for (int64_t n : {int64_t{0}, int64_t{1}, int64_t{1000003}}) {
    CAPTURE(n);
    Tensor f = r2g2::test::uniform({n}, 9, -1, 1, DType::f32);
    CHECK(f.to(Device::cuda()).to(Device::cpu()).to_vector() == f.to_vector());
    Tensor d = r2g2::test::uniform({n}, 9);
    CHECK(d.to(Device::cuda()).to_vector() == d.to_vector());
    Tensor i = r2g2::test::labels(n, 1000, 3);
    CHECK(i.to(Device::cuda()).to_int_vector() == i.to_int_vector());
  }
  Tensor m = r2g2::test::uniform({37, 53}, 2, -1, 1, DType::f32);
  CHECK(m.t().to(Device::cuda()).to_vector() == m.t().to_vector());  // strided source
  CHECK(m.to(Device::cuda()).t().contiguous().to_vector() == m.t().contiguous().to_vector());
  // Device-to-device copy, fill and dtype casts on the device.
  Tensor g = m.to(Device::cuda());
  Tensor copy = Tensor::empty(m.shape(), DType::f32, Device::cuda());
  copy.copy_(g);
  CHECK(copy.to_vector() == m.to_vector());
  Tensor full = Tensor::full({1001}, 2.5, DType::f64, Device::cuda());
  CHECK(full.to_vector() == std::vector<double>(1001, 2.5));
  CHECK(g.to(DType::f64).to_vector() == m.to(DType::f64).to_vector());
  Tensor ints = Tensor::from_vector(std::vector<double>{-2.7, -0.5, 0, 3.9, 1e6}, {5}, DType::f32);
  CHECK(ints.to(Device::cuda()).to(DType::i32).to_int_vector() == ints.to(DType::i32).to_int_vector());
  CHECK(r2g2::test::labels(9, 5, 1, Device::cuda()).to(DType::f64).to_vector() ==
        r2g2::test::labels(9, 5, 1).to(DType::f64).to_vector());
}

TEST_CASE("runtime: a CUDA failure throws r2g2::Error naming the call, file and line") {
  R2G2_REQUIRE_CUDA();
  // 2^47 floats = 512 TiB: no device has that.
  std::string e = error_of([] { Tensor::empty({int64_t{1} << 47}, DType::f32, Device::cuda()); });
  CAPTURE(e);
  CHECK(contains(e, "CUDA error"));
  CHECK(contains(e, "cudaMalloc"));
  CHECK(contains(e, "562949953421312 bytes"));
  // "allocator.cpp:<line>" (std::regex would trip g++ 12's -Wmaybe-uninitialized under sanitizers).
  const size_t at = e.find("allocator.cpp:");
  REQUIRE(at != std::string::npos);
  CHECK(std::isdigit(static_cast<unsigned char>(e[at + std::string("allocator.cpp:").size()])));
  // The failure is not sticky: the device keeps working, and a launch check right after
  // does not report the old error.
  Tensor x = Tensor::ones({1000}, DType::f32, Device::cuda());
  CHECK(sum(x).item() == 1000.0);
}

#if R2G2_WITH_CUDA
TEST_CASE("runtime: the caching allocator reuses blocks") {
  R2G2_REQUIRE_CUDA();
  using cuda_backend::allocator_stats;
  const std::vector<Shape> shapes = {{1}, {1000}, {257, 3}, {1 << 20}, {(3 << 20) + 5}};
  auto round = [&] {
    std::vector<Tensor> live;
    for (const Shape& s : shapes) live.push_back(Tensor::empty(s, DType::f32, Device::cuda()));
    for (const Shape& s : shapes) live.push_back(Tensor::empty(s, DType::f64, Device::cuda()));
  };
  round();  // warm-up
  cuda_backend::synchronize();
  const auto before = allocator_stats();
  const int rounds = 50;
  for (int i = 0; i < rounds; ++i) round();
  const auto after = allocator_stats();
  const uint64_t requests = rounds * 2 * shapes.size();
  CHECK(after.allocations - before.allocations == requests);
  CHECK(after.bytes_in_use == before.bytes_in_use);
  if (cuda_backend::allocator_caching_enabled()) {
    CHECK(after.cuda_malloc_calls == before.cuda_malloc_calls);  // no new cudaMalloc after warm-up
    CHECK(after.cache_hits - before.cache_hits == requests);
    CHECK(after.bytes_cached == before.bytes_cached);
    CHECK(after.peak_bytes_in_use >= before.bytes_in_use);
    // empty_cache hands everything back to the driver.
    cuda_backend::empty_cache();
    const auto emptied = allocator_stats();
    CHECK(emptied.bytes_cached == 0);
    CHECK(emptied.cuda_free_calls > after.cuda_free_calls);
    round();
    CHECK(allocator_stats().cuda_malloc_calls > emptied.cuda_malloc_calls);
  } else {
    // R2G2_CUDA_NO_CACHE=1 (the sanitizer runs): every request is its own cudaMalloc.
    CHECK(after.cuda_malloc_calls - before.cuda_malloc_calls == requests);
    CHECK(after.cuda_free_calls - before.cuda_free_calls == requests);
    CHECK(after.bytes_cached == 0);
  }
}

TEST_CASE("runtime: a block reused from the cache holds the new owner's data") {
  R2G2_REQUIRE_CUDA();
  // Allocate, queue work, free, and reallocate the same size at once: stream ordering must
  // keep the old owner's queued work from overwriting the new owner's values.
  for (int i = 0; i < 20; ++i) {
    Tensor a = Tensor::full({1 << 18}, 1.0, DType::f32, Device::cuda());
    Tensor b = mul(a, 3.0);
    a = Tensor();  // back to the cache while mul may still run
    Tensor c = Tensor::full({1 << 18}, 7.0, DType::f32, Device::cuda());
    CHECK(sum(b).item() == 3.0 * (1 << 18));
    CHECK(sum(c).item() == 7.0 * (1 << 18));
  }
}

TEST_CASE("runtime: pinned buffers upload asynchronously and never lose a pending copy") {
  R2G2_REQUIRE_CUDA();
  const int64_t n = 1 << 20;
  cuda_backend::PinnedBuffer buffer;
  std::vector<Tensor> uploaded;
  for (int batch = 0; batch < 4; ++batch) {
    auto* h = static_cast<float*>(buffer.host(n * sizeof(float)));  // waits for the previous upload
    for (int64_t i = 0; i < n; ++i) h[i] = static_cast<float>(batch * 10 + i % 7);
    Tensor t = Tensor::empty({n}, DType::f32, Device::cuda());
    buffer.upload(t.raw_data(), n * sizeof(float));
    uploaded.push_back(t);
  }
  buffer.wait();
  CHECK(buffer.capacity() >= n * sizeof(float));
  for (int batch = 0; batch < 4; ++batch) {
    auto v = uploaded[batch].to_vector();
    bool ok = true;
    for (int64_t i = 0; i < n; ++i) ok = ok && v[i] == batch * 10 + i % 7;
    CHECK(ok);
  }
  // Growing keeps working; moving transfers ownership.
  buffer.host(4 * n * sizeof(float));
  cuda_backend::PinnedBuffer moved = std::move(buffer);
  CHECK(moved.capacity() >= 4 * n * sizeof(float));
  CHECK(buffer.capacity() == 0);
  CHECK(contains(error_of([&] { moved.upload(uploaded[0].raw_data(), 5 * n * sizeof(float)); }),
                 "bytes requested"));
}

TEST_CASE("runtime: one stream per device, created once") {
  R2G2_REQUIRE_CUDA();
  cudaStream_t s = kernels::cuda::current_stream();
  CHECK(s != nullptr);
  CHECK(kernels::cuda::current_stream() == s);
}
#endif
