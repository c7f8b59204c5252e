#pragma once
// cuBLAS, opened on first use instead of linked: libcublas brings libcublasLt, whose
// start-up work (static constructors, page faults over half a gigabyte of code) cost every
// r2g2 process about 0.6 s, with or without a GPU. Only the functions r2g2 calls are bound.
#include <cublas_v2.h>

namespace r2g2::kernels::cuda {

struct CublasLibrary {
  decltype(&cublasCreate_v2) create = nullptr;
  decltype(&cublasSetStream_v2) set_stream = nullptr;
  decltype(&cublasSetMathMode) set_math_mode = nullptr;
  decltype(&cublasGetStatusName) status_name = nullptr;
  decltype(&cublasGetStatusString) status_string = nullptr;
  decltype(&cublasSgemm_v2) sgemm = nullptr;
  decltype(&cublasDgemm_v2) dgemm = nullptr;
  decltype(&cublasSgemmStridedBatched) sgemm_strided_batched = nullptr;
  decltype(&cublasDgemmStridedBatched) dgemm_strided_batched = nullptr;
};

// Opens libcublas.so.<CUBLAS_VER_MAJOR> on the first call (the loader's search path, so
// LD_LIBRARY_PATH applies) and binds every member. Throws r2g2::Error naming the library
// or the missing function and the loader's reason; later calls throw the same error.
const CublasLibrary& cublas_library();

}  // namespace r2g2::kernels::cuda
