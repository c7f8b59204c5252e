// ReplayScalars (kernels/cuda/graph.h). Plain C++ over the runtime API, so that the
// emulated test suite builds it against the host emulator.
#include "r2g2/kernels/cuda/graph.h"

#include <algorithm>
#include <atomic>
#include <cstring>

#include "r2g2/kernels/cuda/check.h"
#include "r2g2/kernels/cuda/cuda_api.h"
#include "r2g2/kernels/cuda/stream.h"
#include "r2g2/kernels/optim_math.h"
#include "r2g2/kernels/runtime/device_memory.h"
#include "r2g2/kernels/runtime/error.h"

namespace r2g2::kernels::cuda {

namespace {
std::atomic<ReplayScalars*> g_capturing{nullptr};
}  // namespace

ReplayScalars* capturing_scalars() { return g_capturing.load(std::memory_order_acquire); }
void set_capturing_scalars(ReplayScalars* scalars) { g_capturing.store(scalars, std::memory_order_release); }

ReplayScalars::ReplayScalars() {
  device_ = static_cast<ReplayWords*>(runtime::device_allocate(sizeof(ReplayWords)));
  host_.loss_finite = 1;
  try {
    upload();
  } catch (...) {
    runtime::device_release(device_, sizeof(ReplayWords));
    throw;
  }
}

ReplayScalars::~ReplayScalars() {
  if (capturing_scalars() == this) set_capturing_scalars(nullptr);
  runtime::device_release(device_, sizeof(ReplayWords));
}

const uint64_t* ReplayScalars::philox_shift(uint64_t seed) {
  auto it = std::find(seeds_.begin(), seeds_.end(), seed);
  if (it == seeds_.end()) {
    R2G2_CHECK(seeds_.size() < static_cast<size_t>(ReplayWords::kMaxPhiloxStreams),
               "CUDA graph capture: the step draws from more than ", ReplayWords::kMaxPhiloxStreams,
               " random streams (Generators); share one noise source between the layers");
    seeds_.push_back(seed);
    it = seeds_.end() - 1;
  }
  return &device_->philox_shift[it - seeds_.begin()];
}

namespace {
void check_one_adam(double captured_lr, int64_t captured_step, double lr, int64_t step) {
  // Compared in float: one Adam step over float and double parameters passes lr rounded
  // to each dtype.
  R2G2_CHECK(captured_step == 0 ||
                 (static_cast<float>(captured_lr) == static_cast<float>(lr) && captured_step == step),
             "CUDA graph capture: a second Adam update (lr ", lr, ", step ", step,
             ") in the captured step after one with lr ", captured_lr, ", step ", captured_step,
             "; a captured step holds one Adam step");
}
}  // namespace

const float* ReplayScalars::adam_values(float lr, int64_t step) {
  check_one_adam(adam_lr_, adam_step_, lr, step);
  adam_lr_ = lr;
  adam_step_ = step;
  return device_->adam_f32;
}

const double* ReplayScalars::adam_values(double lr, int64_t step) {
  check_one_adam(adam_lr_, adam_step_, lr, step);
  adam_lr_ = lr;
  adam_step_ = step;
  return device_->adam_f64;
}

void ReplayScalars::set_philox_shift(uint64_t seed, uint64_t shift) {
  const auto it = std::find(seeds_.begin(), seeds_.end(), seed);
  R2G2_CHECK(it != seeds_.end(), "CUDA graph replay: random stream ", seed,
             " was not drawn from in the capture");
  host_.philox_shift[it - seeds_.begin()] = shift;
}

void ReplayScalars::set_adam(double lr, double beta1, double beta2, int64_t step) {
  // The same casts and bias corrections as Adam::step and adam_step_many, per dtype.
  const AdamBias<double> b64 = adam_bias(beta1, beta2, step);
  host_.adam_f64[0] = lr;
  host_.adam_f64[1] = b64.bias1;
  host_.adam_f64[2] = b64.bias2;
  const AdamBias<float> b32 = adam_bias(static_cast<float>(beta1), static_cast<float>(beta2), step);
  host_.adam_f32[0] = static_cast<float>(lr);
  host_.adam_f32[1] = b32.bias1;
  host_.adam_f32[2] = b32.bias2;
}

void ReplayScalars::upload() {
  host_.loss_finite = 1;
  // From pageable memory the call returns once host_ is staged, so host_ may change next.
  R2G2_CUDA_CHECK(
      cudaMemcpyAsync(device_, &host_, sizeof(ReplayWords), cudaMemcpyHostToDevice, current_stream()));
}

}  // namespace r2g2::kernels::cuda
