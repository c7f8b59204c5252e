// The caching allocator's private pools for CUDA graphs (core/cuda/allocator.cpp), built
// against the emulator: a captured step's blocks keep their addresses for every replay
// and go to no other user until the graph is destroyed.
#include "emulator/cuda_emulator.h"

#include <vector>

#include "kernels/cuda/emulated_test_util.h"
#include "r2g2/core/cuda/allocator_impl.h"
#include "r2g2/core/cuda/graph.h"
#include "r2g2/core/error.h"
#include "r2g2/kernels/cuda/stream.h"

namespace {

using r2g2::cuda_backend::detail::allocator;

struct CachingOn {
  CachingOn() { allocator().set_caching(true); }
  ~CachingOn() { allocator().set_caching(false); }
};

constexpr size_t kBytes = 3000;

TEST_CASE("graph pool: blocks a capture takes or frees stay the pool's until it is released") {
  r2g2::test::emulated::FreshDevice fresh;
  CachingOn caching;
  void* warm = allocator().allocate(kBytes);  // the eager warm-up leaves a cached block
  allocator().release(warm, kBytes);

  const int pool = allocator().create_pool();
  allocator().set_capture_pool(pool);
  void* captured = allocator().allocate(kBytes);
  CHECK(captured == warm);                       // served from the shared cache, no cudaMalloc
  void* scratch = allocator().allocate(kBytes);  // a second block of the step...
  allocator().release(scratch, kBytes);          // ... freed inside the capture
  allocator().set_capture_pool(0);

  // Between replays, nobody else gets the step's blocks: a new block comes from the driver.
  const auto before = allocator().stats();
  void* other = allocator().allocate(kBytes);
  CHECK(other != captured);
  CHECK(other != scratch);
  CHECK(allocator().stats().cuda_malloc_calls == before.cuda_malloc_calls + 1);
  // A captured block freed after the capture (a tensor of the step dropped) returns to the pool.
  allocator().release(captured, kBytes);
  CHECK(allocator().stats().bytes_in_graph_pools == 2 * r2g2::cuda_backend::allocator_round_size(kBytes));
  void* again = allocator().allocate(kBytes);
  CHECK(again != captured);
  CHECK(again != scratch);

  // The graph is destroyed: its blocks join the shared cache and are reused.
  allocator().release_pool(pool);
  CHECK(allocator().stats().bytes_in_graph_pools == 0);
  std::vector<void*> reused = {allocator().allocate(kBytes), allocator().allocate(kBytes)};
  CHECK((reused[0] == captured || reused[0] == scratch));
  CHECK((reused[1] == captured || reused[1] == scratch));
  for (void* p : reused) allocator().release(p, kBytes);
  allocator().release(other, kBytes);
  allocator().release(again, kBytes);
  allocator().empty_cache();
}

TEST_CASE("graph pool: a capture that needs a new block fails, saying to warm the step up") {
  r2g2::test::emulated::FreshDevice fresh;
  CachingOn caching;
  allocator().empty_cache();
  r2g2::cuda_backend::StepGraph graph;
  CHECK_THROWS_WITH_AS(
      graph.capture([] { allocator().allocate(kBytes); }),
      doctest::Contains("needs a new device block, and cudaMalloc cannot run while a stream captures"),
      r2g2::Error);
  CHECK(cudaGetLastError() == cudaSuccess);
}

TEST_CASE("graph pool: graphs need the caching allocator") {
  r2g2::test::emulated::FreshDevice fresh;
  allocator().set_caching(false);
  CHECK_THROWS_WITH_AS(r2g2::cuda_backend::StepGraph(), doctest::Contains("R2G2_CUDA_NO_CACHE"), r2g2::Error);
}

}  // namespace
