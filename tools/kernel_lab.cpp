// The kernel lab's harness: buffers, timing, cache flushing, validation, the table and the
// registry of family benchmarks (kernel_lab.h).
#include "tools/kernel_lab.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>

#if R2G2_WITH_CUDA
#include "r2g2/kernels/cuda/check.h"
#include "r2g2/kernels/cuda/stream.h"
#endif

namespace r2g2::lab {

Options Options::for_backend(Backend backend) {
  Options o;
  o.backend = backend;
  if (backend == Backend::cpu) {
    o.reps = 5;
    o.large = int64_t(1) << 22;
    o.gemm = 512;
    o.mlp_steps = 5;
  }
  return o;
}

std::vector<int32_t> host_labels(int64_t n, int64_t classes, uint64_t seed) {
  std::vector<int32_t> v(static_cast<size_t>(n));
  uint64_t s = seed * 6364136223846793005ull + 1;
  for (auto& l : v) {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    l = static_cast<int32_t>((s >> 33) % static_cast<uint64_t>(classes));
  }
  return v;
}

std::string n_str(int64_t n) { return "n=" + std::to_string(n); }

std::string dims(std::initializer_list<int64_t> d) {
  std::string s;
  for (int64_t v : d) {
    if (!s.empty()) s += 'x';
    s += std::to_string(v);
  }
  return s;
}

template <class T>
double scaled_error(const std::vector<T>& got, const std::vector<T>& want, double rtol, double atol) {
  if (got.size() != want.size()) return INFINITY;
  double worst = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    const double g = double(got[i]), w = double(want[i]);
    if (std::isnan(g) || std::isnan(w)) {
      if (std::isnan(g) != std::isnan(w)) return INFINITY;
      continue;
    }
    if (g == w) continue;  // also equal infinities
    worst = std::max(worst, std::abs(g - w) / (atol + rtol * std::abs(w)));
  }
  return worst;
}
template double scaled_error<float>(const std::vector<float>&, const std::vector<float>&, double, double);
template double scaled_error<double>(const std::vector<double>&, const std::vector<double>&, double, double);
template double scaled_error<int32_t>(const std::vector<int32_t>&, const std::vector<int32_t>&, double,
                                      double);

// ---- buffers ------------------------------------------------------------------------------

template <class T>
Tensor Lab::upload(const std::vector<T>& v) const {
  const Shape shape{static_cast<int64_t>(v.size())};
  if (v.empty()) return empty<T>(1);
  if constexpr (std::is_same_v<T, float>)
    return Tensor::from_vector(v, shape, device());
  else
    return Tensor::from_vector(v, shape, DType::f64, device());
}
template Tensor Lab::upload<float>(const std::vector<float>&) const;
template Tensor Lab::upload<double>(const std::vector<double>&) const;

Tensor Lab::upload_i32(const std::vector<int32_t>& v) const {
  if (v.empty()) return Tensor::empty({1}, DType::i32, device());
  return Tensor::from_vector(v, {static_cast<int64_t>(v.size())}, device());
}

template <class T>
Tensor Lab::empty(int64_t n) const {
  return Tensor::empty({std::max<int64_t>(n, 1)}, dtype_of<T>(), device());
}
template Tensor Lab::empty<float>(int64_t) const;
template Tensor Lab::empty<double>(int64_t) const;
template Tensor Lab::empty<int32_t>(int64_t) const;

template <class T>
std::vector<T> Lab::download(const T* p, int64_t n) const {
  std::vector<T> v(static_cast<size_t>(std::max<int64_t>(n, 0)));
  if (v.empty()) return v;
#if R2G2_WITH_CUDA
  if (on_cuda()) {
    R2G2_CUDA_CHECK(cudaStreamSynchronize(kernels::cuda::current_stream()));
    R2G2_CUDA_CHECK(cudaMemcpy(v.data(), p, v.size() * sizeof(T), cudaMemcpyDeviceToHost));
    return v;
  }
#endif
  std::memcpy(v.data(), p, v.size() * sizeof(T));
  return v;
}
template std::vector<float> Lab::download<float>(const float*, int64_t) const;
template std::vector<double> Lab::download<double>(const double*, int64_t) const;
template std::vector<int32_t> Lab::download<int32_t>(const int32_t*, int64_t) const;

void Lab::zero(const Tensor& t, int64_t bytes) const {
  if (bytes <= 0) return;
#if R2G2_WITH_CUDA
  if (on_cuda()) {
    R2G2_CUDA_CHECK(
        cudaMemsetAsync(t.raw_data(), 0, static_cast<size_t>(bytes), kernels::cuda::current_stream()));
    return;
  }
#endif
  std::memset(t.raw_data(), 0, static_cast<size_t>(bytes));
}

// ---- the lab ------------------------------------------------------------------------------

Lab::Lab(Options options) : options_(std::move(options)) {
#if R2G2_WITH_CUDA
  if (on_cuda()) {
    R2G2_CUDA_CHECK(cudaEventCreate(&start_));
    R2G2_CUDA_CHECK(cudaEventCreate(&stop_));
    int ordinal = 0, l2 = 0;
    R2G2_CUDA_CHECK(cudaGetDevice(&ordinal));
    R2G2_CUDA_CHECK(cudaDeviceGetAttribute(&l2, cudaDevAttrL2CacheSize, ordinal));
    // Twice the L2 (60 MB on an H200), and never under 64 MiB.
    flush_bytes_ = std::max<size_t>(2 * static_cast<size_t>(l2), size_t(64) << 20);
    flush_ = Tensor::empty({static_cast<int64_t>(flush_bytes_ / 4)}, DType::f32, Device::cuda());
    cudaDeviceProp prop{};
    R2G2_CUDA_CHECK(cudaGetDeviceProperties(&prop, ordinal));
    std::printf("device %d: %s, sm_%d%d, %d SMs, L2 %.0f MB (flush buffer %.0f MB), %d timed reps per row\n",
                ordinal, prop.name, prop.major, prop.minor, prop.multiProcessorCount, l2 / 1e6,
                flush_bytes_ / 1e6, options_.reps);
    std::printf("%% of peak against the H200's %.1f TB/s HBM and %.0f TFLOP/s FP32 (%.0f FP64)\n",
                kPeakGBs / 1000, kPeakGflopsF32 / 1000, kPeakGflopsF64 / 1000);
    return;
  }
#endif
  // Larger than the last-level cache of the machines this runs on.
  flush_bytes_ = size_t(64) << 20;
  flush_ = Tensor::empty({static_cast<int64_t>(flush_bytes_ / 4)}, DType::f32, Device::cpu());
  std::printf(
      "backend cpu: the CPU reference kernels, steady clock, caches flushed (%.0f MB written) between "
      "repetitions, %d timed reps per row; the check compares the timed run with a separate reference run\n",
      flush_bytes_ / 1e6, options_.reps);
}

Lab::~Lab() {
#if R2G2_WITH_CUDA
  if (start_) cudaEventDestroy(start_);
  if (stop_) cudaEventDestroy(stop_);
#endif
}

bool Lab::selected(const std::string& kernel) const {
  const std::string& f = options_.filter;
  return f.empty() || kernel.find(f) != std::string::npos || family_.find(f) != std::string::npos;
}

void Lab::flush_caches() {
  flush_value_ = (flush_value_ + 1) & 0xff;
#if R2G2_WITH_CUDA
  if (on_cuda()) {
    R2G2_CUDA_CHECK(
        cudaMemsetAsync(flush_.raw_data(), flush_value_, flush_bytes_, kernels::cuda::current_stream()));
    return;
  }
#endif
  std::memset(flush_.raw_data(), flush_value_, flush_bytes_);
}

double Lab::time_ms(const std::function<void()>& launch, int reps) {
  if (reps <= 0) reps = options_.reps;
  std::vector<float> ms(static_cast<size_t>(reps));
#if R2G2_WITH_CUDA
  if (on_cuda()) {
    cudaStream_t stream = kernels::cuda::current_stream();
    launch();
    launch();
    R2G2_CUDA_CHECK(cudaStreamSynchronize(stream));
    for (auto& t : ms) {
      // Overwrite L2 so that the timed run reads its inputs from HBM, as a cold call would.
      flush_caches();
      R2G2_CUDA_CHECK(cudaEventRecord(start_, stream));
      launch();
      R2G2_CUDA_CHECK(cudaEventRecord(stop_, stream));
      R2G2_CUDA_CHECK(cudaEventSynchronize(stop_));
      R2G2_CUDA_CHECK(cudaEventElapsedTime(&t, start_, stop_));
    }
    std::sort(ms.begin(), ms.end());
    return ms[ms.size() / 2];
  }
#endif
  launch();
  launch();
  for (auto& t : ms) {
    flush_caches();
    const auto t0 = std::chrono::steady_clock::now();
    launch();
    t = std::chrono::duration<float, std::milli>(std::chrono::steady_clock::now() - t0).count();
  }
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

void Lab::section(const std::string& title) {
  std::printf("\n== %s\n", title.c_str());
  std::printf("%-34s %-5s %-24s %11s %10s %7s  %s\n", "kernel", "dtype", "size", "time (us)", "rate",
              on_cuda() ? "% peak" : "", "check");
}

void Lab::row(const std::string& kernel, const std::string& dtype, const std::string& size, double ms,
              double bytes, double flops, double error, const std::string& note) {
  const double seconds = ms * 1e-3;
  char rate[32] = "-", peak[16] = "-", check[48] = "not checked";
  if (flops > 0 && seconds > 0) {
    const double gflops = flops / seconds * 1e-9;
    std::snprintf(rate, sizeof rate, "%.*f GF/s", gflops < 10 ? 2 : 0, gflops);
    std::snprintf(peak, sizeof peak, "%.1f%%",
                  100 * gflops / (dtype == "f64" ? kPeakGflopsF64 : kPeakGflopsF32));
  } else if (bytes > 0 && seconds > 0) {
    const double gbs = bytes / seconds * 1e-9;
    std::snprintf(rate, sizeof rate, "%.*f GB/s", gbs < 10 ? 2 : 0, gbs);
    std::snprintf(peak, sizeof peak, "%.1f%%", 100 * gbs / kPeakGBs);
  }
  if (!on_cuda()) peak[0] = '\0';  // the H200's peaks say nothing about a CPU
  if (error >= 0) {
    const bool ok = error <= 1.0;
    if (!ok) ++failures_;
    std::snprintf(check, sizeof check, "%s (err %.2g)", ok ? "ok" : "FAIL", error);
  }
  std::printf("%-34s %-5s %-24s %11.2f %10s %7s  %s%s%s\n", kernel.c_str(), dtype.c_str(), size.c_str(),
              ms * 1e3, rate, peak, check, note.empty() ? "" : "  ", note.c_str());
  std::fflush(stdout);
}

void Lab::line(const std::string& text) {
  std::printf("%s\n", text.c_str());
  std::fflush(stdout);
}

// ---- the registry -------------------------------------------------------------------------

namespace {
std::vector<Bench>& mutable_benches() {
  static std::vector<Bench> all;
  return all;
}
}  // namespace

const std::vector<Bench>& benches() { return mutable_benches(); }

BenchRegistrar::BenchRegistrar(Bench bench) {
  auto& all = mutable_benches();
  all.push_back(std::move(bench));
  std::stable_sort(all.begin(), all.end(), [](const Bench& a, const Bench& b) { return a.order < b.order; });
}

}  // namespace r2g2::lab
