// Kernel lab: the Philox normal generator (kernels/{cpu,cuda}/random.h) over
// kernels/cases/random.h.
#include <cstdio>
#include <vector>

#include "r2g2/kernels/cases/random.h"
#include "r2g2/kernels/cpu/random.h"
#include "tools/kernel_lab.h"
#if R2G2_WITH_CUDA
#include "r2g2/kernels/cuda/random.h"
#endif

namespace {

using namespace r2g2;
using namespace r2g2::lab;
namespace kcpu = r2g2::kernels::cpu;
namespace cases = r2g2::kernels::cases;

template <class T>
void bench_philox(Lab& lab) {
  if (!lab.selected("philox_normal")) return;
  const auto kernel = R2G2_LAB_KERNEL(lab, philox_normal<T>);
  for (int64_t n : cases::perf_sizes(lab.options().large)) {
    const uint64_t seed = cases::kPerfSeed + uint64_t(n), offset = cases::kPerfOffset;
    std::vector<T> want(static_cast<size_t>(n));
    kcpu::philox_normal<T>(seed, offset, want.data(), n);
    Tensor dy = lab.empty<T>(n);
    auto run = [&] { kernel(seed, offset, dy.data<T>(), n); };
    run();
    // Both devices compute the same bits (core/random.h): zero tolerance, any difference fails.
    const double err = scaled_error(lab.download(dy.data<T>(), n), want, 0.0, 0.0);
    const double ms = lab.time_ms(run);
    char note[64];
    std::snprintf(note, sizeof note, "(%.2f G normals/s)", n / (ms * 1e-3) * 1e-9);
    lab.row("philox_normal", dtype_label<T>(), n_str(n), ms, double(n) * sizeof(T), 0, err, note);
  }
}

void run(Lab& lab) {
  bench_philox<float>(lab);
  bench_philox<double>(lab);
}

R2G2_BENCH("random", "philox_normal", "gather, random numbers, optimizer", 50, false, run);

}  // namespace
