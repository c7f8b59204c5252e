// The CPU's m-space R2-G2 conv backward (r2g2_conv_backward_m, kernels/cpu/r2g2_conv.h):
// beta from the direct or CG solve turned into the gradients of mu, sigma and the columns
// in one pass, without forming eps* per image.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "r2g2/kernels/cpu/r2g2_conv.h"
#include "r2g2/kernels/runtime/thread_pool.h"

namespace r2g2::kernels::cpu {

namespace {

// The backward walks D in tiles of kTile columns, one vector of kTile lanes (an AVX-512
// register of float): a tile's sigma², mu and the dmu and dsigma sums of all O channels
// (4 O kTile values, 128 KB at O = 512) stay in L2 while every image and channel passes
// over it, so the only traffic is reading cols, grad and beta once per tile, and the
// per-element work is the 3P + 3 multiply-adds themselves (e = X beta, xg = X g,
// dcols += w* g) on whole vectors. Written with the compiler's vector types because g++
// turns a plain 16-lane loop into unrolled scalar code instead of vectorising it.
constexpr int kTile = 16;

template <class T>
struct BackwardArgs {
  const T *cols, *grad, *beta, *mu, *sigma;
  T *dmu, *dsigma, *dcols;
  int64_t images, out_channels, patch, positions;
};

// A tile's per-row state: rows of W lanes in plain arrays, moved in and out of vectors
// with memcpy (vectors pass by reference only: their by-value ABI differs between ISAs).
template <class T>
struct TileRows {
  static constexpr int W = kTile;
  std::vector<T> data;
  explicit TileRows(int64_t rows) : data(static_cast<size_t>(rows * W)) {}
  template <class Vec>
  void get(int64_t i, Vec& v) const {
    std::memcpy(&v, data.data() + i * W, sizeof v);
  }
  template <class Vec>
  void set(int64_t i, const Vec& v) {
    std::memcpy(data.data() + i * W, &v, sizeof v);
  }
  T& at(int64_t i, int64_t w) { return data[i * W + w]; }
};

template <class T>
struct TileState {
  TileRows<T> s2, mu, dmu, dsig, xt, dxt;  // [O] x4, then [P] x2: x of the image, its dcols sums
  TileState(int64_t O, int64_t P) : s2(O), mu(O), dmu(O), dsig(O), xt(P), dxt(P) {}
};

// Every channel of image n on one tile. With kP = P known at compile time, the P rows of x
// and of the dcols sums stay in registers across channels; kP = 0 takes any P from memory.
template <class T, class Vec, int kP>
[[gnu::always_inline]] inline void tile_channels(const BackwardArgs<T>& a, int64_t n, TileState<T>& t) {
  const int64_t O = a.out_channels, P = kP > 0 ? kP : a.positions;
  constexpr int R = kP > 0 ? kP : 1;
  Vec xr[R], sums[R];
  if constexpr (kP > 0)
    for (int q = 0; q < kP; ++q) {
      t.xt.get(q, xr[q]);
      t.dxt.get(q, sums[q]);
    }
  for (int64_t c = 0; c < O; ++c) {
    const T* gc = a.grad + (n * O + c) * P;
    const T* bc = a.beta + (n * O + c) * P;
    Vec e = {}, xg = {}, x, acc, ws, s2c;
    for (int64_t q = 0; q < P; ++q) {
      if constexpr (kP > 0)
        x = xr[q];
      else
        t.xt.get(q, x);
      e += x * bc[q];
      xg += x * gc[q];
    }
    t.dsig.get(c, acc);
    acc += xg * e;
    t.dsig.set(c, acc);
    t.dmu.get(c, acc);
    acc += xg;
    t.dmu.set(c, acc);
    if (a.dcols) {
      t.mu.get(c, ws);
      t.s2.get(c, s2c);
      ws += s2c * e;
      for (int64_t p = 0; p < P; ++p) {
        if constexpr (kP > 0) {
          sums[p] += ws * gc[p];
        } else {
          t.dxt.get(p, acc);
          acc += ws * gc[p];
          t.dxt.set(p, acc);
        }
      }
    }
  }
  if constexpr (kP > 0)
    for (int q = 0; q < kP; ++q) t.dxt.set(q, sums[q]);
}

// Two images n and n + 1 in one pass over the channels, kP positions each (kP small enough
// that both images' x rows and dcols sums stay in registers): each channel's state (sigma²,
// mu and the dmu and dsigma sums, from L2) is then read and written once per two images
// instead of once per image (at P = 4, O = 512, batch 16: a tenth off the kernel's time;
// four images at a time spill registers and gain nothing more). The sums take the images in
// the same order as two single passes, so the result is the same.
template <class T, class Vec, int kP>
[[gnu::always_inline]] inline void tile_channels_pair(const BackwardArgs<T>& a, int64_t n, TileState<T>& t) {
  const int64_t O = a.out_channels;
  const bool want_dcols = a.dcols != nullptr;
  Vec xr[2][kP], sums[2][kP];
  for (int i = 0; i < 2; ++i)
    for (int q = 0; q < kP; ++q) {
      t.xt.get(i * kP + q, xr[i][q]);
      t.dxt.get(i * kP + q, sums[i][q]);
    }
  for (int64_t c = 0; c < O; ++c) {
    const T* gc[2] = {a.grad + (n * O + c) * kP, a.grad + ((n + 1) * O + c) * kP};
    const T* bc[2] = {a.beta + (n * O + c) * kP, a.beta + ((n + 1) * O + c) * kP};
    Vec e[2] = {}, xg[2] = {}, acc, ws, s2c, muc;
    for (int i = 0; i < 2; ++i)
      for (int q = 0; q < kP; ++q) {
        e[i] += xr[i][q] * bc[i][q];
        xg[i] += xr[i][q] * gc[i][q];
      }
    t.dsig.get(c, acc);
    acc += xg[0] * e[0];
    acc += xg[1] * e[1];
    t.dsig.set(c, acc);
    t.dmu.get(c, acc);
    acc += xg[0];
    acc += xg[1];
    t.dmu.set(c, acc);
    if (want_dcols) {
      t.mu.get(c, muc);
      t.s2.get(c, s2c);
      for (int i = 0; i < 2; ++i) {
        ws = muc;
        ws += s2c * e[i];
        for (int p = 0; p < kP; ++p) sums[i][p] += ws * gc[i][p];
      }
    }
  }
  for (int i = 0; i < 2; ++i)
    for (int q = 0; q < kP; ++q) t.dxt.set(i * kP + q, sums[i][q]);
}

template <class T>
[[gnu::always_inline]] inline void backward_tiles_body(const BackwardArgs<T>& a, int64_t tile_lo,
                                                       int64_t tile_hi) {
  typedef T Vec __attribute__((vector_size(kTile * sizeof(T))));
  constexpr int W = kTile;
  const int64_t O = a.out_channels, D = a.patch, P = a.positions;
  // Tile copies, zero past D, so that every lane is valid.
  TileState<T> t(O, 2 * P);
  for (int64_t tile = tile_lo; tile < tile_hi; ++tile) {
    const int64_t d0 = tile * W, width = std::min<int64_t>(W, D - d0);
    const Vec zero = {};
    for (int64_t c = 0; c < O; ++c) {
      Vec s = {}, m = {};
      for (int64_t w = 0; w < width; ++w) {
        s[w] = a.sigma[c * D + d0 + w];
        if (a.mu) m[w] = a.mu[c * D + d0 + w];
      }
      s = s * s;
      t.s2.set(c, s);
      t.mu.set(c, m);
      t.dmu.set(c, zero);
      t.dsig.set(c, zero);
    }
    for (int64_t n = 0; n < a.images;) {
      // The upper layers of a CNN on 32 x 32 inputs: 4 x 4 and 2 x 2 maps; at 2 x 2 two
      // images at a time.
      const int64_t pass = P == 4 && n + 1 < a.images ? 2 : 1;
      for (int64_t i = 0; i < pass; ++i) {
        const T* X = a.cols + (n + i) * D * P;
        for (int64_t q = 0; q < P; ++q) {
          Vec v = {};
          for (int64_t w = 0; w < width; ++w) v[w] = X[(d0 + w) * P + q];
          t.xt.set(i * P + q, v);
          t.dxt.set(i * P + q, zero);
        }
      }
      if (pass == 2)
        tile_channels_pair<T, Vec, 4>(a, n, t);
      else if (P == 16)
        tile_channels<T, Vec, 16>(a, n, t);
      else if (P == 4)
        tile_channels<T, Vec, 4>(a, n, t);
      else
        tile_channels<T, Vec, 0>(a, n, t);
      if (a.dcols)
        for (int64_t i = 0; i < pass; ++i) {
          T* out = a.dcols + (n + i) * D * P;
          for (int64_t w = 0; w < width; ++w)
            for (int64_t p = 0; p < P; ++p) out[(d0 + w) * P + p] = t.dxt.at(i * P + p, w);
        }
      n += pass;
    }
    for (int64_t c = 0; c < O; ++c)
      for (int64_t w = 0; w < width; ++w) {
        if (a.dmu) a.dmu[c * D + d0 + w] = t.dmu.at(c, w);
        if (a.dsigma) a.dsigma[c * D + d0 + w] = a.sigma[c * D + d0 + w] * t.dsig.at(c, w);
      }
  }
}

// One copy per ISA, the widest the CPU has picked at run time (the library is built
// without -march flags; see kernels/cpu/gemm.cpp).
#define R2G2_BACKWARD_TILES(name, target_attr, T)                                     \
  target_attr void name(const BackwardArgs<T>& a, int64_t tile_lo, int64_t tile_hi) { \
    backward_tiles_body<T>(a, tile_lo, tile_hi);                                      \
  }
R2G2_BACKWARD_TILES(backward_tiles_avx512, __attribute__((target("avx512f,avx2,fma"))), float)
R2G2_BACKWARD_TILES(backward_tiles_avx512, __attribute__((target("avx512f,avx2,fma"))), double)
R2G2_BACKWARD_TILES(backward_tiles_avx2, __attribute__((target("avx2,fma"))), float)
R2G2_BACKWARD_TILES(backward_tiles_avx2, __attribute__((target("avx2,fma"))), double)
R2G2_BACKWARD_TILES(backward_tiles_base, , float)
R2G2_BACKWARD_TILES(backward_tiles_base, , double)
#undef R2G2_BACKWARD_TILES

template <class T>
using BackwardTiles = void (*)(const BackwardArgs<T>&, int64_t, int64_t);

template <class T>
BackwardTiles<T> pick_backward_tiles() {
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f")) return backward_tiles_avx512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return backward_tiles_avx2;
  return backward_tiles_base;
}

}  // namespace

template <class T>
void r2g2_conv_backward_m(const T* cols, const T* grad, const T* beta, const T* mu, const T* sigma, T* dmu,
                          T* dsigma, T* dcols, const ConvGeom& g) {
  const int64_t N = g.images, O = g.out_channels, D = g.patch_size(), P = g.positions();
  if (O <= 0 || D <= 0) return;
  if (N <= 0 || P <= 0) {  // no product to sum: the gradients of mu and sigma are zero
    if (dmu) std::fill(dmu, dmu + O * D, T(0));
    if (dsigma) std::fill(dsigma, dsigma + O * D, T(0));
    return;
  }
  static const BackwardTiles<T> tiles_fn = pick_backward_tiles<T>();
  const BackwardArgs<T> args{cols, grad, beta, mu, sigma, dmu, dsigma, dcols, N, O, D, P};
  const int64_t tiles = (D + kTile - 1) / kTile;
  // A tile holds N O (3P + 3) multiply-adds; a few of them make a chunk worth a thread.
  const int64_t grain =
      std::max<int64_t>(1, (int64_t{1} << 18) / std::max<int64_t>(N * O * (3 * P + 3) * kTile, 1));
  runtime::parallel_for(0, tiles, grain, [&](int64_t lo, int64_t hi) { tiles_fn(args, lo, hi); });
}

template void r2g2_conv_backward_m<float>(const float*, const float*, const float*, const float*,
                                          const float*, float*, float*, float*, const ConvGeom&);
template void r2g2_conv_backward_m<double>(const double*, const double*, const double*, const double*,
                                           const double*, double*, double*, double*, const ConvGeom&);

}  // namespace r2g2::kernels::cpu
