#pragma once
// Device dispatch for op implementations: R2G2_CUDA(call) runs `call` in a CUDA build
// and throws a clear error in a CPU-only build (where no CUDA tensor can exist anyway).
#include "core/error.h"

#if R2G2_WITH_CUDA
#include "kernels/cuda/conv.h"
#include "kernels/cuda/elementwise.h"
#include "kernels/cuda/gather.h"
#include "kernels/cuda/gemm.h"
#include "kernels/cuda/optim.h"
#include "kernels/cuda/random.h"
#include "kernels/cuda/reduce.h"
#include "kernels/cuda/softmax.h"
#define R2G2_CUDA(...) __VA_ARGS__
#else
#define R2G2_CUDA(...) throw ::r2g2::Error("r2g2 was built without CUDA")
#endif

#include "kernels/cpu/conv.h"
#include "kernels/cpu/elementwise.h"
#include "kernels/cpu/gather.h"
#include "kernels/cpu/gemm.h"
#include "kernels/cpu/optim.h"
#include "kernels/cpu/random.h"
#include "kernels/cpu/reduce.h"
#include "kernels/cpu/softmax.h"

namespace r2g2 {
namespace kcpu = kernels::cpu;
#if R2G2_WITH_CUDA
namespace kcuda = kernels::cuda;
#endif
}  // namespace r2g2
