#pragma once
// CUDA implementation of kernels/cpu/gather.h: the same signatures, device pointers,
// launched on r2g2's current stream (kernels/cuda/stream.h). Errors throw r2g2::Error.
// gather_rows checks its indices on the device and reads the verdict back, so it
// synchronises once per call and throws the CPU's error for a bad index. scatter_add_rows
// is deterministic (a stable sort groups repeated indices; see gather.cu).
// ---- The CPU reference's notes follow. ----
// Row gather (mini-batches) and its backward.
#include <cstdint>

namespace r2g2::kernels::cuda {

// y[i, :] = x[index[i], :]; an index outside [0, rows) throws naming it.
template <class T>
void gather_rows(const T* x, const int32_t* index, T* y, int64_t n_index, int64_t rows, int64_t row_len);
// gx (zeroed by the caller) [index[i], :] += gy[i, :], in order of i (deterministic).
template <class T>
void scatter_add_rows(const T* gy, const int32_t* index, T* gx, int64_t n_index, int64_t row_len);

}  // namespace r2g2::kernels::cuda
