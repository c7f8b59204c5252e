#pragma once
// R2G2_HOST_DEVICE marks the scalar math that the CPU kernels and the CUDA kernels share
// (kernels/*_math.h), so that a formula is written once and both devices round alike:
// __host__ __device__ under nvcc, nothing for a host compiler (the CPU build, and the CUDA
// emulator, where device code is host code).
#ifndef R2G2_HOST_DEVICE
#ifdef __CUDACC__
#define R2G2_HOST_DEVICE __host__ __device__
#else
#define R2G2_HOST_DEVICE
#endif
#endif
