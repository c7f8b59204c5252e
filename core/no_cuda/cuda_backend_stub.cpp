// CPU-only build: every CUDA entry point reports that CUDA is not compiled in.
#include "r2g2/core/cuda_backend.h"
#include "r2g2/core/error.h"

namespace r2g2::cuda_backend {

namespace {
[[noreturn]] void no_cuda() {
  throw Error("r2g2 was built without CUDA (nvcc was not found at configure time)");
}
}  // namespace

bool built_with_cuda() { return false; }
int device_count() { return 0; }
std::string unavailable_reason() { return "r2g2 was built without CUDA"; }
void* malloc(size_t) { no_cuda(); }
void free(void*, size_t) {}
void memcpy_h2d(void*, const void*, size_t) { no_cuda(); }
void memcpy_d2h(void*, const void*, size_t) { no_cuda(); }
void memcpy_d2d(void*, const void*, size_t) { no_cuda(); }
void synchronize() {}

}  // namespace r2g2::cuda_backend
