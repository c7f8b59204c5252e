#pragma once
// The CUDA runtime for r2g2's device code. nvcc gets <cuda_runtime.h>; the host compiler
// gets the same names from the emulator (tests/emulator/cuda_emulator.h), which a test
// includes before a kernels/cuda/*.cu file, so that every kernel also runs on a CPU.
#ifndef R2G2_CUDA_EMULATION
#include <cuda_runtime.h>

// Dynamic shared memory, sized by the launch.
#define R2G2_DYNAMIC_SHARED(type, name) extern __shared__ __align__(16) type name[]
#endif
