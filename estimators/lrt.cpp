// LRT: the local reparameterisation trick. Per example and output unit the
// pre-activation of a mean-field linear layer is Gaussian,
//   h_ni ~ N(mu_i . x_n + bmu_i, v_ni),  v_ni = sum_j sigma_ij^2 x_nj^2 + bsigma_i^2,
// so it is sampled directly: h = mean + sqrt(v) xi. The gradient is the pathwise one
// through sqrt: dLoss/dv = g xi / (2 sqrt v), set to 0 where v = 0 (an all-zero input
// row), where autodiff through sqrt would give 0 * inf = NaN.
// Valid only when K is diagonal: not for conv layers or latents followed by a layer.
#include "core/autograd.h"
#include "core/ops.h"
#include "estimators/common.h"
#include "estimators/factories.h"

namespace r2g2::est {

namespace {

class LRT : public Estimator {
 public:
  std::string name() const override { return "lrt"; }

  Tensor linear(const Tensor& x, const Tensor& mu, const Tensor& sigma, const Tensor& bias_mu,
                const Tensor& bias_sigma, Generator& gen) override {
    check_linear_args("lrt", x, mu, sigma, bias_mu, bias_sigma);
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
    const bool need_x = x.requires_grad(), need_mu = mu.requires_grad(), need_sigma = sigma.requires_grad();
    const bool need_bmu = bias_mu.defined() && bias_mu.requires_grad();
    const bool need_bsigma = bsd.defined() && bias_sigma.requires_grad();
    return record("lrt_linear", h, {x, mu, sigma, bias_mu, bias_sigma}, [=](const Tensor& g) {
      Tensor gx, gmu, gsigma, gbmu, gbsigma;
      Tensor gv2 = mul(g, q);  // 2 dLoss/dv
      // v = x^2 (sigma^2)^T: dv/dsigma_ij = 2 sigma_ij x_nj^2, dv/dx_nj = 2 x_nj sigma_ij^2.
      if (need_x) gx = add(matmul(g, mud), mul(xd, matmul(gv2, s2)));
      if (need_mu) gmu = matmul(g.t(), xd);
      if (need_sigma) gsigma = mul(sd, matmul(gv2.t(), x2));
      if (need_bmu) gbmu = sum(g, {0});
      if (need_bsigma) gbsigma = mul(bsd, sum(gv2, {0}));
      return std::vector<Tensor>{gx, gmu, gsigma, gbmu, gbsigma};
    });
  }

  Tensor latent_linear(const Tensor&, const Tensor&, const Tensor&, const Tensor&, Generator&) override {
    unsupported(
        "lrt", "Gaussian latent followed by a linear layer",
        "LRT needs a diagonal K, but here K = W diag(sigma^2) W^T couples the outputs; use rt or r2g2");
  }

  Tensor conv2d(const Tensor&, const Tensor&, const Tensor&, Conv2dParams, Generator&) override {
    unsupported("lrt", "conv2d layer",
                "LRT needs a diagonal K, but a convolution shares each weight across output positions, "
                "so K = X^T diag(sigma^2) X is not diagonal; use rt, flipout or r2g2");
  }
};

}  // namespace

std::unique_ptr<Estimator> make_lrt(const EstimatorOptions&) { return std::make_unique<LRT>(); }

}  // namespace r2g2::est
