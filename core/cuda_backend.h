#pragma once
// The seam between core/ and the CUDA runtime. Implemented in core/cuda/ when r2g2
// is built with CUDA and in core/no_cuda/ otherwise, so core/ compiles either way.
#include <cstddef>
#include <string>

namespace r2g2::cuda_backend {

bool built_with_cuda();
// Number of usable devices; 0 (never an exception) when there is none.
int device_count();
// Why CUDA cannot be used here, for error messages ("built without CUDA", "no device: ...").
std::string unavailable_reason();

void* malloc(size_t bytes);        // caching allocator on the current stream
void free(void* p, size_t bytes);  // returns the block to the cache
void memcpy_h2d(void* dst, const void* src, size_t bytes);
void memcpy_d2h(void* dst, const void* src, size_t bytes);
void memcpy_d2d(void* dst, const void* src, size_t bytes);
void synchronize();

}  // namespace r2g2::cuda_backend
