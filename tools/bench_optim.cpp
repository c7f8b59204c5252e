// Kernel lab: the fused Adam step (kernels/{cpu,cuda}/optim.h) over kernels/cases/optim.h.
#include <algorithm>
#include <vector>

#include "r2g2/kernels/cases/optim.h"
#include "r2g2/kernels/cpu/optim.h"
#include "tools/kernel_lab.h"
#if R2G2_WITH_CUDA
#include "r2g2/kernels/cuda/optim.h"
#endif

namespace {

using namespace r2g2;
using namespace r2g2::lab;
namespace kcpu = r2g2::kernels::cpu;
namespace cases = r2g2::kernels::cases;

template <class T>
void bench_adam(Lab& lab) {
  if (!lab.selected("adam_step")) return;
  const auto kernel = R2G2_LAB_KERNEL(lab, adam_step<T>);
  const cases::AdamCase h;
  const T lr = T(h.lr), b1 = T(h.beta1), b2 = T(h.beta2), eps = T(h.eps), wd = T(cases::kPerfWeightDecay);
  const int64_t step = cases::kPerfStep;
  for (int64_t n : cases::perf_sizes(lab.options().large)) {
    auto p = host_uniform<T>(n, 17 + n), g = host_uniform<T>(n, 18 + n),
         m = host_uniform<T>(n, 19 + n, -0.1, 0.1), v = host_uniform<T>(n, 20 + n, 0.0, 0.01);
    Tensor dp = lab.upload(p), dg = lab.upload(g), dm = lab.upload(m), dv = lab.upload(v);
    kcpu::adam_step<T>(p.data(), g.data(), m.data(), v.data(), n, lr, b1, b2, eps, wd, step);
    auto run = [&] {
      kernel(dp.data<T>(), dg.data<T>(), dm.data<T>(), dv.data<T>(), n, lr, b1, b2, eps, wd, step);
    };
    run();
    const double err = std::max({scaled_error(lab.download(dp.data<T>(), n), p, default_rtol<T>(), 1e-7),
                                 scaled_error(lab.download(dm.data<T>(), n), m, default_rtol<T>(), 1e-7),
                                 scaled_error(lab.download(dv.data<T>(), n), v, default_rtol<T>(), 1e-9)});
    // p, m, v read and written, g read.
    lab.row("adam_step", dtype_label<T>(), n_str(n), lab.time_ms(run), 7.0 * n * sizeof(T), 0, err);
  }
}

void run(Lab& lab) { bench_adam<float>(lab); }

R2G2_BENCH("optim", "adam_step", "gather, random numbers, optimizer", 60, false, run);

}  // namespace
