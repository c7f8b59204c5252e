// RT with an independent weight sample per example: exact per-example noise at N times
// the weight-sized work. The noise is regenerated in backward from the counter-based
// generator instead of being stored (N x out x in numbers), and both passes run over
// chunks of examples so that memory stays bounded.
// conv2d: conv_est::rt_per_example. A latent already has one independent sample per
// example, so on a latent this is rt (the table points there).
#include <algorithm>

#include "r2g2/core/autograd.h"
#include "r2g2/core/ops.h"
#include "r2g2/estimators/common.h"
#include "r2g2/estimators/table.h"

namespace r2g2::est {

namespace {
constexpr int64_t kChunkElements = int64_t(1) << 22;  // weight-sized numbers per chunk (16 MB in float32)
}  // namespace

// Noise layout: E [N, out, in] (element (n, i, j) is number offset + (n out + i) in + j),
// then eb [N, out] for a Gaussian bias.
Tensor rt_per_example_linear(EstimatorState&, const Tensor& x, const Tensor& mu, const Tensor& sigma,
                             const Tensor& bias_mu, const Tensor& bias_sigma, Generator& gen) {
  const int64_t N = x.size(0), out = mu.size(0), in = mu.size(1);
  const uint64_t seed = gen.seed;
  const uint64_t base = gen.take(static_cast<uint64_t>(N * out * in));
  const int64_t chunk = std::max<int64_t>(1, kChunkElements / std::max<int64_t>(1, out * in));
  const DType dt = mu.dtype();
  const Device dev = mu.device();
  Tensor xd = x.detach(), mud = mu.detach(), sd = sigma.detach();
  Tensor mu3 = mud.reshape({1, out, in}), s3 = sd.reshape({1, out, in});
  auto noise = [=](int64_t n0, int64_t c) {
    return Tensor::randn({c, out, in}, seed, base + static_cast<uint64_t>(n0 * out * in), dt, dev);
  };
  Tensor h, eb;
  {
    NoGrad no_grad;
    std::vector<Tensor> parts;
    for (int64_t n0 = 0; n0 < N; n0 += chunk) {
      const int64_t c = std::min(chunk, N - n0);
      Tensor Wc = add(mu3, mul(s3, noise(n0, c)));  // [c, out, in]
      Tensor xc = xd.slice(0, n0, n0 + c).contiguous().reshape({c, in, 1});
      parts.push_back(matmul(Wc, xc).reshape({c, out}));
    }
    h = parts.size() == 1 ? parts[0] : concat(parts, 0);
    if (bias_mu.defined()) {
      Tensor b = bias_mu.detach();
      if (bias_sigma.defined()) {
        eb = gen.randn({N, out}, dt, dev);
        b = add(b, mul(bias_sigma.detach(), eb));
      }
      h = add(h, b);
    }
  }
  auto backward = [=](const Tensor& g, Grads& d) {
    d.put(kMu, [&] { return matmul(g.t(), xd); });
    if (d.any(kX, kSigma)) {
      Tensor gsigma;
      std::vector<Tensor> gx_parts;
      for (int64_t n0 = 0; n0 < N; n0 += chunk) {
        const int64_t c = std::min(chunk, N - n0);
        Tensor Ec = noise(n0, c);
        Tensor gc = g.slice(0, n0, n0 + c).contiguous();
        if (d.need(kSigma)) {  // sum_n (g_n x_n^T) . E_n
          Tensor xc = xd.slice(0, n0, n0 + c).contiguous().reshape({c, 1, in});
          Tensor outer = matmul(gc.reshape({c, out, 1}), xc);
          Tensor part = sum(mul(outer, Ec), {0});
          gsigma = gsigma.defined() ? add(gsigma, part) : part;
        }
        if (d.need(kX)) {  // W_n^T g_n
          Tensor Wc = add(mu3, mul(s3, Ec));
          gx_parts.push_back(matmul(gc.reshape({c, 1, out}), Wc).reshape({c, in}));
        }
      }
      d.put(kSigma, [&] { return gsigma; });
      d.put(kX, [&] { return gx_parts.size() == 1 ? gx_parts[0] : concat(gx_parts, 0); });
    }
    d.put(kBiasMu, [&] { return sum(g, {0}); });
    d.put(kBiasSigma, [&] { return sum(mul(g, eb), {0}); });
  };
  return record_node("rt_per_example_linear", h, {x, mu, sigma, bias_mu, bias_sigma}, backward);
}

}  // namespace r2g2::est
