// Kernel lab: the library-level comparisons. cuDNN convolution (CUDA only) and one
// training step of an MLP through the public ops, on the lab's device.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "r2g2/core/autograd.h"
#include "r2g2/core/ops.h"
#include "r2g2/core/optim.h"
#include "r2g2/models/mlp.h"
#include "tools/kernel_lab.h"
#if R2G2_WITH_CUDA
#include "r2g2/kernels/cpu/conv.h"
#include "r2g2/kernels/cpu/gemm.h"
#include "r2g2/kernels/cuda/conv.h"
#endif

namespace {

using namespace r2g2;
using namespace r2g2::lab;

#if R2G2_WITH_CUDA
namespace kcpu = r2g2::kernels::cpu;
namespace kcuda = r2g2::kernels::cuda;

template <class T>
void bench_conv2d(Lab& lab) {
  if (!lab.selected("conv2d")) return;
  const int64_t batch = 64;
  const int out = 64;
  const kernels::ConvGeom g = kernels::make_conv_geom(64, 32, 32, 3, 3, 1, 1);
  const int64_t ckk = g.patch_size(), pixels = g.positions();
  const int64_t in_image = g.image_size(), out_image = out * pixels;
  const auto x = host_uniform<T>(batch * in_image, 27), w = host_uniform<T>(out * ckk, 28, -0.1, 0.1);
  // The CPU reference forward: im2col + gemm per image.
  std::vector<T> y(static_cast<size_t>(batch * out_image)), cols(static_cast<size_t>(ckk * pixels));
  for (int64_t b = 0; b < batch; ++b) {
    kcpu::im2col<T>(x.data() + b * in_image, cols.data(), g);
    kcpu::gemm<T>(false, false, out, pixels, ckk, T(1), w.data(), ckk, cols.data(), pixels, T(0),
                  y.data() + b * out_image, pixels);
  }
  Tensor dx = lab.upload(x), dw = lab.upload(w), dy = lab.empty<T>(batch * out_image);
  Tensor dgx = lab.empty<T>(batch * in_image), dgw = lab.empty<T>(out * ckk);
  const std::string size =
      dims({batch, g.channels, g.height, g.width}) + " O" + std::to_string(out) + " k3 p1";
  const std::string how = kcuda::conv2d_uses_cudnn() ? "cuDNN" : "im2col+gemm fallback";
  const double flops = 2.0 * batch * out * pixels * ckk;
  auto fwd = [&] { kcuda::conv2d_forward_cudnn<T>(dx.data<T>(), dw.data<T>(), dy.data<T>(), batch, out, g); };
  fwd();
  // cuDNN may pick Winograd or FFT algorithms, exact in exact arithmetic but with larger
  // float32 rounding error than a direct sum.
  const double tol = std::is_same_v<T, float> ? 1e-4 : 1e-12;
  const double err = scaled_error(lab.download(dy.data<T>(), batch * out_image), y, tol, tol);
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

void run_conv2d(Lab& lab) { bench_conv2d<float>(lab); }

R2G2_BENCH("cudnn_conv", "conv2d forward, backward data, backward filter (cuDNN)", "convolution", 90, true,
           run_conv2d);
#endif

// Host clock around each step, synchronised: the step is many launches, not one kernel.
void bench_mlp(Lab& lab) {
  if (!lab.selected("MLP 784-1024-1024-10 step")) return;
  const int64_t batch = 128;
  const Device device = lab.device();
  MLP model({784, 1024, 1024, 10}, 1, DType::f32, device);
  Adam opt(model.parameters(), {.lr = 1e-3});
  Tensor x = Tensor::randn({batch, 784}, 7, 0, DType::f32, device);
  std::vector<int32_t> labels_host(static_cast<size_t>(batch));
  for (int64_t i = 0; i < batch; ++i) labels_host[static_cast<size_t>(i)] = static_cast<int32_t>(i % 10);
  Tensor labels = Tensor::from_vector(labels_host, {batch}, device);
  auto step = [&] {
    Tensor loss = cross_entropy(model.forward(x), labels);
    opt.zero_grad();
    backward(loss);
    opt.step();
    return loss;
  };
  const double first_loss = step().item();
  for (int i = 0; i < (lab.on_cuda() ? 10 : 1); ++i) step();  // warm-up: allocator cache, cuBLAS, modules
  device_synchronize(device);
  std::vector<double> ms;
  double last_loss = 0;
  for (int i = 0; i < lab.options().mlp_steps; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    Tensor loss = step();
    device_synchronize(device);
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
  std::snprintf(note, sizeof note, "median of %d steps; loss %.3f -> %.3f%s", lab.options().mlp_steps,
                first_loss, last_loss, lab.on_cuda() ? "; PyTorch eager Bayesian RT step: 2.95 ms" : "");
  lab.row("MLP 784-1024-1024-10 step", "f32", "batch 128", median, 0, flops, check, note);
}

R2G2_BENCH("mlp", "MLP 784-1024-1024-10 training step (public ops, Adam)",
           "training step through the public ops (host clock around each step, synchronised)", 100, false,
           bench_mlp);

}  // namespace
