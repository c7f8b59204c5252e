#include "tools/bench_models_r2g2_layers.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <string>

#include "r2g2/core/autograd.h"
#include "r2g2/core/ops.h"
#include "r2g2/layers/bayes_conv2d.h"
#include "r2g2/models/bayes_vgg.h"

namespace r2g2::bench {

namespace {

double median_ms(int reps, const std::function<void()>& run, Device device) {
  run();  // warm-up: first-touch allocations, thread pool start
  device_synchronize(device);
  std::vector<double> ms;
  for (int i = 0; i < reps; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    run();
    device_synchronize(device);
    ms.push_back(1e3 * std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

// Floating-point operations per second of one [m, k] x [k, n] matmul of `dtype`.
double gemm_rate(int64_t m, int64_t n, int64_t k, DType dtype, Device device, int reps) {
  NoGrad no_grad;
  Tensor a = Tensor::randn({m, k}, 11, 0, dtype).to(device), b = Tensor::randn({k, n}, 12, 0, dtype).to(device);
  const double ms = median_ms(reps, [&] { matmul(a, b); }, device);
  return 2.0 * static_cast<double>(m * n * k) / (ms * 1e-3);
}

// Forward and backward of one layer with `estimator`: sum(h * probe) as the loss, so that
// every output gets a gradient, and x requiring one as a hidden layer's input does.
double layer_ms(const ConvLayerShape& s, int64_t images, const std::string& estimator, int reps, Device device,
                uint64_t seed) {
  BayesConv2dOptions o;
  o.padding = 1;
  o.estimator = estimator;
  o.seed = seed;
  BayesConv2d layer(s.channels, s.out_channels, 3, o);
  layer.to(device);
  Tensor x = mul(add(tanh(Tensor::randn({images, s.channels, s.size, s.size}, seed + 7, 0)), 1.0), 0.5);
  x = x.to(device);
  x.requires_grad_(true);
  Tensor probe = Tensor::randn({images, s.out_channels, s.size, s.size}, seed + 8, 0).to(device);
  return median_ms(reps, [&] {
    backward(sum(mul(layer.forward(x), probe)));
    layer.zero_grad();
    x.zero_grad();
  }, device);
}

// The multiply-adds R2-G2's exact conv solve adds to a layer, counted from its shapes as
// the cost model of kernels/cpu/r2g2_conv_direct.cpp counts them (flops = 2 per
// multiply-add): per image n and output channel c, the right-hand side A_nc eps_c
// (D x P), K_nc = X_nᵀ diag(s_c²) X_n over the P(P+1)/2 pairs (plus forming the pair
// products once per image), the P x P solve (P³/3 + 4P²), all in float64; and eps* = s ⊙
// X_n beta (P x D) in the layer's float32.
struct ExtraFlops {
  double f64 = 0, f32 = 0;
};
ExtraFlops r2g2_extra_flops(const ConvLayerShape& s, int64_t images) {
  const double N = static_cast<double>(images), O = static_cast<double>(s.out_channels),
               D = static_cast<double>(s.channels * 9), P = static_cast<double>(s.size * s.size),
               pairs = P * (P + 1) / 2;
  ExtraFlops f;
  f.f64 = N * (2 * O * D * P + 2 * O * D * pairs + D * pairs + O * (P * P * P / 3 + 4 * P * P));
  f.f32 = N * 2 * O * P * D;
  return f;
}

}  // namespace

std::vector<ConvLayerShape> vgg_estimator_conv_layers(int64_t width_divisor) {
  const BayesVGGConfig cfg;
  std::vector<ConvLayerShape> out;
  int64_t channels = cfg.in_channels, size = cfg.image_size;
  int conv_index = 0;
  for (int width : cfg.layers) {
    if (width == 0) {
      size /= 2;
      continue;
    }
    const int64_t o = std::max<int64_t>(1, width / width_divisor);
    if (conv_index++ >= cfg.rt_conv_layers) out.push_back({channels, o, size});
    channels = o;
  }
  return out;
}

void print_r2g2_conv_layer_table(const std::vector<ConvLayerShape>& layers, int64_t images, int reps,
                                 Device device, uint64_t seed) {
  if (layers.empty()) return;
  // A representative GEMM: the widest layer's rhs product, [O, D] x [D, N P].
  const ConvLayerShape& big = *std::max_element(layers.begin(), layers.end(), [](const auto& a, const auto& b) {
    return a.out_channels * a.channels < b.out_channels * b.channels;
  });
  const int64_t gm = big.out_channels, gk = big.channels * 9, gn = images * big.size * big.size;
  const double f32_rate = gemm_rate(gm, gn, gk, DType::f32, device, reps);
  const double f64_rate = gemm_rate(gm, gn, gk, DType::f64, device, reps);
  std::printf(
      "\nR2-G2 conv layers, one at a time (batch %lld, forward + backward, median of %d): GEMM [%lld x %lld] x "
      "[%lld x %lld] at %.1f GFLOP/s float32, %.1f GFLOP/s float64\n",
      (long long)images, reps, (long long)gm, (long long)gk, (long long)gk, (long long)gn, f32_rate * 1e-9,
      f64_rate * 1e-9);
  std::printf("%-5s %-22s %9s %9s %10s %12s %6s\n", "layer", "x -> out (3x3, pad 1)", "rt ms", "r2g2 ms",
              "extra ms", "FLOP-time ms", "ratio");
  for (size_t i = 0; i < layers.size(); ++i) {
    const ConvLayerShape& s = layers[i];
    const double rt = layer_ms(s, images, "rt", reps, device, seed + 31 * i);
    const double r2 = layer_ms(s, images, "r2g2", reps, device, seed + 31 * i);
    const ExtraFlops f = r2g2_extra_flops(s, images);
    const double flop_ms = 1e3 * (f.f64 / f64_rate + f.f32 / f32_rate);
    char shape[64];
    std::snprintf(shape, sizeof shape, "%lldx%lldx%lld -> %lld", (long long)s.channels, (long long)s.size,
                  (long long)s.size, (long long)s.out_channels);
    std::printf("%-5zu %-22s %9.2f %9.2f %10.2f %12.2f %6.2f\n", i + 1, shape, rt, r2, r2 - rt, flop_ms,
                flop_ms > 0 ? (r2 - rt) / flop_ms : 0.0);
    std::fflush(stdout);
  }
  std::printf(
      "extra: r2g2 ms - rt ms of the layer alone; FLOP-time: the multiply-adds the exact solve adds (rhs,\n"
      "K over the P(P+1)/2 position pairs and the P x P solves in float64, eps* = s X beta in float32) at\n"
      "the GEMM rates above; ratio = extra / FLOP-time.\n");
}

}  // namespace r2g2::bench
