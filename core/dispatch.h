#pragma once
// Device dispatch for op implementations: R2G2_CUDA(call) runs `call` in a CUDA build
// and throws a clear error in a CPU-only build (where no CUDA tensor can exist anyway).
#include "r2g2/core/error.h"

#if R2G2_WITH_CUDA
#include "r2g2/kernels/cuda/conv.h"
#include "r2g2/kernels/cuda/elementwise.h"
#include "r2g2/kernels/cuda/gather.h"
#include "r2g2/kernels/cuda/gemm.h"
#include "r2g2/kernels/cuda/optim.h"
#include "r2g2/kernels/cuda/random.h"
#include "r2g2/kernels/cuda/reduce.h"
#include "r2g2/kernels/cuda/softmax.h"
#define R2G2_CUDA(...) __VA_ARGS__
#else
#define R2G2_CUDA(...) throw ::r2g2::Error("r2g2 was built without CUDA")
#endif

#include "r2g2/kernels/cpu/conv.h"
#include "r2g2/kernels/cpu/elementwise.h"
#include "r2g2/kernels/cpu/gather.h"
#include "r2g2/kernels/cpu/gemm.h"
#include "r2g2/kernels/cpu/optim.h"
#include "r2g2/kernels/cpu/random.h"
#include "r2g2/kernels/cpu/reduce.h"
#include "r2g2/kernels/cpu/softmax.h"

namespace r2g2 {
namespace kcpu = kernels::cpu;
#if R2G2_WITH_CUDA
namespace kcuda = kernels::cuda;
#endif
}  // namespace r2g2
