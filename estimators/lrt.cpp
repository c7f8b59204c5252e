// LRT: the local reparameterisation trick. Per example and output unit the
// pre-activation of a mean-field linear layer is Gaussian,
//   h_ni ~ N(mu_i . x_n + bmu_i, v_ni),  v_ni = sum_j sigma_ij^2 x_nj^2 + bsigma_i^2,
// so it is sampled directly: h = mean + sqrt(v) xi. The gradient is the pathwise one
// through sqrt: dLoss/dv = g xi / (2 sqrt v), set to 0 where v = 0 (an all-zero input
// row), where autodiff through sqrt would give 0 * inf = NaN.
// Valid only when K is diagonal: not for conv layers or latents followed by a layer
// (the table in registry.cpp says why).
#include "r2g2/core/autograd.h"
#include "r2g2/core/ops.h"
#include "r2g2/estimators/common.h"
#include "r2g2/estimators/table.h"

namespace r2g2::est {

Tensor lrt_linear(EstimatorState&, const Tensor& x, const Tensor& mu, const Tensor& sigma,
                  const Tensor& bias_mu, const Tensor& bias_sigma, Generator& gen) {
  Tensor xd = x.detach(), mud = mu.detach(), sd = sigma.detach(), bsd = detached(bias_sigma);
  Tensor h, q, x2, s2;  // x^2 and sigma^2 serve the forward and the backward
  {
    NoGrad no_grad;
    x2 = square(xd);
    s2 = square(sd);
    Tensor mean = matmul(xd, mud.t());
    if (bias_mu.defined()) mean = add(mean, bias_mu.detach());
    Tensor v = matmul(x2, s2.t());
    if (bsd.defined()) v = add(v, square(bsd));
    Tensor xi = gen.randn(mean.shape(), mean.dtype(), mean.device());
    lrt_sample(mean, v, xi, &h, &q);  // q = xi / sqrt(v), 0 where v = 0
  }
  return record_node("lrt_linear", h, {x, mu, sigma, bias_mu, bias_sigma}, [=](const Tensor& g, Grads& d) {
    Tensor gv2 = mul(g, q);  // 2 dLoss/dv
    // v = x^2 (sigma^2)^T: dv/dsigma_ij = 2 sigma_ij x_nj^2, dv/dx_nj = 2 x_nj sigma_ij^2.
    d.put(kX, [&] { return add(matmul(g, mud), mul(xd, matmul(gv2, s2))); });
    d.put(kMu, [&] { return matmul(g.t(), xd); });
    d.put(kSigma, [&] { return mul(sd, matmul(gv2.t(), x2)); });
    d.put(kBiasMu, [&] { return sum(g, {0}); });
    d.put(kBiasSigma, [&] { return mul(bsd, sum(gv2, {0})); });
  });
}

}  // namespace r2g2::est
