// The kernel lab's harness: timing, L2 flushing, validation and the table (kernel_lab.h).
#include "tools/kernel_lab.h"

#if R2G2_WITH_CUDA

#include <algorithm>
#include <cstdio>

#include "r2g2/core/device.h"
#include "r2g2/kernels/cuda/check.h"
#include "r2g2/kernels/cuda/stream.h"

namespace r2g2::lab {

template <class T>
Tensor upload(const std::vector<T>& v) {
  const Shape shape{static_cast<int64_t>(v.size())};
  if constexpr (std::is_same_v<T, float>)
    return Tensor::from_vector(v, shape, Device::cuda());
  else
    return Tensor::from_vector(v, shape, DType::f64, Device::cuda());
}
template Tensor upload<float>(const std::vector<float>&);
template Tensor upload<double>(const std::vector<double>&);

Tensor upload_i32(const std::vector<int32_t>& v) {
  return Tensor::from_vector(v, {static_cast<int64_t>(v.size())}, Device::cuda());
}

template <class T>
std::vector<T> download(const T* device_ptr, int64_t n) {
  std::vector<T> v(static_cast<size_t>(n));
  if (n > 0) {
    R2G2_CUDA_CHECK(cudaStreamSynchronize(kernels::cuda::current_stream()));
    R2G2_CUDA_CHECK(cudaMemcpy(v.data(), device_ptr, v.size() * sizeof(T), cudaMemcpyDeviceToHost));
  }
  return v;
}
template std::vector<float> download<float>(const float*, int64_t);
template std::vector<double> download<double>(const double*, int64_t);
template std::vector<int32_t> download<int32_t>(const int32_t*, int64_t);

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

Lab::Lab(Options options) : options_(std::move(options)) {
  R2G2_CUDA_CHECK(cudaEventCreate(&start_));
  R2G2_CUDA_CHECK(cudaEventCreate(&stop_));
  int device = 0, l2 = 0;
  R2G2_CUDA_CHECK(cudaGetDevice(&device));
  R2G2_CUDA_CHECK(cudaDeviceGetAttribute(&l2, cudaDevAttrL2CacheSize, device));
  // Twice the L2 (60 MB on an H200), and never under 64 MiB.
  flush_bytes_ = std::max<size_t>(2 * static_cast<size_t>(l2), size_t(64) << 20);
  flush_ = Tensor::empty({static_cast<int64_t>(flush_bytes_ / 4)}, DType::f32, Device::cuda());
  cudaDeviceProp prop{};
  R2G2_CUDA_CHECK(cudaGetDeviceProperties(&prop, device));
  std::printf("device %d: %s, sm_%d%d, %d SMs, L2 %.0f MB (flush buffer %.0f MB), %d timed reps per row\n",
              device, prop.name, prop.major, prop.minor, prop.multiProcessorCount, l2 / 1e6,
              flush_bytes_ / 1e6, options_.reps);
  std::printf("%% of peak against the H200's %.1f TB/s HBM and %.0f TFLOP/s FP32 (%.0f FP64)\n",
              kPeakGBs / 1000, kPeakGflopsF32 / 1000, kPeakGflopsF64 / 1000);
}

Lab::~Lab() {
  cudaEventDestroy(start_);
  cudaEventDestroy(stop_);
}

bool Lab::selected(const std::string& name) const {
  return options_.only.empty() || name.find(options_.only) != std::string::npos;
}

double Lab::time_ms(const std::function<void()>& launch, int reps) {
  if (reps <= 0) reps = options_.reps;
  cudaStream_t stream = kernels::cuda::current_stream();
  launch();  // warm-up: first-launch module loading, cuBLAS/cuDNN plans, allocator growth
  launch();
  R2G2_CUDA_CHECK(cudaStreamSynchronize(stream));
  std::vector<float> ms(static_cast<size_t>(reps));
  for (auto& t : ms) {
    // Overwrite L2 so that the timed run reads its inputs from HBM, as a cold call would.
    flush_value_ = (flush_value_ + 1) & 0xff;
    R2G2_CUDA_CHECK(cudaMemsetAsync(flush_.raw_data(), flush_value_, flush_bytes_, stream));
    R2G2_CUDA_CHECK(cudaEventRecord(start_, stream));
    launch();
    R2G2_CUDA_CHECK(cudaEventRecord(stop_, stream));
    R2G2_CUDA_CHECK(cudaEventSynchronize(stop_));
    R2G2_CUDA_CHECK(cudaEventElapsedTime(&t, start_, stop_));
  }
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

void Lab::section(const std::string& title) {
  std::printf("\n== %s\n", title.c_str());
  std::printf("%-34s %-5s %-24s %11s %10s %7s  %s\n", "kernel", "dtype", "size", "time (us)", "rate",
              "% peak", "check");
}

void Lab::row(const std::string& kernel, const std::string& dtype, const std::string& size, double ms,
              double bytes, double flops, double error, const std::string& note) {
  const double seconds = ms * 1e-3;
  char rate[32] = "-", peak[16] = "-", check[48] = "not checked";
  if (flops > 0 && seconds > 0) {
    const double gflops = flops / seconds * 1e-9;
    std::snprintf(rate, sizeof rate, "%.0f GF/s", gflops);
    std::snprintf(peak, sizeof peak, "%.1f%%",
                  100 * gflops / (dtype == "f64" ? kPeakGflopsF64 : kPeakGflopsF32));
  } else if (bytes > 0 && seconds > 0) {
    const double gbs = bytes / seconds * 1e-9;
    std::snprintf(rate, sizeof rate, "%.0f GB/s", gbs);
    std::snprintf(peak, sizeof peak, "%.1f%%", 100 * gbs / kPeakGBs);
  }
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

}  // namespace r2g2::lab

#endif  // R2G2_WITH_CUDA
