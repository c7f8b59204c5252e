#pragma once
// The kernel lab (`r2g2 bench kernels`), after ggml's test-backend-ops (one case table per
// kernel family, shared with the tests: kernels/cases/<family>.h) and llm.c's dev/cuda (one
// self-contained file per family: tools/bench_<family>.cpp, registered with R2G2_BENCH).
// Every case builds deterministic inputs, computes the CPU reference, runs the kernel on
// the lab's backend, checks it against the reference with a dtype-aware tolerance, then
// times it and prints one table row: time, achieved GB/s or GFLOP/s, % of peak.
//   cuda: CUDA events, two warm-up runs, a buffer twice the L2 size written between
//         repetitions so that no input is served from L2; % of the H200's peaks.
//   cpu:  the reference kernels themselves (a machine without a GPU can time them), on the
//         steady clock with the caches flushed the same way; the check then compares the
//         timed run with a separate reference run, so it catches non-determinism only.
#include <cstdint>
#include <functional>
#include <string>
#include <type_traits>
#include <vector>

#include "r2g2/core/device.h"
#include "r2g2/core/dtype.h"
#include "r2g2/core/tensor.h"
#include "r2g2/kernels/runtime/hash.h"

#if R2G2_WITH_CUDA
#include <cuda_runtime.h>
#endif

namespace r2g2::lab {

// The H200 this lab is written for (NVIDIA's figures); the printed % are against these.
constexpr double kPeakGBs = 4800.0;         // HBM3e
constexpr double kPeakGflopsF32 = 67000.0;  // FP32 on the CUDA cores (no TF32)
constexpr double kPeakGflopsF64 = 34000.0;  // FP64 on the CUDA cores (67 with FP64 tensor cores)

enum class Backend { cpu, cuda };

struct Options {
  Backend backend = Backend::cuda;
  int reps = 20;                     // timed repetitions per row (median reported)
  int64_t large = int64_t(1) << 26;  // elements of the large elementwise/reduction cases (64M)
  int64_t gemm = 4096;               // the large GEMM is gemm^3
  int mlp_steps = 100;               // timed MLP training steps (median reported)
  std::string filter;                // run only the families or kernels whose name contains this

  // Defaults sized for the backend: the CPU reference is 100-1000x slower than an H200.
  static Options for_backend(Backend backend);
};

template <class T>
const char* dtype_label() {
  return std::is_same_v<T, float> ? "f32" : "f64";
}

// Deterministic values in [lo, hi) (the xorshift stream of `seed`).
template <class T>
std::vector<T> host_uniform(int64_t n, uint64_t seed, double lo = -1.0, double hi = 1.0) {
  std::vector<T> v(static_cast<size_t>(n));
  Xorshift64 stream(seed, 0x632BE59BD9B4E019ull);
  for (auto& x : v) x = static_cast<T>(stream.next_in(lo, hi));
  return v;
}

// Deterministic integers in [0, classes): class labels, row indices (repeats included).
std::vector<int32_t> host_labels(int64_t n, int64_t classes, uint64_t seed);

// "n=257", "3x257".
std::string n_str(int64_t n);
std::string dims(std::initializer_list<int64_t> d);

// Largest |got - want| / (atol + rtol |want|); <= 1 passes. NaN where the reference is
// finite (or the other way round) counts as infinitely wrong; NaN == NaN passes.
template <class T>
double scaled_error(const std::vector<T>& got, const std::vector<T>& want, double rtol, double atol);

// Default tolerances: float32 kernels may differ from the CPU by a few ulp (other math
// library, other summation order); float64 by a few ulp of float64.
template <class T>
double default_rtol() {
  return std::is_same_v<T, float> ? 2e-5 : 1e-12;
}

class Lab {
 public:
  explicit Lab(Options options);
  ~Lab();
  Lab(const Lab&) = delete;
  Lab& operator=(const Lab&) = delete;

  const Options& options() const { return options_; }
  bool on_cuda() const { return options_.backend == Backend::cuda; }
  Device device() const { return on_cuda() ? Device::cuda() : Device::cpu(); }

  // Whether rows named `kernel` run: no filter, or it matches the kernel or its family.
  bool selected(const std::string& kernel) const;
  void begin_family(const std::string& family) { family_ = family; }

  // Buffers on the lab's device (at least one element, so that a pointer exists).
  template <class T>
  Tensor upload(const std::vector<T>& v) const;
  Tensor upload_i32(const std::vector<int32_t>& v) const;
  template <class T>
  Tensor empty(int64_t n) const;
  // Host copy of n elements at `p` on the lab's device, after the queued work finished.
  template <class T>
  std::vector<T> download(const T* p, int64_t n) const;
  void zero(const Tensor& t, int64_t bytes) const;

  // Median milliseconds of `launch` over `reps` runs (options().reps when 0), each after a
  // cache flush; two untimed warm-up runs first (module loading, plans, allocator growth).
  double time_ms(const std::function<void()>& launch, int reps = 0);

  // One table row. bytes/flops: the traffic or arithmetic the row achieves per run (0 when
  // not meaningful). error: the validation's scaled error (<= 1 passes; < 0: not checked).
  void row(const std::string& kernel, const std::string& dtype, const std::string& size, double ms,
           double bytes, double flops, double error, const std::string& note = "");
  void section(const std::string& title);
  void line(const std::string& text);  // a free-form line under the table
  int failures() const { return failures_; }

 private:
  void flush_caches();

  Options options_;
  std::string family_;
  Tensor flush_;  // written between repetitions
  size_t flush_bytes_ = 0;
  int flush_value_ = 0;
  int failures_ = 0;
#if R2G2_WITH_CUDA
  cudaEvent_t start_ = nullptr, stop_ = nullptr;
#endif
};

// One kernel family's benchmark; tools/bench_<family>.cpp registers it with R2G2_BENCH.
struct Bench {
  std::string family;   // the name --list shows and --filter matches
  std::string kernels;  // the kernels it times, for --list
  std::string section;  // the table heading it prints under
  int order = 0;        // position in a full run
  bool cuda_only = false;
  void (*run)(Lab& lab) = nullptr;
};

// Every registered benchmark, sorted by order.
const std::vector<Bench>& benches();
struct BenchRegistrar {
  explicit BenchRegistrar(Bench bench);
};

}  // namespace r2g2::lab

#define R2G2_BENCH_CONCAT2(a, b) a##b
#define R2G2_BENCH_CONCAT(a, b) R2G2_BENCH_CONCAT2(a, b)
#define R2G2_BENCH(...) \
  static ::r2g2::lab::BenchRegistrar R2G2_BENCH_CONCAT(r2g2_bench_, __LINE__)(::r2g2::lab::Bench{__VA_ARGS__})

// The lab backend's variant of kernel function `name` (kernels::cuda::name or
// kernels::cpu::name: the two share a signature, so the bench body is written once).
#if R2G2_WITH_CUDA
#define R2G2_LAB_KERNEL(lab, ...) \
  ((lab).on_cuda() ? &::r2g2::kernels::cuda::__VA_ARGS__ : &::r2g2::kernels::cpu::__VA_ARGS__)
#else
#define R2G2_LAB_KERNEL(lab, ...) (&::r2g2::kernels::cpu::__VA_ARGS__)
#endif
