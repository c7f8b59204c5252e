#pragma once
// The instruction-set copies of the CPU's transcendental per-element loops (softplus,
// sigmoid, log softplus, the Gaussian KL and its gradient; kernels/cpu/gaussian.cpp and
// kernels/cpu/elementwise.cpp): one loop body, compiled once per instruction set and picked
// at run time, as kernels/cpu/random.cpp does for the normal generator. The compiler
// vectorises the body because its math (kernels/fast_math.h) is free of branches and
// library calls; every copy gives the same bits, since every step is one IEEE operation
// rounded to nearest, never fused (AVX2 brings no fused multiply-add: that is the separate
// FMA extension). The choice is speed only; the tests run every copy against the others.
#include <cstdint>
#include <vector>

namespace r2g2::kernels::cpu {

enum class SimdPath {
  scalar,    // one element at a time (GCC: vectorisation off; clang ignores that request)
  baseline,  // the build's own vector width: SSE2 on x86-64, 4 floats
  avx2,      // 8 floats, on x86-64 CPUs with AVX2
};

const char* simd_path_name(SimdPath path);
bool simd_path_supported(SimdPath path);
std::vector<SimdPath> supported_simd_paths();  // scalar first

// The copy the kernels take: the environment's R2G2_SIMD (scalar, baseline or avx2; an
// unknown or unsupported name is an error that names it) or else the widest supported,
// unless a SimdPathOverride is alive.
SimdPath active_simd_path();

// Makes the kernels take `path` while it lives (tests); throws r2g2::Error if the CPU lacks it.
class SimdPathOverride {
 public:
  explicit SimdPathOverride(SimdPath path);
  ~SimdPathOverride();
  SimdPathOverride(const SimdPathOverride&) = delete;
  SimdPathOverride& operator=(const SimdPathOverride&) = delete;

 private:
  int previous_;
};

namespace simd_detail {

#if defined(__GNUC__) && !defined(__clang__)
#define R2G2_SIMD_SCALAR_COPY __attribute__((optimize("no-tree-vectorize")))
#else
#define R2G2_SIMD_SCALAR_COPY
#endif

// `loop(lo, hi)` must be a lambda marked R2G2_SIMD_LOOP (always inlined), so that each copy
// below compiles its body for its own instruction set.
#if defined(__GNUC__) || defined(__clang__)
#define R2G2_SIMD_LOOP __attribute__((always_inline))
#else
#define R2G2_SIMD_LOOP
#endif

template <class Loop>
R2G2_SIMD_SCALAR_COPY void run_scalar(const Loop& loop, int64_t lo, int64_t hi) {
  loop(lo, hi);
}

template <class Loop>
void run_baseline(const Loop& loop, int64_t lo, int64_t hi) {
  loop(lo, hi);
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define R2G2_SIMD_HAS_AVX2_COPY 1
template <class Loop>
__attribute__((target("avx2"))) void run_avx2(const Loop& loop, int64_t lo, int64_t hi) {
  loop(lo, hi);
}
#endif

}  // namespace simd_detail

// Runs loop(lo, hi) in the copy for `path` (one that simd_path_supported accepts).
template <class Loop>
void run_simd_loop(SimdPath path, const Loop& loop, int64_t lo, int64_t hi) {
  if (path == SimdPath::scalar) return simd_detail::run_scalar(loop, lo, hi);
#ifdef R2G2_SIMD_HAS_AVX2_COPY
  if (path == SimdPath::avx2) return simd_detail::run_avx2(loop, lo, hi);
#endif
  simd_detail::run_baseline(loop, lo, hi);
}

}  // namespace r2g2::kernels::cpu
