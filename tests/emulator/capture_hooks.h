#pragma once
// Internal to the emulator: how cuda_emulator.cpp's runtime calls consult the capture in
// progress (cuda_graph.cpp).
#include <functional>

#include "emulator/cuda_emulator.h"

namespace r2g2_emu::capture_hooks {

// A call that a capture in global mode prohibits (a synchronisation, a synchronous copy,
// cudaMalloc, cudaFree): when a stream captures, invalidates the capture and returns
// `error`; otherwise cudaSuccess, and the call goes ahead.
cudaError_t refuse(cudaError_t error);

// An async copy or memset on `stream`. When `stream` captures, `op` becomes a graph node
// and *recorded is set. Work on another stream while a blocking stream captures is an
// implicit synchronisation with it: the capture is invalidated and that error returned.
cudaError_t enqueue(cudaStream_t stream, std::function<void()> op, bool* recorded);

}  // namespace r2g2_emu::capture_hooks
