#pragma once
// Device code of kernels/cuda/conv.cu: im2col, col2im and 2-D max-pooling. Kept apart
// from the launch code so that it reads on its own and has no host dependencies.
//
// Every kernel walks its index space with a grid-stride loop (any grid size is correct;
// the launcher picks one) and computes 64-bit offsets, since N*C*H*W passes 2^31 easily.
#include <cstdint>

#include "r2g2/kernels/common.h"
#include "r2g2/kernels/cuda/cuda_api.h"

namespace r2g2::kernels::cuda::conv_detail {

// One thread per (channel, output pixel): it writes the kh*kw column entries of that
// pixel. Consecutive threads take consecutive output pixels, so each of those kh*kw
// writes is coalesced across the warp (the column matrix is [C*kh*kw, out_h*out_w]).
template <class T>
__global__ void im2col_kernel(const T* __restrict__ image, T* __restrict__ cols, ConvGeom g) {
  const int64_t plane = int64_t(g.out_h) * g.out_w;
  const int64_t total = int64_t(g.channels) * plane;
  for (int64_t idx = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; idx < total;
       idx += int64_t(gridDim.x) * blockDim.x) {
    const int ox = static_cast<int>(idx % g.out_w);
    const int oy = static_cast<int>((idx / g.out_w) % g.out_h);
    const int64_t c = idx / plane;
    const int y0 = oy * g.stride - g.padding, x0 = ox * g.stride - g.padding;
    const T* src = image + c * g.height * g.width;
    // Row (c*kh + i)*kw + j of the column matrix, column oy*out_w + ox.
    T* dst = cols + c * g.kernel_h * g.kernel_w * plane + int64_t(oy) * g.out_w + ox;
    for (int i = 0; i < g.kernel_h; ++i) {
      const int y = y0 + i;
      const bool row_inside = y >= 0 && y < g.height;
      for (int j = 0; j < g.kernel_w; ++j) {
        const int x = x0 + j;
        *dst = (row_inside && x >= 0 && x < g.width) ? src[int64_t(y) * g.width + x] : T(0);  // zero padding
        dst += plane;
      }
    }
  }
}

// The backward of im2col as a gather: one thread per image pixel sums the column entries
// that copied it. No atomics, so the result is deterministic; the sum runs over kernel
// offsets (i, j) in increasing order, the order of the CPU reference's scatter.
template <class T>
__global__ void col2im_kernel(const T* __restrict__ cols, T* __restrict__ image, ConvGeom g) {
  const int64_t plane = int64_t(g.out_h) * g.out_w;
  const int64_t total = int64_t(g.channels) * g.height * g.width;
  for (int64_t idx = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; idx < total;
       idx += int64_t(gridDim.x) * blockDim.x) {
    const int x = static_cast<int>(idx % g.width);
    const int y = static_cast<int>((idx / g.width) % g.height);
    const int64_t c = idx / (int64_t(g.height) * g.width);
    // Pixel (y, x) sits at kernel row i = yp - oy*stride of output row oy, where yp is its
    // padded coordinate; valid oy have 0 <= i < kernel_h and oy < out_h.
    const int yp = y + g.padding, xp = x + g.padding;
    const int oy_lo = yp < g.kernel_h ? 0 : (yp - g.kernel_h) / g.stride + 1;
    const int oy_hi = min(yp / g.stride, g.out_h - 1);
    const int ox_lo = xp < g.kernel_w ? 0 : (xp - g.kernel_w) / g.stride + 1;
    const int ox_hi = min(xp / g.stride, g.out_w - 1);
    const T* src = cols + c * g.kernel_h * g.kernel_w * plane;
    T sum = T(0);
    for (int oy = oy_hi; oy >= oy_lo; --oy) {  // descending oy = ascending i
      const int i = yp - oy * g.stride;
      for (int ox = ox_hi; ox >= ox_lo; --ox) {
        const int j = xp - ox * g.stride;
        sum += src[(int64_t(i) * g.kernel_w + j) * plane + int64_t(oy) * g.out_w + ox];
      }
    }
    image[idx] += sum;
  }
}

// One thread per output: the max over its window, the first maximum on ties, NaN wins
// (so a NaN input is not silently dropped).
template <class T>
__global__ void max_pool2d_kernel(const T* __restrict__ x, T* __restrict__ y, int32_t* __restrict__ arg,
                                  int64_t planes, int h, int w, int kernel, int stride, int oh, int ow) {
  const int64_t out_plane = int64_t(oh) * ow;
  const int64_t total = planes * out_plane;
  for (int64_t idx = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; idx < total;
       idx += int64_t(gridDim.x) * blockDim.x) {
    const int ox = static_cast<int>(idx % ow);
    const int oy = static_cast<int>((idx / ow) % oh);
    const T* src = x + (idx / out_plane) * h * w;
    const int y0 = oy * stride, x0 = ox * stride;
    const int y1 = min(y0 + kernel, h), x1 = min(x0 + kernel, w);
    int best_at = y0 * w + x0;
    T best = src[best_at];
    for (int yy = y0; yy < y1; ++yy)
      for (int xx = x0; xx < x1; ++xx) {
        const T v = src[yy * w + xx];
        if (v > best || (v != v && best == best)) {
          best = v;
          best_at = yy * w + xx;
        }
      }
    y[idx] = best;
    arg[idx] = best_at;
  }
}

// gx[plane, arg] += gy, deterministically. With overlapping windows two outputs can
// share an argmax, so a thread-per-output scatter would need atomics (whose order, and
// so the rounding, varies run to run). Instead one warp owns a whole plane and walks its
// outputs 32 at a time, in order: lanes that hit the same input are grouped with
// __match_any_sync and the lowest lane adds the group's values in lane order. The sums
// happen in output order, exactly as in the CPU reference's sequential loop.
// Shared memory: blockDim.x values of T (each lane's gy, read by its group leader).
template <class T>
__global__ void max_pool2d_backward_kernel(const T* __restrict__ gy, const int32_t* __restrict__ arg,
                                           T* __restrict__ gx, int64_t planes, int64_t in_plane,
                                           int64_t out_plane) {
  // Declared as bytes: one extern shared array cannot take a different type per instantiation.
  R2G2_DYNAMIC_SHARED(unsigned char, pool_smem);
  T* staged = reinterpret_cast<T*>(pool_smem);
  const int lane = threadIdx.x & 31;
  T* warp_staged = staged + (threadIdx.x & ~31u);
  const int64_t warps_per_block = blockDim.x / 32;
  for (int64_t p = blockIdx.x * warps_per_block + threadIdx.x / 32; p < planes;
       p += int64_t(gridDim.x) * warps_per_block) {  // uniform across the warp
    const T* g = gy + p * out_plane;
    const int32_t* a = arg + p * out_plane;
    T* dst = gx + p * in_plane;
    for (int64_t base = 0; base < out_plane; base += 32) {  // uniform across the warp
      const int64_t o = base + lane;
      const bool valid = o < out_plane;
      const int target = valid ? a[o] : -1;
      warp_staged[lane] = valid ? g[o] : T(0);
      const unsigned group = __match_any_sync(0xffffffffu, target);
      __syncwarp();
      if (valid && lane == __ffs(group) - 1) {
        T acc = dst[target];
        for (unsigned rest = group; rest != 0; rest &= rest - 1) acc += warp_staged[__ffs(rest) - 1];
        dst[target] = acc;
      }
      __syncwarp();  // the leaders have read warp_staged before the next chunk overwrites it
    }
  }
}

}  // namespace r2g2::kernels::cuda::conv_detail
