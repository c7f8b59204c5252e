#pragma once
// Internal to kernels/cuda: the cuDNN side of conv2d_*_cudnn (kernels/cuda/conv.h), and
// the grow-only device scratch buffers both the cuDNN and the im2col paths use.
// Plain C++ (no cuDNN header), so conv.cu can include it in every build.
#include <cstddef>
#include <cstdint>

#include "r2g2/kernels/common.h"

namespace r2g2::kernels::cuda {

// A device buffer of at least `bytes`, kept and reused across calls (one per slot).
// Growing frees the old buffer in stream order, so work already queued on
// current_stream() that still reads it is unaffected; callers must not keep it across
// a later call for the same slot.
enum class ScratchSlot { cudnn_workspace, im2col_columns, count };
void* conv_scratch(ScratchSlot slot, size_t bytes);

namespace cudnn {

// Each returns false, having done nothing, when cuDNN offers no usable algorithm for
// the case (the caller then takes the im2col path); any other failure throws.
// Only defined when r2g2 is built with cuDNN (R2G2_WITH_CUDNN).
template <class T>
bool conv_forward(const T* x, const T* w, T* y, int64_t batch, int out_channels, const ConvGeom& g);
template <class T>
bool conv_backward_data(const T* w, const T* gy, T* gx, int64_t batch, int out_channels, const ConvGeom& g);
template <class T>
bool conv_backward_filter(const T* x, const T* gy, T* gw, int64_t batch, int out_channels, const ConvGeom& g);

}  // namespace cudnn
}  // namespace r2g2::kernels::cuda
