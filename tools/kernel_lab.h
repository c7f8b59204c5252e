#pragma once
// The kernel lab's harness (`r2g2 bench kernels`, tools/cli_bench_kernels.cpp), after
// llm.c's dev/cuda: every case builds random inputs, checks the CUDA kernel against the
// CPU reference with a dtype-aware tolerance, then times it with CUDA events after a
// warm-up, writing a buffer twice the L2 size between repetitions so that no input is
// served from L2, and prints one table row: time, achieved GB/s or GFLOP/s, % of peak.
// Host code only (g++): the kernels it times live in the library, reached through
// kernels/cuda/*.h.
#if R2G2_WITH_CUDA

#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "r2g2/core/dtype.h"
#include "r2g2/core/tensor.h"

namespace r2g2::lab {

// The H200 this lab is written for (NVIDIA's figures); the printed % are against these.
constexpr double kPeakGBs = 4800.0;         // HBM3e
constexpr double kPeakGflopsF32 = 67000.0;  // FP32 on the CUDA cores (no TF32)
constexpr double kPeakGflopsF64 = 34000.0;  // FP64 on the CUDA cores (67 with FP64 tensor cores)

struct Options {
  int reps = 20;                     // timed repetitions per row (median reported)
  int64_t large = int64_t(1) << 26;  // elements of the large elementwise/reduction cases (64M)
  int64_t gemm = 4096;               // the large GEMM is gemm^3
  int mlp_steps = 100;               // timed MLP training steps (median reported)
  std::string only;                  // run only cases whose name contains this
};

template <class T>
const char* dtype_label() {
  return std::is_same_v<T, float> ? "f32" : "f64";
}

// Deterministic values in [lo, hi) (xorshift; the seed picks the stream).
template <class T>
std::vector<T> host_uniform(int64_t n, uint64_t seed, double lo = -1.0, double hi = 1.0) {
  std::vector<T> v(static_cast<size_t>(n));
  uint64_t s = seed * 0x9E3779B97F4A7C15ull + 0x632BE59BD9B4E019ull;
  for (auto& x : v) {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    x = static_cast<T>(lo + (hi - lo) * static_cast<double>(s >> 11) / 9007199254740992.0);
  }
  return v;
}

// A 1-D device tensor holding `v`, and the host copy of a device buffer.
template <class T>
Tensor upload(const std::vector<T>& v);
Tensor upload_i32(const std::vector<int32_t>& v);
template <class T>
std::vector<T> download(const T* device_ptr, int64_t n);

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
  bool selected(const std::string& name) const;

  // Median milliseconds of `launch` over options().reps runs, each after an L2 flush,
  // timed with CUDA events on the current stream; two untimed warm-up runs first.
  double time_ms(const std::function<void()>& launch, int reps = 0);

  // One table row. bytes/flops: the traffic or arithmetic the row achieves per run (0 when
  // not meaningful). error: the validation's scaled error (<= 1 passes; < 0: not checked).
  void row(const std::string& kernel, const std::string& dtype, const std::string& size, double ms,
           double bytes, double flops, double error, const std::string& note = "");
  void section(const std::string& title);
  void line(const std::string& text);  // a free-form line under the table
  int failures() const { return failures_; }

 private:
  Options options_;
  cudaEvent_t start_ = nullptr, stop_ = nullptr;
  Tensor flush_;  // written between repetitions
  size_t flush_bytes_ = 0;
  int flush_value_ = 0;
  int failures_ = 0;
};

}  // namespace r2g2::lab

#endif  // R2G2_WITH_CUDA
