#pragma once
// The one switch for TensorFloat-32 in float32 matrix products and convolutions.
//
// TF32 rounds the inputs of a float32 product to 10 mantissa bits on the tensor cores:
// several times faster on sm_80+ but no longer float32-accurate (relative error ~1e-3),
// which breaks comparisons with the CPU reference and finite-difference checks. So it
// is OFF by default; it is turned on by set_allow_tf32(true) or by running with the
// environment variable R2G2_ALLOW_TF32=1 (read once, on first use). float64 is never
// affected. Plain host C++: the CLI and tests include this header without nvcc.

namespace r2g2::kernels::cuda {

// Current setting: the last set_allow_tf32() value, else R2G2_ALLOW_TF32 == "1".
bool allow_tf32();
void set_allow_tf32(bool on);

}  // namespace r2g2::kernels::cuda
