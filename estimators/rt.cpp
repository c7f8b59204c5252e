// RT: the reparameterisation trick with one weight sample shared by the mini-batch
// ("Bayes by Backprop"). Its gradient is the pathwise derivative for fixed noise.
#include "core/autograd.h"
#include "core/ops.h"
#include "estimators/common.h"
#include "estimators/conv/conv_estimators.h"
#include "estimators/factories.h"

namespace r2g2::est {

namespace {

class RT : public Estimator {
 public:
  std::string name() const override { return "rt"; }

  Tensor linear(const Tensor& x, const Tensor& mu, const Tensor& sigma, const Tensor& bias_mu,
                const Tensor& bias_sigma, Generator& gen) override {
    check_linear_args("rt", x, mu, sigma, bias_mu, bias_sigma);
    SharedSample s = draw_shared_sample(mu, sigma, bias_mu, bias_sigma, gen);
    Tensor h;
    {
      NoGrad no_grad;
      h = linear_apply(x.detach(), s.W, s.b);
    }
    Tensor xd = x.detach(), W = s.W, E = s.E, eb = s.eb;
    const bool need_x = x.requires_grad(), need_mu = mu.requires_grad(), need_sigma = sigma.requires_grad();
    const bool need_bmu = bias_mu.defined() && bias_mu.requires_grad();
    const bool need_bsigma = bias_sigma.defined() && bias_sigma.requires_grad();
    return record("rt_linear", h, {x, mu, sigma, bias_mu, bias_sigma}, [=](const Tensor& g) {
      Tensor gx, gmu, gsigma, gbmu, gbsigma;
      if (need_x) gx = matmul(g, W);
      if (need_mu || need_sigma) {
        Tensor gW = matmul(g.t(), xd);
        if (need_sigma) gsigma = mul(gW, E);
        if (need_mu) gmu = gW;
      }
      if (need_bmu || need_bsigma) {
        Tensor gb = sum(g, {0});
        if (need_bsigma) gbsigma = mul(gb, eb);
        if (need_bmu) gbmu = gb;
      }
      return std::vector<Tensor>{gx, gmu, gsigma, gbmu, gbsigma};
    });
  }

  Tensor latent_linear(const Tensor& mu, const Tensor& sigma, const Tensor& weight, const Tensor& bias,
                       Generator& gen) override {
    check_latent_args("rt", mu, sigma, weight, bias);
    Tensor eps;
    Tensor h = latent_forward(mu, sigma, weight, bias, gen, &eps);
    return record_latent_linear("rt_latent_linear", h, mu, sigma, weight, bias, eps);
  }

  Tensor conv2d(const Tensor& x, const Tensor& mu, const Tensor& sigma, Conv2dParams p,
                Generator& gen) override {
    check_conv_args("rt", x, mu, sigma);
    return conv_est::rt(x, mu, sigma, p, gen);
  }
};

}  // namespace

std::unique_ptr<Estimator> make_rt(const EstimatorOptions&) { return std::make_unique<RT>(); }

}  // namespace r2g2::est
