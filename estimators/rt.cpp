// RT: the reparameterisation trick with one weight sample shared by the mini-batch
// ("Bayes by Backprop"). Its gradient is the pathwise derivative for fixed noise.
// conv2d: conv_est::rt.
#include "r2g2/core/autograd.h"
#include "r2g2/core/ops.h"
#include "r2g2/estimators/common.h"
#include "r2g2/estimators/table.h"

namespace r2g2::est {

Tensor rt_linear(EstimatorState&, const Tensor& x, const Tensor& mu, const Tensor& sigma,
                 const Tensor& bias_mu, const Tensor& bias_sigma, Generator& gen) {
  SharedSample s = draw_shared_sample(mu, sigma, bias_mu, bias_sigma, gen);
  Tensor h;
  {
    NoGrad no_grad;
    h = linear_apply(x.detach(), s.W, s.b);
  }
  Tensor xd = x.detach(), W = s.W, E = s.E, eb = s.eb;
  return record_node("rt_linear", h, {x, mu, sigma, bias_mu, bias_sigma}, [=](const Tensor& g, Grads& d) {
    d.put(kX, [&] { return matmul(g, W); });
    if (d.any(kMu, kSigma)) {
      Tensor gW = matmul(g.t(), xd);
      d.put(kSigma, [&] { return mul(gW, E); });
      d.put(kMu, [&] { return gW; });
    }
    if (d.any(kBiasMu, kBiasSigma)) {
      Tensor gb = sum(g, {0});
      d.put(kBiasSigma, [&] { return mul(gb, eb); });
      d.put(kBiasMu, [&] { return gb; });
    }
  });
}

Tensor rt_latent_linear(EstimatorState&, const Tensor& mu, const Tensor& sigma, const Tensor& weight,
                        const Tensor& bias, Generator& gen) {
  Tensor eps;
  Tensor h = latent_forward(mu, sigma, weight, bias, gen, &eps);
  return record_latent_linear("rt_latent_linear", h, mu, sigma, weight, bias, eps);
}

}  // namespace r2g2::est
