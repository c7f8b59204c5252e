#pragma once
// CUDA optimizer updates (declared in kernels/optim.inc): device pointers, launched on
// r2g2's current stream (kernels/cuda/stream.h); errors throw r2g2::Error.
#include <cstdint>

#include "r2g2/kernels/optim_math.h"

namespace r2g2::kernels::cuda {
#include "r2g2/kernels/optim.inc"

// ---- CUDA only: the finite check of a captured step (kernels/cuda/graph.h). ----
// Sets the capture's loss_finite word to whether all n values of `loss` are finite, when
// the graph runs; the captured Adam update after it then skips a non-finite step. Only
// while capturing (r2g2::Error otherwise).
template <class T>
void mark_loss_finite(const T* loss, int64_t n);
}  // namespace r2g2::kernels::cuda
