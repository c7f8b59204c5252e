// The cuBLAS handle and the TF32 switch (kernels/cuda/tf32.h).
#include "r2g2/kernels/cuda/cublas_handle.h"

#include <atomic>
#include <cstdlib>
#include <cstring>

#include "r2g2/kernels/cuda/cublas_library.h"
#include "r2g2/kernels/cuda/stream.h"
#include "r2g2/kernels/cuda/tf32.h"

namespace r2g2::kernels::cuda {

namespace {

// -1: not decided yet (the environment is consulted on first use), 0: off, 1: on.
std::atomic<int> g_allow_tf32{-1};

}  // namespace

bool allow_tf32() {
  int v = g_allow_tf32.load();
  if (v < 0) {
    const char* env = std::getenv("R2G2_ALLOW_TF32");
    int from_env = (env != nullptr && std::strcmp(env, "1") == 0) ? 1 : 0;
    // Only the first reader decides, so a concurrent set_allow_tf32() is never undone.
    g_allow_tf32.compare_exchange_strong(v, from_env);
    v = g_allow_tf32.load();
  }
  return v == 1;
}

void set_allow_tf32(bool on) { g_allow_tf32.store(on ? 1 : 0); }

std::string cublas_status_message(cublasStatus_t status) {
  const CublasLibrary& blas = cublas_library();
  return std::string("cuBLAS ") + blas.status_name(status) + " (" + blas.status_string(status) + ")";
}

cublasHandle_t cublas_handle() {
  // Created once and never destroyed: destroying it from a static destructor can run
  // after the CUDA runtime has shut down, and the driver reclaims it at exit anyway.
  static cublasHandle_t handle = [] {
    cublasHandle_t h = nullptr;
    R2G2_CUBLAS_CHECK(cublas_library().create(&h));
    return h;
  }();
  // Re-bound only on change: these calls are cheap but a small MLP step makes hundreds.
  static cudaStream_t bound_stream = nullptr;
  static bool stream_bound = false;
  static int bound_tf32 = -1;
  cudaStream_t stream = current_stream();
  if (!stream_bound || stream != bound_stream) {
    R2G2_CUBLAS_CHECK(cublas_library().set_stream(handle, stream));
    bound_stream = stream;
    stream_bound = true;
  }
  int tf32 = allow_tf32() ? 1 : 0;
  if (tf32 != bound_tf32) {
    // CUBLAS_DEFAULT_MATH never uses TF32 for float32 (since CUDA 11 TF32 needs an
    // explicit opt-in), so float32 products keep float32 accuracy unless asked.
    R2G2_CUBLAS_CHECK(cublas_library().set_math_mode(handle, tf32 ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH));
    bound_tf32 = tf32;
  }
  return handle;
}

}  // namespace r2g2::kernels::cuda
