#pragma once
// Deterministic reductions across a group of GROUP threads (a warp, or a 256-thread
// block). The combining order is fixed by the lane numbers alone, so a result never
// depends on scheduling: two runs give the same bits.
#include "r2g2/kernels/cuda/cuda_api.h"

namespace r2g2::kernels::cuda {

constexpr int kWarp = 32;

// Butterfly over a warp: after it every lane holds the same value (each step combines a
// pair with a commutative op, so both partners compute identical bits).
template <class T, class Op>
__device__ __forceinline__ T warp_all_reduce(T v, Op op) {
#pragma unroll
  for (int offset = kWarp / 2; offset > 0; offset /= 2) v = op(v, __shfl_xor_sync(0xffffffffu, v, offset));
  return v;
}

// GROUP is 32 (one warp per group, several groups per block) or the block size (one
// group per block, which must then be a multiple of 32 up to 1024). `smem` holds
// GROUP / 32 values; it is only touched when GROUP > 32. Every thread of the group must
// call this (the block-wide form has __syncthreads), and all get the result.
template <int GROUP, class T, class Op>
__device__ __forceinline__ T group_all_reduce(T v, Op op, T* smem) {
  static_assert(GROUP % kWarp == 0 && GROUP <= 1024, "GROUP must be a multiple of 32, at most 1024");
  v = warp_all_reduce(v, op);
  if constexpr (GROUP > kWarp) {
    const int warp = threadIdx.x / kWarp, lane = threadIdx.x % kWarp;
    if (lane == 0) smem[warp] = v;
    __syncthreads();
    T total = smem[0];
#pragma unroll
    for (int w = 1; w < GROUP / kWarp; ++w) total = op(total, smem[w]);
    __syncthreads();  // smem may be reused by the caller's next reduction
    v = total;
  }
  return v;
}

struct SumOp {
  template <class T>
  __device__ __forceinline__ T operator()(T a, T b) const {
    return a + b;
  }
};
// fmax ignores a NaN operand, as std::max(m, x) in the CPU reference does.
struct MaxOp {
  __device__ __forceinline__ double operator()(double a, double b) const { return fmax(a, b); }
};

}  // namespace r2g2::kernels::cuda
