// Kernel lab: log-softmax and cross-entropy (kernels/{cpu,cuda}/softmax.h) over
// kernels/cases/softmax.h.
#include <algorithm>
#include <string>
#include <vector>

#include "r2g2/kernels/cases/softmax.h"
#include "r2g2/kernels/cpu/softmax.h"
#include "tools/kernel_lab.h"
#if R2G2_WITH_CUDA
#include "r2g2/kernels/cuda/graph.h"
#include "r2g2/kernels/cuda/softmax.h"
#endif

namespace {

using namespace r2g2;
using namespace r2g2::lab;
namespace kcpu = r2g2::kernels::cpu;
namespace cases = r2g2::kernels::cases;

template <class T>
void bench_log_softmax(Lab& lab) {
  if (!lab.selected("log_softmax")) return;
  const auto forward = R2G2_LAB_KERNEL(lab, log_softmax<T>);
  const auto backward = R2G2_LAB_KERNEL(lab, log_softmax_backward<T>);
  for (auto [rows, cols] : cases::perf_row_shapes(lab.options().large)) {
    const int64_t n = rows * cols;
    const auto x = host_uniform<T>(n, 11 + n, -5, 5), gy = host_uniform<T>(n, 12 + n);
    std::vector<T> y(x.size()), gx(x.size());
    kcpu::log_softmax<T>(x.data(), y.data(), rows, cols);
    kcpu::log_softmax_backward<T>(y.data(), gy.data(), gx.data(), rows, cols);
    Tensor dx = lab.upload(x), dy = lab.empty<T>(n), dgy = lab.upload(gy), dgx = lab.empty<T>(n);
    auto fwd = [&, rows = rows, cols = cols] { forward(dx.data<T>(), dy.data<T>(), rows, cols); };
    fwd();
    const double err = scaled_error(lab.download(dy.data<T>(), n), y, default_rtol<T>(), 1e-5);
    lab.row("log_softmax", dtype_label<T>(), dims({rows, cols}), lab.time_ms(fwd), 2.0 * n * sizeof(T), 0,
            err);
    Tensor dyr = lab.upload(y);  // backward from the reference forward, to test backward alone
    auto bwd = [&, rows = rows, cols = cols] {
      backward(dyr.data<T>(), dgy.data<T>(), dgx.data<T>(), rows, cols);
    };
    bwd();
    const double err_b = scaled_error(lab.download(dgx.data<T>(), n), gx, default_rtol<T>(), 1e-5);
    lab.row("log_softmax_backward", dtype_label<T>(), dims({rows, cols}), lab.time_ms(bwd),
            3.0 * n * sizeof(T), 0, err_b);
  }
}

template <class T>
void bench_cross_entropy(Lab& lab) {
  if (!lab.selected("cross_entropy")) return;
  const auto forward = R2G2_LAB_KERNEL(lab, cross_entropy<T>);
  const auto backward = R2G2_LAB_KERNEL(lab, cross_entropy_backward<T>);
  for (auto [rows, cols] : cases::perf_row_shapes(lab.options().large)) {
    const int64_t n = rows * cols;
    const auto x = host_uniform<T>(n, 13 + n, -5, 5);
    const auto labels = host_labels(rows, cols, 14 + n);
    std::vector<T> lp(x.size()), glogits(x.size());
    const T loss = kcpu::cross_entropy<T>(x.data(), labels.data(), lp.data(), rows, cols);
    kcpu::cross_entropy_backward<T>(lp.data(), labels.data(), T(1), glogits.data(), rows, cols);
    Tensor dx = lab.upload(x), dl = lab.upload_i32(labels), dlp = lab.empty<T>(n), dg = lab.empty<T>(n);
    T got_loss = 0;
    auto fwd = [&, rows = rows, cols = cols] {
      got_loss = forward(dx.data<T>(), dl.data<int32_t>(), dlp.data<T>(), rows, cols);
    };
    fwd();
    const double err =
        std::max(scaled_error(lab.download(dlp.data<T>(), n), lp, default_rtol<T>(), 1e-5),
                 scaled_error(std::vector<T>{got_loss}, std::vector<T>{loss}, default_rtol<T>(), 1e-6));
    lab.row("cross_entropy", dtype_label<T>(), dims({rows, cols}), lab.time_ms(fwd),
            2.0 * n * sizeof(T) + 4.0 * rows, 0, err,
            lab.on_cuda() ? "(returns the loss: includes its readback)" : "");
#if R2G2_WITH_CUDA
    if (lab.on_cuda()) {
      // The variant a captured CUDA-graph step uses: loss and label check stay on the device.
      Tensor dloss = lab.empty<T>(1);
      Tensor bad_row = lab.upload_i32({0});
      auto on_device = [&, rows = rows, cols = cols] {
        kernels::cuda::cross_entropy_on_device<T>(dx.data<T>(), dl.data<int32_t>(), dlp.data<T>(),
                                                  dloss.data<T>(), bad_row.data<int32_t>(), rows, cols);
      };
      on_device();
      const double err_d =
          std::max(scaled_error(lab.download(dlp.data<T>(), n), lp, default_rtol<T>(), 1e-5),
                   scaled_error(lab.download(dloss.data<T>(), 1), std::vector<T>{loss}, default_rtol<T>(), 1e-6));
      lab.row("cross_entropy_on_device", dtype_label<T>(), dims({rows, cols}), lab.time_ms(on_device),
              2.0 * n * sizeof(T) + 4.0 * rows, 0, err_d, "(no readback: the CUDA-graph step's loss)");
    }
#endif
    Tensor dlpr = lab.upload(lp);
    auto bwd = [&, rows = rows, cols = cols] {
      backward(dlpr.data<T>(), dl.data<int32_t>(), T(1), dg.data<T>(), rows, cols);
    };
    bwd();
    // The gradient is g / rows * (softmax - onehot): scale the tolerance with it.
    const double err_b =
        scaled_error(lab.download(dg.data<T>(), n), glogits, default_rtol<T>(), 1e-6 / double(rows));
    lab.row("cross_entropy_backward", dtype_label<T>(), dims({rows, cols}), lab.time_ms(bwd),
            2.0 * n * sizeof(T) + 4.0 * rows, 0, err_b);
  }
}

void run(Lab& lab) {
  bench_log_softmax<float>(lab);
  bench_cross_entropy<float>(lab);
}

R2G2_BENCH("softmax", "log_softmax, cross_entropy (forward and backward)", "reductions, softmax, losses", 30,
           false, run);

}  // namespace
