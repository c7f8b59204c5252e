// Launchers of the batched R2-G2 conv solves (see kernels/r2g2_conv.inc; the CPU reference in
// kernels/cpu/r2g2_conv.cpp is the specification, the device code in
// r2g2_conv_kernels.cuh follows it step for step).
#include "r2g2/kernels/cuda/r2g2_conv.h"

#include <algorithm>
#include <cstdint>
#include <memory>

#include "r2g2/kernels/cuda/check.h"
#include "r2g2/kernels/cuda/r2g2_conv_kernels.cuh"
#include "r2g2/kernels/cuda/scratch.cuh"
#include "r2g2/kernels/runtime/error.h"

namespace r2g2::kernels::cuda {

using namespace r2g2_conv_detail;

namespace {

// The state of a block that does not fit on chip lives in a slot of global scratch
// memory, one per block; the grid then shrinks so that the slots take at most this much
// (or one slot, if that alone is larger) and each block solves several systems in turn.
constexpr size_t kSlotBudgetBytes = size_t{256} << 20;
// Blocks of kSolveThreads that one multiprocessor can hold (2048 threads): more slots than
// SMs x this would sit idle.
constexpr int64_t kBlocksPerSM = 2048 / kSolveThreads;

int device_attribute(cudaDeviceAttr attr) {
  int device = 0, value = 0;
  R2G2_CUDA_CHECK(cudaGetDevice(&device));
  R2G2_CUDA_CHECK(cudaDeviceGetAttribute(&value, attr, device));
  return value;
}

struct LaunchPlan {
  SolveLayout layout;
  size_t shared_bytes = 0;
  int64_t blocks = 0;
};

// Shared memory takes the vectors first, then the residual basis, then the matrix tile;
// what does not fit goes to global slots. Re-orthogonalisation is never dropped: without
// it rounding breaks the finite termination that the rank cap relies on (see the CPU
// reference), and CG capped there stops short on ill-conditioned systems.
LaunchPlan plan(int64_t systems, int n, int work, int cap, int64_t tile_rows, int64_t tile_cols,
                size_t tile_elem) {
  LaunchPlan P;
  SolveLayout& L = P.layout;
  L.n = n;
  L.work = work;
  L.cap = cap;
  L.tile_elem = tile_elem;
  L.ld = static_cast<int>(tile_cols | 1);
  const size_t limit = static_cast<size_t>(device_attribute(cudaDevAttrMaxSharedMemoryPerBlockOptin));
  const auto fits = [&](size_t extra_bytes) {
    return L.shared_doubles() * sizeof(double) + extra_bytes <= limit;
  };
  if (!fits(0)) L.basis_on_chip = false;
  if (!fits(0)) L.vectors_on_chip = false;
  const size_t tile_bytes = static_cast<size_t>(tile_rows) * static_cast<size_t>(L.ld) * tile_elem;
  L.tile = fits(tile_bytes);
  P.shared_bytes = L.shared_doubles() * sizeof(double) + (L.tile ? tile_bytes : 0);
  const size_t slot_bytes = L.slot_doubles() * sizeof(double);
  if (slot_bytes == 0) {
    P.blocks = systems;
  } else {
    const int64_t resident = int64_t{device_attribute(cudaDevAttrMultiProcessorCount)} * kBlocksPerSM;
    const int64_t affordable = static_cast<int64_t>(std::max<size_t>(1, kSlotBudgetBytes / slot_bytes));
    P.blocks = std::max<int64_t>(1, std::min({systems, resident, affordable}));
  }
  return P;
}

template <class K>
void allow_shared(K kernel, size_t bytes) {
  R2G2_CUDA_CHECK(
      cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(bytes)));
}

// The global slots of a plan (none when everything is on chip).
class Slots {
 public:
  explicit Slots(const LaunchPlan& P) {
    const size_t slot = P.layout.slot_doubles();
    if (slot) memory_ = std::make_unique<DeviceScratch<double>>(P.blocks * static_cast<int64_t>(slot));
  }
  double* get() const { return memory_ ? memory_->get() : nullptr; }

 private:
  std::unique_ptr<DeviceScratch<double>> memory_;
};

void check_geom(const ConvGeom& g, const char* op) {
  R2G2_CHECK(
      g.patch_size() <= INT32_MAX && g.positions() <= INT32_MAX && g.images * g.out_channels <= INT32_MAX, op,
      ": sizes out of range (N ", g.images, ", O ", g.out_channels, ", D ", g.patch_size(), ", P ",
      g.positions(), ")");
}

}  // namespace

template <class T>
void r2g2_conv_solve_m(const T* cols, const T* sigma, const T* eps, T* beta, const R2G2SolveStats& st,
                       const ConvGeom& g, const R2G2Options& s) {
  const int64_t systems = g.images * g.out_channels, D = g.patch_size(), P = g.positions();
  if (systems == 0 || D == 0 || P == 0) return;
  check_geom(g, "r2g2_conv_solve_m");
  const int cap = iteration_cap(s, static_cast<int>(std::min(D, P)));
  const LaunchPlan launch = plan(systems, static_cast<int>(P), static_cast<int>(D), cap, D, P, sizeof(T));
  const Slots slots(launch);
  allow_shared(solve_m_kernel<T>, launch.shared_bytes);
  R2G2_LAUNCH_SMEM(solve_m_kernel<T>, static_cast<unsigned>(launch.blocks), kSolveThreads,
                   launch.shared_bytes, cols, sigma, eps, beta, st, g, s, launch.layout, slots.get());
}

template <class T>
void r2g2_conv_solve_d(const T* cols, const T* sigma, const T* eps, T* eps_star, double* gram,
                       const R2G2SolveStats& st, const ConvGeom& g, const R2G2Options& s) {
  const int64_t systems = g.images * g.out_channels, D = g.patch_size(), P = g.positions();
  if (systems == 0 || D == 0 || P == 0) return;
  check_geom(g, "r2g2_conv_solve_d");
  R2G2_LAUNCH(gram_kernel<T>, blocks_for(g.images * D * D), kThreads, cols, gram, g.images, D, P);
  const int cap = static_cast<int>(std::min(D, P));
  const LaunchPlan launch =
      plan(systems, static_cast<int>(D), static_cast<int>(D), cap, D, D, sizeof(double));
  const Slots slots(launch);
  allow_shared(solve_d_kernel<T>, launch.shared_bytes);
  R2G2_LAUNCH_SMEM(solve_d_kernel<T>, static_cast<unsigned>(launch.blocks), kSolveThreads,
                   launch.shared_bytes, gram, sigma, eps, eps_star, st, g, s, launch.layout, slots.get());
}

#define R2G2_INSTANTIATE(T)                                                                            \
  template void r2g2_conv_solve_m<T>(const T*, const T*, const T*, T*, const R2G2SolveStats&,          \
                                     const ConvGeom&, const R2G2Options&);                      \
  template void r2g2_conv_solve_d<T>(const T*, const T*, const T*, T*, double*, const R2G2SolveStats&, \
                                     const ConvGeom&, const R2G2Options&);
R2G2_INSTANTIATE(float)
R2G2_INSTANTIATE(double)
#undef R2G2_INSTANTIATE

}  // namespace r2g2::kernels::cuda
