#pragma once
// Values that change from one training step to the next, read by captured kernels from
// device memory instead of being frozen into a CUDA graph as kernel arguments.
//
// A captured launch keeps the arguments it was launched with. Two of r2g2's kernels take
// arguments that differ between steps: the Philox offset of every normal draw (each
// Generator advances by the same amount per step) and Adam's learning rate and bias
// corrections (1 - beta^t). While a capture is active (capturing_scalars() is set), their
// launchers (random.cu, optim.cu) launch variants that read these through a pointer into
// one ReplayScalars block; before each replay its owner rewrites the block with one copy.
// The launcher decides, not the call site, so Tensor::randn and Adam::step are unchanged.
#include <cstdint>
#include <vector>

namespace r2g2::kernels::cuda {

// The device-resident block. Plain words, so that one copy refreshes all of it.
struct ReplayWords {
  static constexpr int kMaxPhiloxStreams = 32;
  // Added on the device to the offsets captured from stream philox_seeds()[i].
  uint64_t philox_shift[kMaxPhiloxStreams];
  // Adam's lr, 1 - beta1^t, 1 - beta2^t for the step a replay applies, per dtype.
  double adam_f64[3];
  float adam_f32[3];
  // 1 unless the captured finite check (mark_loss_finite) found a NaN or infinity: the
  // captured Adam update then leaves parameters and moments alone (AMP's found_inf).
  uint32_t loss_finite;
};

class ReplayScalars {
 public:
  // Allocates the device block (before a capture: a capture cannot allocate new memory).
  ReplayScalars();
  ~ReplayScalars();
  ReplayScalars(const ReplayScalars&) = delete;
  ReplayScalars& operator=(const ReplayScalars&) = delete;

  // ---- for launchers, during the capture ----
  // The device word holding the shift of stream `seed` (0 until set_philox_shift).
  const uint64_t* philox_shift(uint64_t seed);
  // The device {lr, bias1, bias2} of the captured Adam update in T. A capture holds one
  // Adam step: a second one with another lr or step count is refused (r2g2::Error),
  // since both would read the same words.
  const float* adam_values(float lr, int64_t step);
  const double* adam_values(double lr, int64_t step);
  uint32_t* loss_finite() { return &device_->loss_finite; }

  // ---- for the owner, between replays ----
  const std::vector<uint64_t>& philox_seeds() const { return seeds_; }
  void set_philox_shift(uint64_t seed, uint64_t shift);
  // Adam's values for step `step` with learning rate `lr`, computed by the same host code
  // as an eager step's (adam_bias), in both dtypes.
  void set_adam(double lr, double beta1, double beta2, int64_t step);
  bool captured_adam() const { return adam_step_ != 0; }
  // Queues the host copy of the block to the device on r2g2's stream (loss_finite reset to 1).
  void upload();

 private:
  ReplayWords host_{};
  ReplayWords* device_ = nullptr;
  std::vector<uint64_t> seeds_;
  double adam_lr_ = 0;
  int64_t adam_step_ = 0;  // the captured step's count; 0: no Adam update captured
};

// kernels/cuda/softmax.cu's cross_entropy, bit for bit, with the result left on the device
// (kernels/cuda/graph_loss.cu): softmax's cross_entropy reads the loss back to the host
// (and checks the labels there), which a capture cannot hold. loss[0] = the mean NLL of
// the rows, or NaN when a label is outside [0, cols); bad_row[0] = the first such row, or
// -1. log_probs receives the log-softmax, as from cross_entropy. rows must be < 2^31.
template <class T>
void cross_entropy_on_device(const T* logits, const int32_t* labels, T* log_probs, T* loss, int32_t* bad_row,
                             int64_t rows, int64_t cols);

// The scalars of the capture in progress, or null when nothing is captured.
ReplayScalars* capturing_scalars();
void set_capturing_scalars(ReplayScalars* scalars);

}  // namespace r2g2::kernels::cuda
