// Kernel lab: reduce_sum (kernels/{cpu,cuda}/reduce.h) over kernels/cases/reduce.h.
#include <cmath>
#include <string>
#include <vector>

#include "r2g2/kernels/cases/reduce.h"
#include "r2g2/kernels/cpu/reduce.h"
#include "tools/kernel_lab.h"
#if R2G2_WITH_CUDA
#include "r2g2/kernels/cuda/reduce.h"
#endif

namespace {

using namespace r2g2;
using namespace r2g2::lab;
namespace kcpu = r2g2::kernels::cpu;
namespace cases = r2g2::kernels::cases;

template <class T>
void bench_reduce_sum(Lab& lab) {
  if (!lab.selected("reduce_sum")) return;
  const auto kernel = R2G2_LAB_KERNEL(lab, reduce_sum<T>);
  for (const auto& c : cases::perf_sum_shapes(lab.options().large)) {
    const int64_t n = c.outer * c.r * c.inner, out = c.outer * c.inner;
    const auto x = host_uniform<T>(n, 10 + n);
    std::vector<T> want(static_cast<size_t>(out));
    kcpu::reduce_sum<T>(x.data(), want.data(), c.outer, c.r, c.inner);
    Tensor dx = lab.upload(x), dy = lab.empty<T>(out);
    auto run = [&] { kernel(dx.data<T>(), dy.data<T>(), c.outer, c.r, c.inner); };
    run();
    // Both sides sum in double (float32 inputs too), so only the order differs: allow a
    // random walk of rounding errors over r terms.
    const double atol = (std::is_same_v<T, float> ? 1e-6 : 1e-13) * std::sqrt(double(c.r));
    const double err = scaled_error(lab.download(dy.data<T>(), out), want, default_rtol<T>(), atol);
    lab.row(std::string("reduce_sum (") + c.what + ")", dtype_label<T>(), dims({c.outer, c.r, c.inner}),
            lab.time_ms(run), double(n + out) * sizeof(T), 0, err);
  }
}

void run(Lab& lab) {
  bench_reduce_sum<float>(lab);
  bench_reduce_sum<double>(lab);
}

R2G2_BENCH("reduce", "reduce_sum", "reductions, softmax, losses", 20, false, run);

}  // namespace
