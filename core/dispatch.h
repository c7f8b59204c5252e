#pragma once
// The one place an op chooses a backend. R2G2_KERNEL(device, binary<T>) is the CPU or the
// CUDA implementation of kernels::{cpu,cuda}::binary<T> for `device`, as a function
// pointer, so the call site passes its arguments once:
//   R2G2_KERNEL(x.device(), fill<T>)(y.data<T>(), T(0), n);
// Both backends declare the same signature (the conditional needs one type), which the
// shared family declarations in kernels/*.inc guarantee. In a build without CUDA it
// checks that `device` is not a CUDA one and returns the CPU kernel.
//
// R2G2_CUDA_ONLY_KERNEL(device, name<T>) is for what only the CUDA backend has (e.g.
// whole-batch cuDNN convolution): the CUDA function for a CUDA device, else a null
// pointer of the same type, so that the op takes its own CPU path.
#include "r2g2/core/device.h"
#include "r2g2/core/error.h"
#include "r2g2/kernels/cpu/conv.h"
#include "r2g2/kernels/cpu/elementwise.h"
#include "r2g2/kernels/cpu/gather.h"
#include "r2g2/kernels/cpu/gemm.h"
#include "r2g2/kernels/cpu/optim.h"
#include "r2g2/kernels/cpu/random.h"
#include "r2g2/kernels/cpu/reduce.h"
#include "r2g2/kernels/cpu/softmax.h"
// Declarations only: a build without CUDA names their types (R2G2_CUDA_ONLY_KERNEL) but
// never calls them.
#include "r2g2/kernels/cuda/conv.h"
#include "r2g2/kernels/cuda/elementwise.h"
#include "r2g2/kernels/cuda/gather.h"
#include "r2g2/kernels/cuda/gemm.h"
#include "r2g2/kernels/cuda/optim.h"
#include "r2g2/kernels/cuda/random.h"
#include "r2g2/kernels/cuda/reduce.h"
#include "r2g2/kernels/cuda/softmax.h"

namespace r2g2::detail {

// The CPU kernel, after checking that `device` is one this build can run on.
template <class Fn>
Fn* cpu_only_kernel(Device device, Fn* cpu_kernel, const char* name) {
  R2G2_CHECK(!device.is_cuda(), name, ": a CUDA tensor reached a build of r2g2 without CUDA");
  return cpu_kernel;
}

// No CUDA-only kernel in a build without CUDA (and no CUDA tensor either).
template <class FnPtr>
FnPtr no_cuda_kernel(Device device, const char* name) {
  R2G2_CHECK(!device.is_cuda(), name, ": a CUDA tensor reached a build of r2g2 without CUDA");
  return nullptr;
}

}  // namespace r2g2::detail

#if R2G2_WITH_CUDA
#define R2G2_KERNEL(device, ...) \
  ((device).is_cuda() ? &::r2g2::kernels::cuda::__VA_ARGS__ : &::r2g2::kernels::cpu::__VA_ARGS__)
#define R2G2_CUDA_ONLY_KERNEL(device, ...)                  \
  ((device).is_cuda() ? &::r2g2::kernels::cuda::__VA_ARGS__ \
                      : static_cast<decltype(&::r2g2::kernels::cuda::__VA_ARGS__)>(nullptr))
#else
#define R2G2_KERNEL(device, ...) \
  (::r2g2::detail::cpu_only_kernel((device), &::r2g2::kernels::cpu::__VA_ARGS__, #__VA_ARGS__))
#define R2G2_CUDA_ONLY_KERNEL(device, ...) \
  (::r2g2::detail::no_cuda_kernel<decltype(&::r2g2::kernels::cuda::__VA_ARGS__)>((device), #__VA_ARGS__))
#endif
