#pragma once
// A host emulator for r2g2's CUDA device code, so that every hand-written kernel runs in
// ctest on a machine without a GPU. Include it before a kernels/cuda/*.cu file and the
// host compiler builds the launchers and kernels as plain C++: each test file in
// tests/kernels/cuda does that for the one .cu it tests (README: "Device code without a
// device").
//
// Model. Each CUDA thread of a block is a fiber (its own stack); blocks run one after
// another. A fiber runs until it reaches __syncthreads, a warp collective or the end of
// the kernel, so execution is deterministic. A kernel's odd launches run the threads of a
// phase in ascending order and its even launches in descending order, so code that reads
// another thread's write without a barrier between them sees stale data in one of the two.
// Under ThreadSanitizer every fiber is a separate TSan context and the only
// happens-before edges are the barriers and warp collectives: a missing __syncthreads
// or a shared-memory race is reported as a data race. Under AddressSanitizer device
// buffers are host allocations, so an out-of-bounds access is reported where it happens.
//
// What it does not model: timing, memory coalescing, concurrent blocks (blocks of one
// launch are ordered, so a race between blocks is caught only through wrong values),
// real device memory faults, and the ulp behaviour of CUDA's math functions (host libm
// is used).
#define R2G2_CUDA_EMULATION 1

#include <math.h>  // C++ float overloads of exp, log, ... in the global namespace, as CUDA has

#include <atomic>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <stdexcept>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>

// ---- CUDA keywords ---------------------------------------------------------------------
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __noinline__
#define __launch_bounds__(...)
#define __align__(n) __attribute__((aligned(n)))
// Blocks run one at a time, so a function-local static is one block's shared memory.
#define __shared__ static
#define R2G2_DYNAMIC_SHARED(type, name) type* name = static_cast<type*>(::r2g2_emu::dynamic_shared())

struct dim3 {
  unsigned x, y, z;
  constexpr dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};
using uint3 = dim3;

// ---- the runtime API subset r2g2 uses ----------------------------------------------------
enum cudaError_t : int {
  cudaSuccess = 0,
  cudaErrorInvalidValue = 1,
  cudaErrorMemoryAllocation = 2,
  cudaErrorInvalidConfiguration = 9,
  cudaErrorInvalidDevicePointer = 17,
  cudaErrorInvalidResourceHandle = 400,
  cudaErrorIllegalState = 401,
  cudaErrorLaunchFailure = 719,
  cudaErrorStreamCaptureUnsupported = 900,
  cudaErrorStreamCaptureInvalidated = 901,
  cudaErrorStreamCaptureImplicit = 906,
};
using cudaError = cudaError_t;
struct CUstream_st;
using cudaStream_t = CUstream_st*;
struct CUgraph_st;
using cudaGraph_t = CUgraph_st*;
struct CUgraphExec_st;
using cudaGraphExec_t = CUgraphExec_st*;
enum cudaStreamCaptureMode {
  cudaStreamCaptureModeGlobal = 0,
  cudaStreamCaptureModeThreadLocal = 1,
  cudaStreamCaptureModeRelaxed = 2
};
enum cudaStreamCaptureStatus {
  cudaStreamCaptureStatusNone = 0,
  cudaStreamCaptureStatusActive = 1,
  cudaStreamCaptureStatusInvalidated = 2
};
constexpr unsigned cudaStreamDefault = 0x0, cudaStreamNonBlocking = 0x1;
enum cudaMemcpyKind {
  cudaMemcpyHostToHost = 0,
  cudaMemcpyHostToDevice = 1,
  cudaMemcpyDeviceToHost = 2,
  cudaMemcpyDeviceToDevice = 3,
  cudaMemcpyDefault = 4
};
enum cudaDeviceAttr {
  cudaDevAttrMaxThreadsPerBlock = 1,
  cudaDevAttrMaxSharedMemoryPerBlock = 8,
  cudaDevAttrMultiProcessorCount = 16,
  cudaDevAttrMaxSharedMemoryPerBlockOptin = 97,
};
enum cudaFuncAttribute { cudaFuncAttributeMaxDynamicSharedMemorySize = 8 };

const char* cudaGetErrorString(cudaError_t error);
const char* cudaGetErrorName(cudaError_t error);
cudaError_t cudaGetLastError();
cudaError_t cudaPeekAtLastError();
cudaError_t cudaMalloc(void** ptr, size_t bytes);
cudaError_t cudaFree(void* ptr);
cudaError_t cudaMallocAsync(void** ptr, size_t bytes, cudaStream_t stream);
cudaError_t cudaFreeAsync(void* ptr, cudaStream_t stream);
cudaError_t cudaMemcpy(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind);
cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind,
                            cudaStream_t stream = nullptr);
cudaError_t cudaMemset(void* ptr, int value, size_t bytes);
cudaError_t cudaMemsetAsync(void* ptr, int value, size_t bytes, cudaStream_t stream = nullptr);
cudaError_t cudaStreamSynchronize(cudaStream_t stream);
cudaError_t cudaDeviceSynchronize();
cudaError_t cudaStreamCreateWithFlags(cudaStream_t* stream, unsigned flags);
cudaError_t cudaStreamDestroy(cudaStream_t stream);
cudaError_t cudaGetDevice(int* device);
cudaError_t cudaSetDevice(int device);  // one device: only 0 is valid
cudaError_t cudaDeviceGetAttribute(int* value, cudaDeviceAttr attr, int device);
// Stream capture and graphs (tests/emulator/cuda_graph.cpp), with CUDA's rules for the
// subset r2g2 uses: one capture at a time, in global mode (all three modes behave alike:
// a prohibited call from any thread invalidates the capture). While a stream captures,
// kernel launches and the async copies and memsets on it are recorded, not run; a
// synchronisation, a synchronous copy or memset, cudaMalloc or cudaFree is refused and
// invalidates the capture, so that cudaStreamEndCapture then fails. The legacy default
// stream (nullptr) cannot capture. A graph launch replays its nodes in capture order.
cudaError_t cudaStreamBeginCapture(cudaStream_t stream, cudaStreamCaptureMode mode);
cudaError_t cudaStreamEndCapture(cudaStream_t stream, cudaGraph_t* graph);
cudaError_t cudaStreamIsCapturing(cudaStream_t stream, cudaStreamCaptureStatus* status);
cudaError_t cudaGraphInstantiate(cudaGraphExec_t* exec, cudaGraph_t graph, unsigned long long flags = 0);
cudaError_t cudaGraphLaunch(cudaGraphExec_t exec, cudaStream_t stream);
cudaError_t cudaGraphExecDestroy(cudaGraphExec_t exec);
cudaError_t cudaGraphDestroy(cudaGraph_t graph);
template <class T>
cudaError_t cudaMalloc(T** ptr, size_t bytes) {
  return cudaMalloc(reinterpret_cast<void**>(ptr), bytes);
}
template <class T>
cudaError_t cudaMallocAsync(T** ptr, size_t bytes, cudaStream_t stream) {
  return cudaMallocAsync(reinterpret_cast<void**>(ptr), bytes, stream);
}

namespace r2g2_emu {

// A misuse of CUDA that hardware would turn into a hang, a wrong answer or undefined
// behaviour: divergent barriers, a warp collective whose mask names missing lanes, ...
struct EmulationError : std::logic_error {
  using std::logic_error::logic_error;
};

// What cudaDeviceGetAttribute reports; the defaults are an H200's. Tests may lower them
// to reach the fallbacks a smaller device would take.
struct DeviceProperties {
  int max_threads_per_block = 1024;
  int shared_per_block = 48 * 1024;
  int shared_per_block_optin = 227 * 1024;
  int multiprocessor_count = 132;
};
DeviceProperties& device_properties();

// Device memory is host memory, counted so that tests can see leaks and set a capacity
// (0: unlimited) past which cudaMalloc fails with cudaErrorMemoryAllocation.
struct MemoryStats {
  size_t bytes_in_use = 0, peak_bytes = 0, allocations = 0, failed_allocations = 0;
};
MemoryStats memory_stats();
void set_memory_capacity(size_t bytes);

// Restores the defaults above and clears the sticky error a __trap left.
void reset_device();

// The order in which a block's threads run between two barriers. By default it alternates
// per kernel (a kernel's odd launches ascending, even ones descending); a test that wants
// both orders of one call can fix it instead.
enum class ThreadOrder { alternate, ascending, descending };
void set_thread_order(ThreadOrder order);

// Launches so far, and the name of the most recent one (tests check that a path ran a
// particular kernel).
int64_t launch_count();
std::string last_kernel();
int64_t launches_of(const std::string& kernel_name_part);

// Inside a kernel.
const dim3& thread_index();
const dim3& block_index();
const dim3& block_dim();
const dim3& grid_dim();
void* dynamic_shared();
enum class BarrierKind { plain, all, any, count };
int block_barrier(BarrierKind kind, int predicate);
enum class Collective { sync, shuffle, ballot, match };
// One warp collective: every lane in `mask` must call it. `value` (at most 16 bytes) is
// what this lane offers and `source` the lane it reads from (shuffles); `out` receives it.
void warp_collective(Collective kind, unsigned mask, const void* value, size_t size, int source, void* out);
unsigned warp_vote(Collective kind, unsigned mask, uint64_t value);
unsigned active_mask();
[[noreturn]] void trap();

// Runs body() as every thread of every block. Throws EmulationError on a misuse; a
// launch-configuration error is returned by cudaGetLastError, as on a device.
void run(const char* name, const void* kernel, dim3 grid, dim3 block, size_t dynamic_shared_bytes,
         const std::function<void()>& body);
// While a stream captures (cuda_graph.cpp), launches become graph nodes: record() checks
// the configuration as a launch would and keeps the body, which owns its arguments.
bool capturing();
void record(const char* name, const void* kernel, dim3 grid, dim3 block, size_t dynamic_shared_bytes,
            std::function<void()> body);
bool valid_launch_config(dim3 grid, dim3 block, size_t dynamic_shared_bytes, const void* kernel);
// Graphs and graph executables not yet destroyed (tests check for leaks).
int64_t live_graphs();
int max_dynamic_shared(const void* kernel);
void set_max_dynamic_shared(const void* kernel, int bytes);

template <class... P, class... A>
void launch(const char* name, void (*kernel)(P...), dim3 grid, dim3 block, size_t dynamic_shared_bytes,
            A&&... args) {
  static_assert(sizeof...(P) == sizeof...(A), "kernel launched with the wrong number of arguments");
  // Converted once, as the CUDA launch converts its arguments to the parameter types;
  // every thread then gets its own copy, since a kernel may modify its parameters.
  const std::tuple<std::decay_t<P>...> params(static_cast<std::decay_t<P>>(std::forward<A>(args))...);
  if (capturing()) {  // the arguments are frozen now, as a captured launch's are
    record(name, reinterpret_cast<const void*>(kernel), grid, block, dynamic_shared_bytes, [params, kernel] {
      auto copy = params;
      std::apply(kernel, copy);
    });
    return;
  }
  run(name, reinterpret_cast<const void*>(kernel), grid, block, dynamic_shared_bytes, [&params, kernel] {
    auto copy = params;
    std::apply(kernel, copy);
  });
}

// The host stand-in for <<<grid, block, smem, stream>>>, used by kernels/cuda/launch.cuh.
#define R2G2_EMULATED_LAUNCH(kernel, grid, block, smem, ...) \
  ::r2g2_emu::launch(#kernel, kernel, (grid), (block), (smem) __VA_OPT__(, ) __VA_ARGS__)

template <class T>
T shuffle(unsigned mask, T value, int source) {
  static_assert(std::is_trivially_copyable_v<T> && sizeof(T) <= 16, "shuffle of an unsupported type");
  T out;
  warp_collective(Collective::shuffle, mask, &value, sizeof(T), source, &out);
  return out;
}
int lane_id();

}  // namespace r2g2_emu

template <class F>
cudaError_t cudaFuncSetAttribute(F* kernel, cudaFuncAttribute attr, int value) {
  if (attr != cudaFuncAttributeMaxDynamicSharedMemorySize || value < 0 ||
      value > r2g2_emu::device_properties().shared_per_block_optin)
    return cudaErrorInvalidValue;
  r2g2_emu::set_max_dynamic_shared(reinterpret_cast<const void*>(kernel), value);
  return cudaSuccess;
}

// ---- names device code uses ------------------------------------------------------------
#define threadIdx (::r2g2_emu::thread_index())
#define blockIdx (::r2g2_emu::block_index())
#define blockDim (::r2g2_emu::block_dim())
#define gridDim (::r2g2_emu::grid_dim())
#define warpSize 32

inline void __syncthreads() { r2g2_emu::block_barrier(r2g2_emu::BarrierKind::plain, 0); }
inline int __syncthreads_and(int p) { return r2g2_emu::block_barrier(r2g2_emu::BarrierKind::all, p); }
inline int __syncthreads_or(int p) { return r2g2_emu::block_barrier(r2g2_emu::BarrierKind::any, p); }
inline int __syncthreads_count(int p) { return r2g2_emu::block_barrier(r2g2_emu::BarrierKind::count, p); }
inline void __syncwarp(unsigned mask = 0xffffffffu) {
  r2g2_emu::warp_collective(r2g2_emu::Collective::sync, mask, nullptr, 0, 0, nullptr);
}
// The same lane arithmetic as the PTX shfl instruction, `width` a power of two <= 32.
template <class T>
T __shfl_sync(unsigned mask, T v, int src, int width = 32) {
  const int lane = r2g2_emu::lane_id(), base = lane & ~(width - 1);
  return r2g2_emu::shuffle(mask, v, base + (src & (width - 1)));
}
template <class T>
T __shfl_down_sync(unsigned mask, T v, unsigned delta, int width = 32) {
  const int lane = r2g2_emu::lane_id();
  const int in_segment = (lane & (width - 1)) + static_cast<int>(delta);
  return r2g2_emu::shuffle(mask, v, in_segment < width ? lane + static_cast<int>(delta) : lane);
}
template <class T>
T __shfl_up_sync(unsigned mask, T v, unsigned delta, int width = 32) {
  const int lane = r2g2_emu::lane_id();
  return r2g2_emu::shuffle(mask, v, (lane & (width - 1)) >= static_cast<int>(delta) ? lane - static_cast<int>(delta) : lane);
}
template <class T>
T __shfl_xor_sync(unsigned mask, T v, int lane_mask, int width = 32) {
  const int lane = r2g2_emu::lane_id(), target = lane ^ lane_mask;
  return r2g2_emu::shuffle(mask, v, (target & ~(width - 1)) == (lane & ~(width - 1)) ? target : lane);
}
inline unsigned __ballot_sync(unsigned mask, int pred) {
  return r2g2_emu::warp_vote(r2g2_emu::Collective::ballot, mask, pred != 0);
}
inline int __all_sync(unsigned mask, int pred) { return __ballot_sync(mask, pred) == mask; }
inline int __any_sync(unsigned mask, int pred) { return __ballot_sync(mask, pred) != 0; }
template <class T>
unsigned __match_any_sync(unsigned mask, T value) {
  static_assert(std::is_integral_v<T> && sizeof(T) <= 8, "__match_any_sync takes a 32- or 64-bit integer");
  return r2g2_emu::warp_vote(r2g2_emu::Collective::match, mask, static_cast<uint64_t>(value));
}
inline unsigned __activemask() { return r2g2_emu::active_mask(); }
inline void __threadfence() { std::atomic_thread_fence(std::memory_order_seq_cst); }
inline void __threadfence_block() { std::atomic_thread_fence(std::memory_order_seq_cst); }
[[noreturn]] inline void __trap() { r2g2_emu::trap(); }

template <class T>
T __ldg(const T* p) {
  return *p;
}

// Atomics: real atomics, so ThreadSanitizer does not report them as races.
template <class T>
T atomicAdd(T* p, T v) {
  return std::atomic_ref<T>(*p).fetch_add(v);
}
template <class T>
T atomicSub(T* p, T v) {
  return std::atomic_ref<T>(*p).fetch_sub(v);
}
template <class T>
T atomicExch(T* p, T v) {
  return std::atomic_ref<T>(*p).exchange(v);
}
template <class T>
T atomicCAS(T* p, T expected, T desired) {
  std::atomic_ref<T>(*p).compare_exchange_strong(expected, desired);
  return expected;
}
template <class T>
T atomicMin(T* p, T v) {
  std::atomic_ref<T> a(*p);
  T old = a.load();
  while (v < old && !a.compare_exchange_weak(old, v)) {
  }
  return old;
}
template <class T>
T atomicMax(T* p, T v) {
  std::atomic_ref<T> a(*p);
  T old = a.load();
  while (old < v && !a.compare_exchange_weak(old, v)) {
  }
  return old;
}

// Integer intrinsics.
inline int __ffs(int x) { return __builtin_ffs(x); }
inline int __ffs(unsigned x) { return __builtin_ffs(static_cast<int>(x)); }
inline int __ffsll(long long x) { return __builtin_ffsll(x); }
inline int __popc(unsigned x) { return __builtin_popcount(x); }
inline int __popcll(unsigned long long x) { return __builtin_popcountll(x); }
inline int __clz(int x) { return x == 0 ? 32 : __builtin_clz(static_cast<unsigned>(x)); }
inline int __clzll(long long x) { return x == 0 ? 64 : __builtin_clzll(static_cast<unsigned long long>(x)); }
inline unsigned __umulhi(unsigned a, unsigned b) {
  return static_cast<unsigned>((static_cast<uint64_t>(a) * b) >> 32);
}
inline unsigned long long __umul64hi(unsigned long long a, unsigned long long b) {
  return static_cast<unsigned long long>((static_cast<unsigned __int128>(a) * b) >> 64);
}
inline unsigned __brev(unsigned x) {
  x = ((x >> 1) & 0x55555555u) | ((x & 0x55555555u) << 1);
  x = ((x >> 2) & 0x33333333u) | ((x & 0x33333333u) << 2);
  x = ((x >> 4) & 0x0F0F0F0Fu) | ((x & 0x0F0F0F0Fu) << 4);
  x = ((x >> 8) & 0x00FF00FFu) | ((x & 0x00FF00FFu) << 8);
  return (x >> 16) | (x << 16);
}

// Math that CUDA has and the host library lacks; the fast-math intrinsics are their
// accurate counterparts here.
inline float rsqrtf(float x) { return 1.0f / std::sqrt(x); }
inline double rsqrt(double x) { return 1.0 / std::sqrt(x); }
inline float __expf(float x) { return std::exp(x); }
inline float __logf(float x) { return std::log(x); }
inline float __sinf(float x) { return std::sin(x); }
inline float __cosf(float x) { return std::cos(x); }
inline float __fdividef(float a, float b) { return a / b; }
inline float __saturatef(float x) { return x < 0.0f ? 0.0f : (x > 1.0f ? 1.0f : x); }
inline float __fmaf_rn(float a, float b, float c) { return std::fma(a, b, c); }
inline double __fma_rn(double a, double b, double c) { return std::fma(a, b, c); }
inline void sincosf(float x, float* s, float* c) {
  *s = std::sin(x);
  *c = std::cos(x);
}
inline void sincos(double x, double* s, double* c) {
  *s = std::sin(x);
  *c = std::cos(x);
}
// CUDA's min and max accept mixed argument types.
template <class A, class B>
constexpr std::common_type_t<A, B> min(A a, B b) {
  using C = std::common_type_t<A, B>;
  return static_cast<C>(b) < static_cast<C>(a) ? static_cast<C>(b) : static_cast<C>(a);
}
template <class A, class B>
constexpr std::common_type_t<A, B> max(A a, B b) {
  using C = std::common_type_t<A, B>;
  return static_cast<C>(a) < static_cast<C>(b) ? static_cast<C>(b) : static_cast<C>(a);
}
