// Kernel lab: the elementwise family (kernels/{cpu,cuda}/elementwise.h) over its case table
// (kernels/cases/elementwise.h). The kernels launch a fixed 256 threads per block
// (kernels/cuda/launch.cuh) and expose no knob to sweep.
#include <string>
#include <vector>

#include "r2g2/kernels/cases/elementwise.h"
#include "r2g2/kernels/cpu/elementwise.h"
#include "tools/kernel_lab.h"
#if R2G2_WITH_CUDA
#include "r2g2/kernels/cuda/elementwise.h"
#endif

namespace {

using namespace r2g2;
using namespace r2g2::lab;
namespace kcpu = r2g2::kernels::cpu;
namespace cases = r2g2::kernels::cases;
using kernels::BinaryOp;
using kernels::Strided2;

template <class T>
void bench_unary(Lab& lab, const cases::UnaryCase& c) {
  const std::string name = std::string("unary ") + c.name;
  if (!lab.selected(name)) return;
  const auto kernel = R2G2_LAB_KERNEL(lab, unary<T>);
  for (int64_t n : cases::perf_sizes(lab.options().large)) {
    const auto x = host_uniform<T>(n, 1 + n, c.lo, c.hi);
    Tensor dx = lab.upload(x), dy = lab.empty<T>(n);
    auto run = [&] { kernel(c.op, dx.data<T>(), dy.data<T>(), n); };
    run();
    std::vector<T> want(x.size());
    kcpu::unary<T>(c.op, x.data(), want.data(), n);
    const double err = scaled_error(lab.download(dy.data<T>(), n), want, default_rtol<T>(), 1e-6);
    lab.row(name, dtype_label<T>(), n_str(n), lab.time_ms(run), 2.0 * n * sizeof(T), 0, err);
  }
}

template <class T>
void bench_unary_backward(Lab& lab, const cases::UnaryCase& c) {
  const std::string name = std::string("unary_backward ") + c.name;
  if (!lab.selected(name)) return;
  const auto kernel = R2G2_LAB_KERNEL(lab, unary_backward<T>);
  for (int64_t n : cases::perf_sizes(lab.options().large)) {
    const auto x = host_uniform<T>(n, 2 + n, c.lo, c.hi), gy = host_uniform<T>(n, 3 + n);
    std::vector<T> y(x.size()), want(x.size());
    kcpu::unary<T>(c.op, x.data(), y.data(), n);
    kcpu::unary_backward<T>(c.op, x.data(), y.data(), gy.data(), want.data(), n);
    Tensor dx = lab.upload(x), dy = lab.upload(y), dgy = lab.upload(gy), dgx = lab.empty<T>(n);
    auto run = [&] { kernel(c.op, dx.data<T>(), dy.data<T>(), dgy.data<T>(), dgx.data<T>(), n); };
    run();
    const double err = scaled_error(lab.download(dgx.data<T>(), n), want, default_rtol<T>(), 1e-6);
    // Counted as reading x, y and gy and writing gx; a kernel that needs fewer of them
    // moves less and shows a rate above what it really sustains.
    lab.row(name, dtype_label<T>(), n_str(n), lab.time_ms(run), 4.0 * n * sizeof(T), 0, err,
            "(4 arrays counted)");
  }
}

Strided2 flat(int64_t n) {
  Strided2 g;
  g.ndim = 1;
  g.shape[0] = n;
  g.a_stride[0] = 1;
  g.b_stride[0] = 1;
  return g;
}

// out [rows, cols] = a [rows, cols] op b, with b's strides (0 where it is broadcast).
Strided2 rows_by_cols(int64_t rows, int64_t cols, int64_t b_row_stride) {
  Strided2 g;
  g.ndim = 2;
  g.shape[0] = rows;
  g.shape[1] = cols;
  g.a_stride[0] = cols;
  g.a_stride[1] = 1;
  g.b_stride[0] = b_row_stride;
  g.b_stride[1] = 1;
  return g;
}

template <class T>
void bench_binary(Lab& lab, const cases::BinaryCase& c) {
  const std::string name = std::string("binary ") + c.name;
  if (!lab.selected(name)) return;
  const auto kernel = R2G2_LAB_KERNEL(lab, binary<T>);
  for (int64_t n : cases::perf_sizes(lab.options().large)) {
    const auto a = host_uniform<T>(n, 4 + n), b = host_uniform<T>(n, 5 + n, 0.5, 2.0);
    const Strided2 g = flat(n);
    std::vector<T> want(a.size());
    kcpu::binary<T>(c.op, a.data(), b.data(), want.data(), g);
    Tensor da = lab.upload(a), db = lab.upload(b), dout = lab.empty<T>(n);
    auto run = [&] { kernel(c.op, da.data<T>(), db.data<T>(), dout.data<T>(), g); };
    run();
    const double err = scaled_error(lab.download(dout.data<T>(), n), want, default_rtol<T>(), 1e-6);
    lab.row(name, dtype_label<T>(), n_str(n), lab.time_ms(run), 3.0 * n * sizeof(T), 0, err);
  }
}

// out [rows, cols] = a [rows, cols] + bias [cols]: a broadcast (b stride 0 over rows).
template <class T>
void bench_bias_broadcast(Lab& lab) {
  const std::string name = "binary add (row + bias)";
  if (!lab.selected(name)) return;
  const auto kernel = R2G2_LAB_KERNEL(lab, binary<T>);
  for (auto [r, c] : cases::perf_bias_shapes(lab.options().large)) {
    const Strided2 g = rows_by_cols(r, c, 0);
    const auto a = host_uniform<T>(r * c, 6), b = host_uniform<T>(c, 7);
    std::vector<T> want(a.size());
    kcpu::binary<T>(BinaryOp::add, a.data(), b.data(), want.data(), g);
    Tensor da = lab.upload(a), db = lab.upload(b), dout = lab.empty<T>(r * c);
    auto run = [&] { kernel(BinaryOp::add, da.data<T>(), db.data<T>(), dout.data<T>(), g); };
    run();
    const double err = scaled_error(lab.download(dout.data<T>(), r * c), want, default_rtol<T>(), 1e-6);
    lab.row(name, dtype_label<T>(), dims({r, c}), lab.time_ms(run), 2.0 * r * c * sizeof(T), 0, err);
  }
}

template <class T>
void bench_axpy(Lab& lab) {
  if (!lab.selected("axpy")) return;
  const auto kernel = R2G2_LAB_KERNEL(lab, axpy<T>);
  for (int64_t n : cases::perf_sizes(lab.options().large)) {
    const auto x = host_uniform<T>(n, 8 + n), y = host_uniform<T>(n, 9 + n);
    std::vector<T> want = y;
    kcpu::axpy<T>(T(0.5), x.data(), want.data(), n);
    Tensor dx = lab.upload(x), dy = lab.upload(y);
    kernel(T(0.5), dx.data<T>(), dy.data<T>(), n);  // once, from y: the check
    const double err = scaled_error(lab.download(dy.data<T>(), n), want, default_rtol<T>(), 1e-6);
    const double ms = lab.time_ms([&] { kernel(T(0.5), dx.data<T>(), dy.data<T>(), n); });
    lab.row("axpy (y += a x)", dtype_label<T>(), n_str(n), ms, 3.0 * n * sizeof(T), 0, err);
  }
}

void run(Lab& lab) {
  for (const auto& c : cases::unary_ops()) bench_unary<float>(lab, c);
  for (const auto& c : cases::unary_ops())
    if (c.op == kernels::UnaryOp::exp) bench_unary<double>(lab, c);
  for (const auto& c : cases::unary_ops())
    if (cases::perf_unary_backward(c.op)) bench_unary_backward<float>(lab, c);
  for (const auto& c : cases::binary_ops()) bench_binary<float>(lab, c);
  bench_bias_broadcast<float>(lab);
  bench_axpy<float>(lab);
}

R2G2_BENCH("elementwise", "unary, unary_backward, binary, axpy",
           "elementwise (on CUDA: a fixed 256 threads per block)", 10, false, run);

}  // namespace
