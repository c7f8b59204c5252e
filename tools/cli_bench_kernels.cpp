// `r2g2 bench kernels` (registered as "bench-kernels"): the CUDA kernel lab. Each
// hand-written kernel is checked against its CPU reference at several sizes (1, odd,
// not a multiple of 256, large) and timed; see tools/kernel_lab.h for the method. Then
// gemm_blocked against cuBLAS, cuDNN convolution, and one training step of an MLP.
//
// Block sizes: the elementwise, reduction, softmax, gather, Philox and Adam kernels launch
// a fixed 256 threads per block (kernels/cuda/launch.cuh, kThreads) and expose no knob,
// so the lab sweeps the knobs that exist: the conv/pool kernels' block size
// (set_conv_block_size) and gemm_blocked's tile shapes.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "r2g2/core/cuda_backend.h"
#include "r2g2/core/device.h"
#include "tools/cli.h"
#include "tools/kernel_lab.h"

#if R2G2_WITH_CUDA
#include "r2g2/core/autograd.h"
#include "r2g2/core/ops.h"
#include "r2g2/core/optim.h"
#include "r2g2/kernels/cpu/conv.h"
#include "r2g2/kernels/cpu/elementwise.h"
#include "r2g2/kernels/cpu/gather.h"
#include "r2g2/kernels/cpu/gemm.h"
#include "r2g2/kernels/cpu/optim.h"
#include "r2g2/kernels/cpu/random.h"
#include "r2g2/kernels/cpu/reduce.h"
#include "r2g2/kernels/cpu/softmax.h"
#include "r2g2/kernels/cuda/check.h"
#include "r2g2/kernels/cuda/conv.h"
#include "r2g2/kernels/cuda/elementwise.h"
#include "r2g2/kernels/cuda/gather.h"
#include "r2g2/kernels/cuda/gemm.h"
#include "r2g2/kernels/cuda/optim.h"
#include "r2g2/kernels/cuda/random.h"
#include "r2g2/kernels/cuda/reduce.h"
#include "r2g2/kernels/cuda/softmax.h"
#include "r2g2/kernels/cuda/stream.h"
#include "r2g2/kernels/cuda/tf32.h"
#include "r2g2/models/mlp.h"
#endif

namespace {

#if R2G2_WITH_CUDA

using namespace r2g2;
using namespace r2g2::lab;
namespace kcpu = r2g2::kernels::cpu;
namespace kcuda = r2g2::kernels::cuda;
using kernels::BinaryOp;
using kernels::ConvGeom;
using kernels::Strided2;
using kernels::UnaryOp;

std::string n_str(int64_t n) { return "n=" + std::to_string(n); }
std::string dims(std::initializer_list<int64_t> d) {
  std::string s;
  for (int64_t v : d) {
    if (!s.empty()) s += 'x';
    s += std::to_string(v);
  }
  return s;
}

template <class T>
Tensor device_empty(int64_t n) {
  return Tensor::empty({std::max<int64_t>(n, 1)}, dtype_of<T>(), Device::cuda());
}

// Sizes of the elementwise cases: one element, odd and not a multiple of 256, large.
std::vector<int64_t> sizes(const Lab& lab) { return {1, 257, 100003, 1000003, lab.options().large}; }

// ---- elementwise -----------------------------------------------------------------------

struct UnaryCase {
  UnaryOp op;
  const char* name;
  double lo, hi;  // input range inside the op's domain
};
const UnaryCase kUnary[] = {{UnaryOp::neg, "neg", -3, 3},
                            {UnaryOp::exp, "exp", -3, 3},
                            {UnaryOp::log, "log", 0.05, 3},
                            {UnaryOp::log1p, "log1p", -0.9, 3},
                            {UnaryOp::sqrt, "sqrt", 0.05, 3},
                            {UnaryOp::square, "square", -3, 3},
                            {UnaryOp::softplus, "softplus", -12, 12},
                            {UnaryOp::sigmoid, "sigmoid", -8, 8},
                            {UnaryOp::tanh, "tanh", -4, 4},
                            {UnaryOp::relu, "relu", -3, 3},
                            {UnaryOp::log_softplus, "log_softplus", -30, 8}};

template <class T>
void bench_unary(Lab& lab, const UnaryCase& c, const std::vector<int64_t>& ns) {
  const std::string name = std::string("unary ") + c.name;
  if (!lab.selected(name)) return;
  for (int64_t n : ns) {
    const auto x = host_uniform<T>(n, 1 + n, c.lo, c.hi);
    Tensor dx = upload(x), dy = device_empty<T>(n);
    kcuda::unary<T>(c.op, dx.data<T>(), dy.data<T>(), n);
    std::vector<T> want(x.size());
    kcpu::unary<T>(c.op, x.data(), want.data(), n);
    const double err = scaled_error(download(dy.data<T>(), n), want, default_rtol<T>(), 1e-6);
    const double ms = lab.time_ms([&] { kcuda::unary<T>(c.op, dx.data<T>(), dy.data<T>(), n); });
    lab.row(name, dtype_label<T>(), n_str(n), ms, 2.0 * n * sizeof(T), 0, err);
  }
}

template <class T>
void bench_unary_backward(Lab& lab, const UnaryCase& c, const std::vector<int64_t>& ns) {
  const std::string name = std::string("unary_backward ") + c.name;
  if (!lab.selected(name)) return;
  for (int64_t n : ns) {
    const auto x = host_uniform<T>(n, 2 + n, c.lo, c.hi), gy = host_uniform<T>(n, 3 + n);
    std::vector<T> y(x.size()), want(x.size());
    kcpu::unary<T>(c.op, x.data(), y.data(), n);
    kcpu::unary_backward<T>(c.op, x.data(), y.data(), gy.data(), want.data(), n);
    Tensor dx = upload(x), dy = upload(y), dgy = upload(gy), dgx = device_empty<T>(n);
    auto run = [&] {
      kcuda::unary_backward<T>(c.op, dx.data<T>(), dy.data<T>(), dgy.data<T>(), dgx.data<T>(), n);
    };
    run();
    const double err = scaled_error(download(dgx.data<T>(), n), want, default_rtol<T>(), 1e-6);
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

template <class T>
void bench_binary(Lab& lab, BinaryOp op, const char* op_name, const std::vector<int64_t>& ns) {
  const std::string name = std::string("binary ") + op_name;
  if (!lab.selected(name)) return;
  for (int64_t n : ns) {
    const auto a = host_uniform<T>(n, 4 + n), b = host_uniform<T>(n, 5 + n, 0.5, 2.0);
    std::vector<T> want(a.size());
    const Strided2 g = flat(n);
    kcpu::binary<T>(op, a.data(), b.data(), want.data(), g);
    Tensor da = upload(a), db = upload(b), dout = device_empty<T>(n);
    auto run = [&] { kcuda::binary<T>(op, da.data<T>(), db.data<T>(), dout.data<T>(), g); };
    run();
    const double err = scaled_error(download(dout.data<T>(), n), want, default_rtol<T>(), 1e-6);
    lab.row(name, dtype_label<T>(), n_str(n), lab.time_ms(run), 3.0 * n * sizeof(T), 0, err);
  }
}

// out [rows, cols] = a [rows, cols] + bias [cols]: a broadcast (b stride 0 over rows).
template <class T>
void bench_binary_broadcast(Lab& lab) {
  const std::string name = "binary add (row + bias)";
  if (!lab.selected(name)) return;
  const int64_t cols = 1024, rows = std::max<int64_t>(1, lab.options().large / cols);
  for (auto [r, c] : {std::pair<int64_t, int64_t>{3, 257}, {rows, cols}}) {
    Strided2 g;
    g.ndim = 2;
    g.shape[0] = r;
    g.shape[1] = c;
    g.a_stride[0] = c;
    g.a_stride[1] = 1;
    g.b_stride[0] = 0;
    g.b_stride[1] = 1;
    const auto a = host_uniform<T>(r * c, 6), b = host_uniform<T>(c, 7);
    std::vector<T> want(a.size());
    kcpu::binary<T>(BinaryOp::add, a.data(), b.data(), want.data(), g);
    Tensor da = upload(a), db = upload(b), dout = device_empty<T>(r * c);
    auto run = [&] { kcuda::binary<T>(BinaryOp::add, da.data<T>(), db.data<T>(), dout.data<T>(), g); };
    run();
    const double err = scaled_error(download(dout.data<T>(), r * c), want, default_rtol<T>(), 1e-6);
    lab.row(name, dtype_label<T>(), dims({r, c}), lab.time_ms(run), 2.0 * r * c * sizeof(T), 0, err);
  }
}

template <class T>
void bench_axpy(Lab& lab, const std::vector<int64_t>& ns) {
  if (!lab.selected("axpy")) return;
  for (int64_t n : ns) {
    const auto x = host_uniform<T>(n, 8 + n), y = host_uniform<T>(n, 9 + n);
    std::vector<T> want = y;
    kcpu::axpy<T>(T(0.5), x.data(), want.data(), n);
    Tensor dx = upload(x), dy = upload(y);
    kcuda::axpy<T>(T(0.5), dx.data<T>(), dy.data<T>(), n);
    const double err = scaled_error(download(dy.data<T>(), n), want, default_rtol<T>(), 1e-6);
    const double ms = lab.time_ms([&] { kcuda::axpy<T>(T(0.5), dx.data<T>(), dy.data<T>(), n); });
    lab.row("axpy (y += a x)", dtype_label<T>(), n_str(n), ms, 3.0 * n * sizeof(T), 0, err);
  }
}

// ---- reductions ----------------------------------------------------------------------

template <class T>
void bench_reduce_sum(Lab& lab) {
  if (!lab.selected("reduce_sum")) return;
  const int64_t large = lab.options().large;
  struct Shape3 {
    int64_t outer, r, inner;
    const char* what;
  };
  const Shape3 cases[] = {{1, 1, 1, "all"},
                          {1, 257, 1, "all"},
                          {1, 1000003, 1, "all"},
                          {1, large, 1, "all"},
                          {large / 1024, 1024, 1, "rows"},
                          {1, 1024, large / 1024, "cols"},
                          {7, 1001, 3, "middle axis"}};
  for (const auto& c : cases) {
    const int64_t n = c.outer * c.r * c.inner, out = c.outer * c.inner;
    const auto x = host_uniform<T>(n, 10 + n);
    std::vector<T> want(static_cast<size_t>(out));
    kcpu::reduce_sum<T>(x.data(), want.data(), c.outer, c.r, c.inner);
    Tensor dx = upload(x), dy = device_empty<T>(out);
    auto run = [&] { kcuda::reduce_sum<T>(dx.data<T>(), dy.data<T>(), c.outer, c.r, c.inner); };
    run();
    // Both sides sum in double (float32 inputs too), so only the order differs: allow a
    // random walk of rounding errors over r terms.
    const double atol = (std::is_same_v<T, float> ? 1e-6 : 1e-13) * std::sqrt(double(c.r));
    const double err = scaled_error(download(dy.data<T>(), out), want, default_rtol<T>(), atol);
    lab.row(std::string("reduce_sum (") + c.what + ")", dtype_label<T>(), dims({c.outer, c.r, c.inner}),
            lab.time_ms(run), double(n + out) * sizeof(T), 0, err);
  }
}

// ---- softmax and losses --------------------------------------------------------------

std::vector<std::pair<int64_t, int64_t>> row_shapes(const Lab& lab) {
  return {
      {1, 1}, {3, 257}, {1000, 10}, {4096, 1000}, {std::max<int64_t>(1, lab.options().large / 1024), 1024}};
}

std::vector<int32_t> host_labels(int64_t rows, int64_t classes, uint64_t seed) {
  std::vector<int32_t> v(static_cast<size_t>(rows));
  uint64_t s = seed * 6364136223846793005ull + 1;
  for (auto& l : v) {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    l = static_cast<int32_t>((s >> 33) % static_cast<uint64_t>(classes));
  }
  return v;
}

template <class T>
void bench_log_softmax(Lab& lab) {
  if (!lab.selected("log_softmax")) return;
  for (auto [rows, cols] : row_shapes(lab)) {
    const int64_t n = rows * cols;
    const auto x = host_uniform<T>(n, 11 + n, -5, 5), gy = host_uniform<T>(n, 12 + n);
    std::vector<T> y(x.size()), gx(x.size());
    kcpu::log_softmax<T>(x.data(), y.data(), rows, cols);
    kcpu::log_softmax_backward<T>(y.data(), gy.data(), gx.data(), rows, cols);
    Tensor dx = upload(x), dy = device_empty<T>(n), dgy = upload(gy), dgx = device_empty<T>(n);
    auto fwd = [&] { kcuda::log_softmax<T>(dx.data<T>(), dy.data<T>(), rows, cols); };
    fwd();
    const double err = scaled_error(download(dy.data<T>(), n), y, default_rtol<T>(), 1e-5);
    lab.row("log_softmax", dtype_label<T>(), dims({rows, cols}), lab.time_ms(fwd), 2.0 * n * sizeof(T), 0,
            err);
    Tensor dyr = upload(y);  // backward from the reference forward, to test backward alone
    auto bwd = [&] {
      kcuda::log_softmax_backward<T>(dyr.data<T>(), dgy.data<T>(), dgx.data<T>(), rows, cols);
    };
    bwd();
    const double err_b = scaled_error(download(dgx.data<T>(), n), gx, default_rtol<T>(), 1e-5);
    lab.row("log_softmax_backward", dtype_label<T>(), dims({rows, cols}), lab.time_ms(bwd),
            3.0 * n * sizeof(T), 0, err_b);
  }
}

template <class T>
void bench_cross_entropy(Lab& lab) {
  if (!lab.selected("cross_entropy")) return;
  for (auto [rows, cols] : row_shapes(lab)) {
    const int64_t n = rows * cols;
    const auto x = host_uniform<T>(n, 13 + n, -5, 5);
    const auto labels = host_labels(rows, cols, 14 + n);
    std::vector<T> lp(x.size()), glogits(x.size());
    const T loss = kcpu::cross_entropy<T>(x.data(), labels.data(), lp.data(), rows, cols);
    kcpu::cross_entropy_backward<T>(lp.data(), labels.data(), T(1), glogits.data(), rows, cols);
    Tensor dx = upload(x), dl = upload_i32(labels), dlp = device_empty<T>(n), dg = device_empty<T>(n);
    T got_loss = 0;
    auto fwd = [&] {
      got_loss = kcuda::cross_entropy<T>(dx.data<T>(), dl.data<int32_t>(), dlp.data<T>(), rows, cols);
    };
    fwd();
    const double err =
        std::max(scaled_error(download(dlp.data<T>(), n), lp, default_rtol<T>(), 1e-5),
                 scaled_error(std::vector<T>{got_loss}, std::vector<T>{loss}, default_rtol<T>(), 1e-6));
    lab.row("cross_entropy", dtype_label<T>(), dims({rows, cols}), lab.time_ms(fwd),
            2.0 * n * sizeof(T) + 4.0 * rows, 0, err, "(returns the loss: includes its readback)");
    Tensor dlpr = upload(lp);
    auto bwd = [&] {
      kcuda::cross_entropy_backward<T>(dlpr.data<T>(), dl.data<int32_t>(), T(1), dg.data<T>(), rows, cols);
    };
    bwd();
    // The gradient is g / rows * (softmax - onehot): scale the tolerance with it.
    const double err_b =
        scaled_error(download(dg.data<T>(), n), glogits, default_rtol<T>(), 1e-6 / double(rows));
    lab.row("cross_entropy_backward", dtype_label<T>(), dims({rows, cols}), lab.time_ms(bwd),
            2.0 * n * sizeof(T) + 4.0 * rows, 0, err_b);
  }
}

// ---- gather, random numbers, optimizer -------------------------------------------------

template <class T>
void bench_gather(Lab& lab) {
  if (!lab.selected("gather_rows") && !lab.selected("scatter_add_rows")) return;
  struct Case {
    int64_t rows, row_len, n_index;
  };
  const int64_t big_rows = std::max<int64_t>(1, lab.options().large / 512);
  const Case cases[] = {{1, 1, 1}, {100, 3, 257}, {60000, 784, 128}, {big_rows, 512, big_rows}};
  for (const auto& c : cases) {
    const auto x = host_uniform<T>(c.rows * c.row_len, 15 + c.rows);
    const auto index = host_labels(c.n_index, c.rows, 16 + c.rows);  // repeats included
    const int64_t moved = c.n_index * c.row_len;
    std::vector<T> want(static_cast<size_t>(moved));
    kcpu::gather_rows<T>(x.data(), index.data(), want.data(), c.n_index, c.rows, c.row_len);
    Tensor dx = upload(x), di = upload_i32(index), dy = device_empty<T>(moved);
    auto run = [&] {
      kcuda::gather_rows<T>(dx.data<T>(), di.data<int32_t>(), dy.data<T>(), c.n_index, c.rows, c.row_len);
    };
    run();
    const double err = scaled_error(download(dy.data<T>(), moved), want, 0.0, 1e-30);  // a copy: exact
    const std::string size = dims({c.rows, c.row_len}) + " idx " + std::to_string(c.n_index);
    if (lab.selected("gather_rows"))
      lab.row("gather_rows", dtype_label<T>(), size, lab.time_ms(run),
              2.0 * moved * sizeof(T) + 4.0 * c.n_index, 0, err);
    if (!lab.selected("scatter_add_rows")) continue;
    // The backward: gx [rows, row_len] += rows of gy, in index order.
    std::vector<T> gx(x.size(), T(0));
    kcpu::scatter_add_rows<T>(want.data(), index.data(), gx.data(), c.n_index, c.row_len);
    Tensor dgx = upload(std::vector<T>(x.size(), T(0)));
    auto back = [&] {
      kcuda::scatter_add_rows<T>(dy.data<T>(), di.data<int32_t>(), dgx.data<T>(), c.n_index, c.row_len);
    };
    back();
    const double err_b =
        scaled_error(download(dgx.data<T>(), c.rows * c.row_len), gx, default_rtol<T>(), 1e-6);
    lab.row("scatter_add_rows", dtype_label<T>(), size, lab.time_ms(back),
            3.0 * moved * sizeof(T) + 4.0 * c.n_index, 0, err_b, "(gx counted once)");
  }
}

template <class T>
void bench_philox(Lab& lab, const std::vector<int64_t>& ns) {
  if (!lab.selected("philox_normal")) return;
  for (int64_t n : ns) {
    const uint64_t seed = 0x5EED0000ull + uint64_t(n), offset = 12345;
    std::vector<T> want(static_cast<size_t>(n));
    kcpu::philox_normal<T>(seed, offset, want.data(), n);
    Tensor dy = device_empty<T>(n);
    auto run = [&] { kcuda::philox_normal<T>(seed, offset, dy.data<T>(), n); };
    run();
    // Same Philox integers; the transcendental functions may differ in the last ulp or two.
    const double err = scaled_error(download(dy.data<T>(), n), want, std::is_same_v<T, float> ? 1e-6 : 1e-13,
                                    std::is_same_v<T, float> ? 1e-6 : 1e-13);
    const double ms = lab.time_ms(run);
    char note[64];
    std::snprintf(note, sizeof note, "(%.1f G normals/s)", n / (ms * 1e-3) * 1e-9);
    lab.row("philox_normal", dtype_label<T>(), n_str(n), ms, double(n) * sizeof(T), 0, err, note);
  }
}

template <class T>
void bench_adam(Lab& lab, const std::vector<int64_t>& ns) {
  if (!lab.selected("adam_step")) return;
  for (int64_t n : ns) {
    auto p = host_uniform<T>(n, 17 + n), g = host_uniform<T>(n, 18 + n),
         m = host_uniform<T>(n, 19 + n, -0.1, 0.1), v = host_uniform<T>(n, 20 + n, 0.0, 0.01);
    Tensor dp = upload(p), dg = upload(g), dm = upload(m), dv = upload(v);
    const T lr = T(1e-3), b1 = T(0.9), b2 = T(0.999), eps = T(1e-8), wd = T(0.01);
    kcpu::adam_step<T>(p.data(), g.data(), m.data(), v.data(), n, lr, b1, b2, eps, wd, 3);
    auto run = [&] {
      kcuda::adam_step<T>(dp.data<T>(), dg.data<T>(), dm.data<T>(), dv.data<T>(), n, lr, b1, b2, eps, wd, 3);
    };
    run();
    const double err = std::max({scaled_error(download(dp.data<T>(), n), p, default_rtol<T>(), 1e-7),
                                 scaled_error(download(dm.data<T>(), n), m, default_rtol<T>(), 1e-7),
                                 scaled_error(download(dv.data<T>(), n), v, default_rtol<T>(), 1e-9)});
    // p, m, v read and written, g read.
    lab.row("adam_step", dtype_label<T>(), n_str(n), lab.time_ms(run), 7.0 * n * sizeof(T), 0, err);
  }
}

// ---- im2col / col2im / max-pooling, with the block-size sweep ---------------------------

ConvGeom conv_geom(int c, int h, int w, int k, int stride, int pad) {
  return kernels::make_conv_geom(c, h, w, k, k, stride, pad);
}

const int kBlockSweep[] = {64, 128, 256, 512, 1024};

template <class T>
void bench_im2col(Lab& lab) {
  if (!lab.selected("im2col") && !lab.selected("col2im")) return;
  const ConvGeom geoms[] = {conv_geom(1, 1, 1, 1, 1, 0),       conv_geom(3, 7, 9, 3, 1, 1),
                            conv_geom(3, 32, 32, 5, 1, 2),     conv_geom(64, 56, 56, 3, 1, 1),
                            conv_geom(128, 128, 128, 3, 2, 1), conv_geom(256, 128, 128, 3, 1, 1)};
  const int default_block = kcuda::conv_block_size();
  for (size_t gi = 0; gi < std::size(geoms); ++gi) {
    const ConvGeom& g = geoms[gi];
    const bool sweep = gi + 1 == std::size(geoms);
    const int64_t image = int64_t(g.channels) * g.height * g.width;
    const int64_t ncols = int64_t(g.channels) * g.kernel_h * g.kernel_w * g.out_h * g.out_w;
    const auto x = host_uniform<T>(image, 21 + image), c2 = host_uniform<T>(ncols, 22 + ncols);
    std::vector<T> cols(static_cast<size_t>(ncols)), back(static_cast<size_t>(image), T(0));
    kcpu::im2col<T>(x.data(), cols.data(), g);
    kcpu::col2im<T>(c2.data(), back.data(), g);
    Tensor dx = upload(x), dcols = device_empty<T>(ncols), dc2 = upload(c2), dback = device_empty<T>(image);
    const std::string size = dims({g.channels, g.height, g.width}) + " k" + std::to_string(g.kernel_h) +
                             " s" + std::to_string(g.stride) + " p" + std::to_string(g.padding);
    for (int block : kBlockSweep) {
      if (!sweep && block != default_block) continue;
      kcuda::set_conv_block_size(block);
      const std::string note = "block " + std::to_string(block);
      if (lab.selected("im2col")) {
        auto run = [&] { kcuda::im2col<T>(dx.data<T>(), dcols.data<T>(), g); };
        run();
        const double err = scaled_error(download(dcols.data<T>(), ncols), cols, 0.0, 1e-30);  // a copy: exact
        lab.row("im2col", dtype_label<T>(), size, lab.time_ms(run), double(image + ncols) * sizeof(T), 0, err,
                note);
      }
      if (lab.selected("col2im")) {
        R2G2_CUDA_CHECK(cudaMemsetAsync(dback.raw_data(), 0, image * sizeof(T), kcuda::current_stream()));
        auto run = [&] { kcuda::col2im<T>(dc2.data<T>(), dback.data<T>(), g); };
        run();
        // Summed in the CPU's order: bitwise equal.
        const double err = scaled_error(download(dback.data<T>(), image), back, 0.0, 1e-30);
        lab.row("col2im", dtype_label<T>(), size, lab.time_ms(run), double(ncols + 2 * image) * sizeof(T), 0,
                err, note);
      }
    }
  }
  kcuda::set_conv_block_size(default_block);
}

template <class T>
void bench_max_pool(Lab& lab) {
  if (!lab.selected("max_pool2d")) return;
  struct Case {
    int64_t planes;
    int h, w, kernel, stride;
  };
  const int64_t big_planes = std::max<int64_t>(1, lab.options().large / 4096);  // 64x64 planes
  const Case cases[] = {{1, 1, 1, 1, 1},
                        {5, 7, 9, 2, 2},
                        {3, 9, 9, 3, 1},
                        {128 * 32, 32, 32, 2, 2},
                        {big_planes, 64, 64, 3, 2},
                        {big_planes, 64, 64, 2, 2}};
  const int default_block = kcuda::conv_block_size();
  for (size_t ci = 0; ci < std::size(cases); ++ci) {
    const Case& c = cases[ci];
    const bool sweep = ci + 1 == std::size(cases);
    const int oh = (c.h - c.kernel) / c.stride + 1, ow = (c.w - c.kernel) / c.stride + 1;
    const int64_t nin = c.planes * c.h * c.w, nout = c.planes * oh * ow;
    auto x = host_uniform<T>(nin, 23 + nin);
    for (size_t i = 0; i < x.size(); i += 7) x[i] = T(0.5);  // ties
    std::vector<T> y(static_cast<size_t>(nout)), gx(static_cast<size_t>(nin), T(0));
    std::vector<int32_t> arg(static_cast<size_t>(nout));
    kcpu::max_pool2d<T>(x.data(), y.data(), arg.data(), c.planes, c.h, c.w, c.kernel, c.stride, oh, ow);
    const auto gy = host_uniform<T>(nout, 24 + nout);
    kcpu::max_pool2d_backward<T>(gy.data(), arg.data(), gx.data(), c.planes, c.h, c.w, oh, ow);
    Tensor dx = upload(x), dy = device_empty<T>(nout), dgy = upload(gy), dgx = device_empty<T>(nin);
    Tensor darg = Tensor::empty({std::max<int64_t>(nout, 1)}, DType::i32, Device::cuda());
    const std::string size =
        dims({c.planes, c.h, c.w}) + " k" + std::to_string(c.kernel) + " s" + std::to_string(c.stride);
    for (int block : kBlockSweep) {
      if (!sweep && block != default_block) continue;
      kcuda::set_conv_block_size(block);
      const std::string note = "block " + std::to_string(block);
      auto fwd = [&] {
        kcuda::max_pool2d<T>(dx.data<T>(), dy.data<T>(), darg.data<int32_t>(), c.planes, c.h, c.w, c.kernel,
                             c.stride, oh, ow);
      };
      fwd();
      const double err = std::max(scaled_error(download(dy.data<T>(), nout), y, 0.0, 1e-30),
                                  scaled_error(download(darg.data<int32_t>(), nout), arg, 0.0, 1e-30));
      lab.row("max_pool2d", dtype_label<T>(), size, lab.time_ms(fwd),
              double(nin + nout) * sizeof(T) + 4.0 * nout, 0, err, note);
      R2G2_CUDA_CHECK(cudaMemsetAsync(dgx.raw_data(), 0, nin * sizeof(T), kcuda::current_stream()));
      auto bwd = [&] {
        kcuda::max_pool2d_backward<T>(dgy.data<T>(), darg.data<int32_t>(), dgx.data<T>(), c.planes, c.h, c.w,
                                      oh, ow);
      };
      bwd();
      const double err_b = scaled_error(download(dgx.data<T>(), nin), gx, 0.0, 1e-30);  // CPU order: bitwise
      lab.row("max_pool2d_backward", dtype_label<T>(), size, lab.time_ms(bwd),
              double(nout + 2 * nin) * sizeof(T) + 4.0 * nout, 0, err_b, note + " (one warp per plane)");
    }
  }
  kcuda::set_conv_block_size(default_block);
}

// ---- GEMM: gemm_blocked's tiles against cuBLAS ------------------------------------------

template <class T>
void bench_gemm(Lab& lab) {
  if (!lab.selected("gemm")) return;
  const int64_t big = lab.options().gemm;
  struct Case {
    int64_t m, n, k;
    bool ta, tb;
    bool check_on_cpu;  // else against cuBLAS on the device (a big CPU product is slow)
  };
  std::vector<Case> cases = {{1, 1, 1, false, false, true},
                             {127, 129, 131, false, false, true},
                             {128, 1024, 784, false, false, true},
                             {1000, 1000, 1000, true, false, true},
                             {1000, 1000, 1000, false, true, true},
                             {big, big, big, false, false, false},
                             {big - 1, big + 1, big - 3, false, false, false}};
  if (std::is_same_v<T, double>) cases = {cases[1], cases[2], {2048, 2048, 2048, false, false, false}};
  double cublas_big = 0, best_big = 1e30;
  int best_tile = -1;
  for (const auto& c : cases) {
    const int64_t lda = c.ta ? c.m : c.k, ldb = c.tb ? c.k : c.n, ldc = c.n;
    const auto a = host_uniform<T>(c.m * c.k, 25 + c.m), b = host_uniform<T>(c.k * c.n, 26 + c.n);
    Tensor da = upload(a), db = upload(b), dc = device_empty<T>(c.m * c.n), dref = device_empty<T>(c.m * c.n);
    std::vector<T> want;
    if (c.check_on_cpu) {
      want.resize(static_cast<size_t>(c.m * c.n));
      kcpu::gemm<T>(c.ta, c.tb, c.m, c.n, c.k, T(1), a.data(), lda, b.data(), ldb, T(0), want.data(), ldc);
    }
    const std::string size = dims({c.m, c.n, c.k}) + (c.ta ? " A^T" : "") + (c.tb ? " B^T" : "");
    const double flops = 2.0 * c.m * c.n * c.k;
    // Two implementations summing k products of values in [-1, 1) in different orders:
    // their rounding errors are random walks whose spread grows like eps * k (the partial
    // sums grow like sqrt(k) over k steps); 1e-7 * k is about 8 standard deviations.
    const double atol = (std::is_same_v<T, float> ? 1e-7 : 2e-16) * double(c.k);
    auto cublas = [&] {
      kcuda::gemm<T>(c.ta, c.tb, c.m, c.n, c.k, T(1), da.data<T>(), lda, db.data<T>(), ldb, T(0),
                     dref.data<T>(), ldc);
    };
    cublas();
    if (!c.check_on_cpu) want = download(dref.data<T>(), c.m * c.n);
    const double err_ref =
        c.check_on_cpu ? scaled_error(download(dref.data<T>(), c.m * c.n), want, default_rtol<T>(), atol)
                       : -1;
    const double ms_ref = lab.time_ms(cublas);
    lab.row("gemm (cuBLAS)", dtype_label<T>(), size, ms_ref, 0, flops, err_ref,
            c.check_on_cpu ? "" : "(reference for the rows below)");
    const bool is_big = c.m == big && c.n == big && c.k == big && !c.ta && !c.tb;
    if (is_big) cublas_big = ms_ref;
    for (int tile = 0; tile < kcuda::gemm_blocked_tile_count(); ++tile) {
      const auto t = kcuda::gemm_blocked_tile(tile);
      auto run = [&] {
        kcuda::gemm_blocked_tiled<T>(tile, c.ta, c.tb, c.m, c.n, c.k, T(1), da.data<T>(), lda, db.data<T>(),
                                     ldb, T(0), dc.data<T>(), ldc);
      };
      run();
      const double err = scaled_error(download(dc.data<T>(), c.m * c.n), want, default_rtol<T>(), atol);
      const double ms = lab.time_ms(run);
      char note[96];
      std::snprintf(note, sizeof note, "tile %dx%dx%d, %dx%d/thread%s; %.2fx cuBLAS", t.block_m, t.block_n,
                    t.block_k, t.thread_m, t.thread_n,
                    tile == kcuda::gemm_blocked_default_tile(c.m, c.n) ? " (default)" : "", ms_ref / ms);
      lab.row("gemm_blocked", dtype_label<T>(), size, ms, 0, flops, err, note);
      if (is_big && ms < best_big) {
        best_big = ms;
        best_tile = tile;
      }
    }
  }
  if (cublas_big > 0 && best_tile >= 0) {
    char text[200];
    std::snprintf(
        text, sizeof text,
        "gemm_blocked / cuBLAS at %lld^3 %s: %.2f (best tile %d: %.0f vs %.0f GFLOP/s; target >= 0.50)",
        static_cast<long long>(big), dtype_label<T>(), cublas_big / best_big, best_tile,
        2.0 * big * big * big / (best_big * 1e-3) * 1e-9, 2.0 * big * big * big / (cublas_big * 1e-3) * 1e-9);
    lab.line(text);
  }
}

// ---- cuDNN convolution ----------------------------------------------------------------

template <class T>
void bench_conv2d(Lab& lab) {
  if (!lab.selected("conv2d")) return;
  const int64_t batch = 64;
  const int out = 64;
  const ConvGeom g = conv_geom(64, 32, 32, 3, 1, 1);
  const int64_t ckk = int64_t(g.channels) * 9, pixels = int64_t(g.out_h) * g.out_w;
  const int64_t in_image = int64_t(g.channels) * g.height * g.width, out_image = out * pixels;
  const auto x = host_uniform<T>(batch * in_image, 27), w = host_uniform<T>(out * ckk, 28, -0.1, 0.1);
  // The CPU reference forward: im2col + gemm per image.
  std::vector<T> y(static_cast<size_t>(batch * out_image)), cols(static_cast<size_t>(ckk * pixels));
  for (int64_t b = 0; b < batch; ++b) {
    kcpu::im2col<T>(x.data() + b * in_image, cols.data(), g);
    kcpu::gemm<T>(false, false, out, pixels, ckk, T(1), w.data(), ckk, cols.data(), pixels, T(0),
                  y.data() + b * out_image, pixels);
  }
  Tensor dx = upload(x), dw = upload(w), dy = device_empty<T>(batch * out_image);
  Tensor dgx = device_empty<T>(batch * in_image), dgw = device_empty<T>(out * ckk);
  const std::string size =
      dims({batch, g.channels, g.height, g.width}) + " O" + std::to_string(out) + " k3 p1";
  const std::string how = kcuda::conv2d_uses_cudnn() ? "cuDNN" : "im2col+gemm fallback";
  const double flops = 2.0 * batch * out * pixels * ckk;
  auto fwd = [&] { kcuda::conv2d_forward_cudnn<T>(dx.data<T>(), dw.data<T>(), dy.data<T>(), batch, out, g); };
  fwd();
  // cuDNN may pick Winograd or FFT algorithms, exact in exact arithmetic but with larger
  // float32 rounding error than a direct sum.
  const double err =
      scaled_error(download(dy.data<T>(), batch * out_image), y, std::is_same_v<T, float> ? 1e-4 : 1e-12,
                   std::is_same_v<T, float> ? 1e-4 : 1e-13);
  lab.row("conv2d forward", dtype_label<T>(), size, lab.time_ms(fwd), 0, flops, err, how);
  // The backward passes are checked in tests/gpu; here they are timed.
  auto bwd_data = [&] {
    kcuda::conv2d_backward_data_cudnn<T>(dw.data<T>(), dy.data<T>(), dgx.data<T>(), batch, out, g);
  };
  lab.row("conv2d backward data", dtype_label<T>(), size, lab.time_ms(bwd_data), 0, flops, -1, how);
  auto bwd_filter = [&] {
    kcuda::conv2d_backward_filter_cudnn<T>(dx.data<T>(), dy.data<T>(), dgw.data<T>(), batch, out, g);
  };
  lab.row("conv2d backward filter", dtype_label<T>(), size, lab.time_ms(bwd_filter), 0, flops, -1, how);
}

// ---- one MLP training step through the public ops ------------------------------------

void bench_mlp(Lab& lab) {
  if (!lab.selected("mlp")) return;
  const int64_t batch = 128;
  MLP model({784, 1024, 1024, 10}, 1, DType::f32, Device::cuda());
  Adam opt(model.parameters(), {.lr = 1e-3});
  Tensor x = Tensor::randn({batch, 784}, 7, 0, DType::f32, Device::cuda());
  std::vector<int32_t> labels_host(static_cast<size_t>(batch));
  for (int64_t i = 0; i < batch; ++i) labels_host[static_cast<size_t>(i)] = static_cast<int32_t>(i % 10);
  Tensor labels = Tensor::from_vector(labels_host, {batch}, Device::cuda());
  double first_loss = 0, last_loss = 0;
  auto step = [&] {
    Tensor loss = cross_entropy(model.forward(x), labels);
    opt.zero_grad();
    backward(loss);
    opt.step();
    return loss;
  };
  first_loss = step().item();
  for (int i = 0; i < 10; ++i) step();  // warm-up: allocator cache, cuBLAS, module loading
  device_synchronize(Device::cuda());
  std::vector<double> ms;
  for (int i = 0; i < lab.options().mlp_steps; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    Tensor loss = step();
    device_synchronize(Device::cuda());
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    if (i + 1 == lab.options().mlp_steps) last_loss = loss.item();
  }
  std::sort(ms.begin(), ms.end());
  const double median = ms.empty() ? 0 : ms[ms.size() / 2];
  // 3 GEMMs per layer (forward, two backward) over 784*1024 + 1024*1024 + 1024*10 weights.
  const double flops = 3 * 2.0 * batch * (784.0 * 1024 + 1024.0 * 1024 + 1024.0 * 10);
  // Not a tolerance check: the row fails if training on the same batch does not lower the loss.
  const double check = std::isfinite(last_loss) && last_loss < first_loss ? 0.0 : 2.0;
  char note[160];
  std::snprintf(note, sizeof note,
                "median of %d steps; loss %.3f -> %.3f; PyTorch eager Bayesian RT step: 2.95 ms",
                lab.options().mlp_steps, first_loss, last_loss);
  lab.row("MLP 784-1024-1024-10 step", "f32", "batch 128", median, 0, flops, check, note);
}

// ---- the command --------------------------------------------------------------------

int run_lab(const std::vector<std::string>& words) {
  cli::Args args(words, {"reps", "large", "gemm", "mlp-steps", "only"});
  if (!cuda_available()) {
    std::printf(
        "r2g2 bench kernels: no usable CUDA device (%s); the kernel lab needs a GPU. Nothing to do.\n",
        cuda_backend::unavailable_reason().c_str());
    return 0;
  }
  Options o;
  o.reps = static_cast<int>(args.get_int("reps", o.reps));
  o.large = args.get_int("large", o.large);
  o.gemm = args.get_int("gemm", o.gemm);
  o.mlp_steps = static_cast<int>(args.get_int("mlp-steps", o.mlp_steps));
  o.only = args.get("only", "");
  R2G2_CHECK(o.reps >= 1 && o.large >= 1024 && o.gemm >= 16 && o.mlp_steps >= 1,
             "bench kernels: need --reps >= 1, --large >= 1024, --gemm >= 16, --mlp-steps >= 1");
  if (kcuda::allow_tf32()) {
    std::printf("note: R2G2_ALLOW_TF32=1 ignored: the lab measures float32 products without TF32\n");
    kcuda::set_allow_tf32(false);
  }
  Lab lab(o);
  const auto ns = sizes(lab);

  lab.section("elementwise (fixed 256 threads per block)");
  for (const auto& c : kUnary) bench_unary<float>(lab, c, ns);
  bench_unary<double>(lab, kUnary[1], ns);
  for (const auto& c : kUnary)
    if (c.op == UnaryOp::tanh || c.op == UnaryOp::relu) bench_unary_backward<float>(lab, c, ns);
  bench_binary<float>(lab, BinaryOp::add, "add", ns);
  bench_binary<float>(lab, BinaryOp::mul, "mul", ns);
  bench_binary<float>(lab, BinaryOp::div, "div", ns);
  bench_binary_broadcast<float>(lab);
  bench_axpy<float>(lab, ns);

  lab.section("reductions, softmax, losses");
  bench_reduce_sum<float>(lab);
  bench_reduce_sum<double>(lab);
  bench_log_softmax<float>(lab);
  bench_cross_entropy<float>(lab);

  lab.section("gather, random numbers, optimizer");
  bench_gather<float>(lab);
  bench_philox<float>(lab, ns);
  bench_philox<double>(lab, ns);
  bench_adam<float>(lab, ns);

  lab.section("im2col / col2im / max-pooling (block size swept on the last shape)");
  bench_im2col<float>(lab);
  bench_max_pool<float>(lab);

  lab.section("GEMM: cuBLAS and gemm_blocked's tiles (float32 without TF32)");
  bench_gemm<float>(lab);
  bench_gemm<double>(lab);

  lab.section("convolution");
  bench_conv2d<float>(lab);

  lab.section("training step through the public ops (host clock around each step, synchronised)");
  bench_mlp(lab);

  std::printf("\n%s\n", lab.failures() == 0 ? "all checks passed"
                                            : (std::to_string(lab.failures()) + " check(s) FAILED").c_str());
  return lab.failures() == 0 ? 0 : 1;
}

#else  // !R2G2_WITH_CUDA

int run_lab(const std::vector<std::string>& words) {
  r2g2::cli::Args args(words, {"reps", "large", "gemm", "mlp-steps", "only"});
  std::printf(
      "r2g2 bench kernels: r2g2 was built without CUDA; the kernel lab needs a CUDA build and a GPU. "
      "Nothing to do.\n");
  return 0;
}

#endif

}  // namespace

R2G2_COMMAND(
    "bench-kernels", "the CUDA kernel lab (same as `r2g2 bench kernels`)",
    "usage: r2g2 bench kernels [options]      (or: r2g2 bench-kernels [options])\n\n"
    "Checks every hand-written CUDA kernel against its CPU reference at several sizes, then times it\n"
    "(CUDA events, warm-up, L2 flushed between repetitions, median) and prints time, GB/s or GFLOP/s\n"
    "and % of the H200's peak (4.8 TB/s, 67 TFLOP/s FP32). Sweeps the conv/pool block size and\n"
    "gemm_blocked's tiles, compares gemm_blocked with cuBLAS, times cuDNN convolution and one training\n"
    "step of the MLP 784-1024-1024-10 at batch 128. Exits 1 if a check fails; without a GPU it says\n"
    "so and exits 0.\n\n"
    "  --reps N        timed repetitions per row (default 20)\n"
    "  --large N       elements of the large elementwise/reduction cases (default 67108864 = 64M)\n"
    "  --gemm N        size of the large GEMM, N^3 (default 4096)\n"
    "  --mlp-steps N   timed MLP steps (default 100)\n"
    "  --only TEXT     run only the cases whose kernel name contains TEXT (e.g. gemm, max_pool2d, mlp)",
    run_lab);
