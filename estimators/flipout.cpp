// Flipout (Wen et al. 2018): one weight perturbation dW = sigma . E per mini-batch,
// decorrelated across examples by random signs,
//   h_n = mu x_n + bmu + s_n . (dW (r_n . x_n) + bsigma . eb),
// r_n [in] and s_n [out] independent +-1. For each example the perturbation
// (s_n r_n^T) . dW has the distribution of dW, so the estimator is unbiased. The bias
// noise is the extra column of ones with r = 1 (its flip by s_n alone keeps that property).
// Noise order: E [out, in], eb [out] (Gaussian bias only), r [N, in], s [N, out].
// conv2d: conv_est::flipout.
#include "r2g2/core/autograd.h"
#include "r2g2/core/ops.h"
#include "r2g2/estimators/common.h"
#include "r2g2/estimators/table.h"

namespace r2g2::est {

Tensor flipout_linear(EstimatorState&, const Tensor& x, const Tensor& mu, const Tensor& sigma,
                      const Tensor& bias_mu, const Tensor& bias_sigma, Generator& gen) {
  const int64_t N = x.size(0), out = mu.size(0), in = mu.size(1);
  Tensor xd = x.detach(), mud = mu.detach();
  Tensor E, eb, dW, r, s, h;
  {
    NoGrad no_grad;
    E = gen.randn(mu.shape(), mu.dtype(), mu.device());
    dW = mul(sigma.detach(), E);
    Tensor db;
    if (bias_sigma.defined()) {
      eb = gen.randn(bias_mu.shape(), bias_mu.dtype(), bias_mu.device());
      db = mul(bias_sigma.detach(), eb);
    }
    r = random_signs({N, in}, gen, x.dtype(), x.device());
    s = random_signs({N, out}, gen, x.dtype(), x.device());
    Tensor pert = matmul(mul(xd, r), dW.t());
    if (db.defined()) pert = add(pert, db);
    h = add(matmul(xd, mud.t()), mul(s, pert));
    if (bias_mu.defined()) h = add(h, bias_mu.detach());
  }
  return record_node("flipout_linear", h, {x, mu, sigma, bias_mu, bias_sigma},
                     [=](const Tensor& g, Grads& d) {
                       Tensor gs = mul(g, s);  // gradient reaching the perturbation
                       d.put(kX, [&] { return add(matmul(g, mud), mul(r, matmul(gs, dW))); });
                       d.put(kMu, [&] { return matmul(g.t(), xd); });
                       d.put(kSigma, [&] { return mul(matmul(gs.t(), mul(xd, r)), E); });
                       d.put(kBiasMu, [&] { return sum(g, {0}); });
                       d.put(kBiasSigma, [&] { return mul(sum(gs, {0}), eb); });
                     });
}

}  // namespace r2g2::est
