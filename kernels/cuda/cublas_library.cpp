#include "r2g2/kernels/cuda/cublas_library.h"

#include <dlfcn.h>

#include <string>

#include "r2g2/kernels/runtime/error.h"

namespace r2g2::kernels::cuda {

namespace {

#define R2G2_STRINGIFY_(x) #x
#define R2G2_STRINGIFY(x) R2G2_STRINGIFY_(x)
// The major version the headers were built against: another major is another ABI.
constexpr const char* kLibraryName = "libcublas.so." R2G2_STRINGIFY(CUBLAS_VER_MAJOR);

struct Loaded {
  CublasLibrary library;
  std::string error;  // empty when every function was bound
};

template <class Function>
bool bind(void* handle, const char* symbol, Function& out, std::string& error) {
  void* address = dlsym(handle, symbol);
  if (address == nullptr) {
    const char* why = dlerror();
    error = std::string(kLibraryName) + " has no function " + symbol + (why != nullptr ? std::string(": ") + why : "");
    return false;
  }
  out = reinterpret_cast<Function>(address);
  return true;
}

Loaded load() {
  Loaded loaded;
  // Never closed: cuBLAS handles live until the process exits.
  void* handle = dlopen(kLibraryName, RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    const char* why = dlerror();
    loaded.error = std::string("cannot open cuBLAS (") + kLibraryName + "): " + (why != nullptr ? why : "unknown reason") +
                   "; install the CUDA " + R2G2_STRINGIFY(CUBLAS_VER_MAJOR) +
                   " toolkit's cuBLAS or add its lib folder to LD_LIBRARY_PATH";
    return loaded;
  }
  CublasLibrary& l = loaded.library;
  std::string& e = loaded.error;
  bool ok = bind(handle, "cublasCreate_v2", l.create, e) && bind(handle, "cublasSetStream_v2", l.set_stream, e) &&
            bind(handle, "cublasSetMathMode", l.set_math_mode, e) &&
            bind(handle, "cublasGetStatusName", l.status_name, e) &&
            bind(handle, "cublasGetStatusString", l.status_string, e) && bind(handle, "cublasSgemm_v2", l.sgemm, e) &&
            bind(handle, "cublasDgemm_v2", l.dgemm, e) &&
            bind(handle, "cublasSgemmStridedBatched", l.sgemm_strided_batched, e) &&
            bind(handle, "cublasDgemmStridedBatched", l.dgemm_strided_batched, e);
  if (!ok) loaded.library = CublasLibrary{};
  return loaded;
}

}  // namespace

const CublasLibrary& cublas_library() {
  static const Loaded loaded = load();
  if (!loaded.error.empty()) throw Error(loaded.error);
  return loaded.library;
}

}  // namespace r2g2::kernels::cuda
