// Kernel lab: row gather and its scatter-add backward (kernels/{cpu,cuda}/gather.h) over
// kernels/cases/gather.h.
#include <string>
#include <vector>

#include "r2g2/kernels/cases/gather.h"
#include "r2g2/kernels/cpu/gather.h"
#include "tools/kernel_lab.h"
#if R2G2_WITH_CUDA
#include "r2g2/kernels/cuda/gather.h"
#endif

namespace {

using namespace r2g2;
using namespace r2g2::lab;
namespace kcpu = r2g2::kernels::cpu;
namespace cases = r2g2::kernels::cases;

template <class T>
void bench_gather(Lab& lab) {
  const bool gather = lab.selected("gather_rows"), scatter = lab.selected("scatter_add_rows");
  if (!gather && !scatter) return;
  const auto gather_kernel = R2G2_LAB_KERNEL(lab, gather_rows<T>);
  const auto scatter_kernel = R2G2_LAB_KERNEL(lab, scatter_add_rows<T>);
  for (const auto& c : cases::perf_gather_shapes(lab.options().large)) {
    const auto x = host_uniform<T>(c.rows * c.row_len, 15 + c.rows);
    const auto index = host_labels(c.n_index, c.rows, 16 + c.rows);  // repeats included
    const int64_t moved = c.n_index * c.row_len;
    std::vector<T> want(static_cast<size_t>(moved));
    kcpu::gather_rows<T>(x.data(), index.data(), want.data(), c.n_index, c.rows, c.row_len);
    Tensor dx = lab.upload(x), di = lab.upload_i32(index), dy = lab.empty<T>(moved);
    auto run = [&] {
      gather_kernel(dx.data<T>(), di.data<int32_t>(), dy.data<T>(), c.n_index, c.rows, c.row_len);
    };
    run();
    const double err = scaled_error(lab.download(dy.data<T>(), moved), want, 0.0, 1e-30);  // a copy: exact
    const std::string size = dims({c.rows, c.row_len}) + " idx " + std::to_string(c.n_index);
    if (gather)
      lab.row("gather_rows", dtype_label<T>(), size, lab.time_ms(run),
              2.0 * moved * sizeof(T) + 4.0 * c.n_index, 0, err);
    if (!scatter) continue;
    // The backward: gx [rows, row_len] += rows of gy, in index order.
    std::vector<T> gx(x.size(), T(0));
    kcpu::scatter_add_rows<T>(want.data(), index.data(), gx.data(), c.n_index, c.row_len);
    Tensor dgx = lab.upload(std::vector<T>(x.size(), T(0)));
    auto back = [&] {
      scatter_kernel(dy.data<T>(), di.data<int32_t>(), dgx.data<T>(), c.n_index, c.row_len);
    };
    back();
    const double err_b =
        scaled_error(lab.download(dgx.data<T>(), c.rows * c.row_len), gx, default_rtol<T>(), 1e-6);
    lab.row("scatter_add_rows", dtype_label<T>(), size, lab.time_ms(back),
            3.0 * moved * sizeof(T) + 4.0 * c.n_index, 0, err_b, "(gx counted once)");
  }
}

void run(Lab& lab) { bench_gather<float>(lab); }

R2G2_BENCH("gather", "gather_rows, scatter_add_rows", "gather, random numbers, optimizer", 40, false, run);

}  // namespace
