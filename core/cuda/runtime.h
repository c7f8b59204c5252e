#pragma once
// Internal to core/cuda: the device probe behind device_count() and the per-device state.
#include <cuda_runtime.h>

#include <string>

namespace r2g2::cuda_backend::detail {

// Device count and, when it is 0, why. Probed once; never throws.
struct Probe {
  int count = 0;
  std::string reason;
};
const Probe& probe();

// Asks the runtime whether this build's kernels can run on the current device (an sm_90
// build cannot run on an older GPU); cudaSuccess when they can. Defined in probe.cu.
cudaError_t probe_kernel_image();

// The current device, checked.
int current_device();

}  // namespace r2g2::cuda_backend::detail
