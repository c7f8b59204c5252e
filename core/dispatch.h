#pragma once
// The one place an op chooses a backend. R2G2_KERNEL(device, binary<T>) is the CPU or the
// CUDA implementation of kernels::{cpu,cuda}::binary<T> for `device`, as a callable
// holding the function pointer, so the call site passes its arguments once:
//   R2G2_KERNEL(x.device(), fill<T>)(y.data<T>(), T(0), n);
// Both backends declare the same signature (the callable has one type), which the
// shared family declarations in kernels/*.inc guarantee. In a build without CUDA it
// checks that `device` is not a CUDA one and returns the CPU kernel.
//
// R2G2_CUDA_ONLY_KERNEL(device, name<T>) is for what only the CUDA backend has (e.g.
// whole-batch cuDNN convolution): the CUDA function for a CUDA device, else an empty
// callable (false in a condition), so that the op takes its own CPU path.
//
// Each call is timed by the op profiler (core/profiler.h) under the name written at the
// call site, "fill<T>"; with profiling off that costs one branch.
#include <type_traits>

#include "r2g2/core/device.h"
#include "r2g2/core/error.h"
#include "r2g2/core/profiler.h"
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

// What R2G2_KERNEL returns: the chosen kernel's pointer, called through so that the
// profiler can time the call under the name the call site wrote.
template <class Signature>
class ProfiledKernel;

template <class R, class... Args>
class ProfiledKernel<R(Args...)> {
 public:
  using Pointer = R (*)(Args...);
  ProfiledKernel(Pointer kernel, Device device, const char* name)
      : kernel_(kernel), device_(device), name_(name) {}

  R operator()(Args... args) const {
    if (!profiler::enabled()) [[likely]]
      return kernel_(static_cast<Args&&>(args)...);
    const profiler::Clock::time_point start = profiler::kernel_start(device_);
    if constexpr (std::is_void_v<R>) {
      kernel_(static_cast<Args&&>(args)...);
      profiler::kernel_stop(name_, device_, start);
    } else {
      R result = kernel_(static_cast<Args&&>(args)...);
      profiler::kernel_stop(name_, device_, start);
      return result;
    }
  }

  explicit operator bool() const { return kernel_ != nullptr; }

 private:
  Pointer kernel_;
  Device device_;
  const char* name_;
};

#if R2G2_WITH_CUDA
template <class Fn>
ProfiledKernel<Fn> device_kernel(Device device, Fn* cuda_kernel, Fn* cpu_kernel, const char* name) {
  return {device.is_cuda() ? cuda_kernel : cpu_kernel, device, name};
}

// The CUDA kernel for a CUDA device, else an empty callable.
template <class Fn>
ProfiledKernel<Fn> cuda_only_kernel(Device device, Fn* cuda_kernel, const char* name) {
  return {device.is_cuda() ? cuda_kernel : nullptr, device, name};
}
#else
// The CPU kernel, after checking that `device` is one this build can run on.
template <class Fn>
ProfiledKernel<Fn> cpu_only_kernel(Device device, Fn* cpu_kernel, const char* name) {
  R2G2_CHECK(!device.is_cuda(), name, ": a CUDA tensor reached a build of r2g2 without CUDA");
  return {cpu_kernel, device, name};
}

// No CUDA-only kernel in a build without CUDA (and no CUDA tensor either).
template <class Fn>
ProfiledKernel<Fn> no_cuda_kernel(Device device, const char* name) {
  R2G2_CHECK(!device.is_cuda(), name, ": a CUDA tensor reached a build of r2g2 without CUDA");
  return {nullptr, device, name};
}
#endif

}  // namespace r2g2::detail

#if R2G2_WITH_CUDA
#define R2G2_KERNEL(device, ...)                                                \
  (::r2g2::detail::device_kernel((device), &::r2g2::kernels::cuda::__VA_ARGS__, \
                                 &::r2g2::kernels::cpu::__VA_ARGS__, #__VA_ARGS__))
#define R2G2_CUDA_ONLY_KERNEL(device, ...) \
  (::r2g2::detail::cuda_only_kernel((device), &::r2g2::kernels::cuda::__VA_ARGS__, #__VA_ARGS__))
#else
#define R2G2_KERNEL(device, ...) \
  (::r2g2::detail::cpu_only_kernel((device), &::r2g2::kernels::cpu::__VA_ARGS__, #__VA_ARGS__))
#define R2G2_CUDA_ONLY_KERNEL(device, ...) \
  (::r2g2::detail::no_cuda_kernel<decltype(::r2g2::kernels::cuda::__VA_ARGS__)>((device), #__VA_ARGS__))
#endif
