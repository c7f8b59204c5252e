// Flipout (Wen et al. 2018): one weight perturbation dW = sigma . E per mini-batch,
// decorrelated across examples by random signs,
//   h_n = mu x_n + bmu + s_n . (dW (r_n . x_n) + bsigma . eb),
// r_n [in] and s_n [out] independent +-1. For each example the perturbation
// (s_n r_n^T) . dW has the distribution of dW, so the estimator is unbiased. The bias
// noise is the extra column of ones with r = 1 (its flip by s_n alone keeps that property).
// Noise order: E [out, in], eb [out] (Gaussian bias only), r [N, in], s [N, out].
#include "core/autograd.h"
#include "core/ops.h"
#include "estimators/common.h"
#include "estimators/conv/conv_estimators.h"
#include "estimators/factories.h"

namespace r2g2::est {

namespace {

class Flipout : public Estimator {
 public:
  std::string name() const override { return "flipout"; }

  Tensor linear(const Tensor& x, const Tensor& mu, const Tensor& sigma, const Tensor& bias_mu,
                const Tensor& bias_sigma, Generator& gen) override {
    check_linear_args("flipout", x, mu, sigma, bias_mu, bias_sigma);
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
    const bool need_x = x.requires_grad(), need_mu = mu.requires_grad(), need_sigma = sigma.requires_grad();
    const bool need_bmu = bias_mu.defined() && bias_mu.requires_grad();
    const bool need_bsigma = bias_sigma.defined() && bias_sigma.requires_grad();
    return record("flipout_linear", h, {x, mu, sigma, bias_mu, bias_sigma}, [=](const Tensor& g) {
      Tensor gx, gmu, gsigma, gbmu, gbsigma;
      Tensor gs = mul(g, s);  // gradient reaching the perturbation
      if (need_x) gx = add(matmul(g, mud), mul(r, matmul(gs, dW)));
      if (need_mu) gmu = matmul(g.t(), xd);
      if (need_sigma) gsigma = mul(matmul(gs.t(), mul(xd, r)), E);
      if (need_bmu) gbmu = sum(g, {0});
      if (need_bsigma) gbsigma = mul(sum(gs, {0}), eb);
      return std::vector<Tensor>{gx, gmu, gsigma, gbmu, gbsigma};
    });
  }

  Tensor latent_linear(const Tensor&, const Tensor&, const Tensor&, const Tensor&, Generator&) override {
    unsupported("flipout", "Gaussian latent followed by a linear layer",
                "Flipout decorrelates a weight sample shared by the mini-batch, but a latent already has "
                "independent noise per example; use rt or r2g2");
  }

  Tensor conv2d(const Tensor& x, const Tensor& mu, const Tensor& sigma, Conv2dParams p,
                Generator& gen) override {
    check_conv_args("flipout", x, mu, sigma);
    return conv_est::flipout(x, mu, sigma, p, gen);
  }
};

}  // namespace

std::unique_ptr<Estimator> make_flipout(const EstimatorOptions&) { return std::make_unique<Flipout>(); }

}  // namespace r2g2::est
