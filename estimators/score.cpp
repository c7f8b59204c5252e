// Score function (REINFORCE): the high-variance reference point of the variance tables.
// The forward uses a detached sample (no pathwise gradient reaches mu or sigma; the
// gradient to the layer input and to a following deterministic weight still flows),
// and keeps log q(sample; mu, sigma) in the layer's state. Estimator::score_surrogate(loss)
// returns stopgrad(loss) * sum log q, which the model adds as (s - s.detach()), so that
// autodiff delivers loss * eps / sigma to mu and loss * (eps^2 - 1) / sigma to sigma.
// log q is kept up to its additive constant, which has no gradient.
#include "r2g2/core/autograd.h"
#include "r2g2/core/ops.h"
#include "r2g2/estimators/common.h"
#include "r2g2/estimators/table.h"

namespace r2g2::est {

namespace {

// sum over elements of log N(value; mu, sigma^2) + const, recorded (gradients to mu, sigma).
Tensor log_density(const Tensor& value, const Tensor& mu, const Tensor& sigma) {
  Tensor z = div(sub(value, mu), sigma);
  return sub(mul(sum(square(z)), -0.5), sum(log(sigma)));
}

}  // namespace

Tensor score_linear(EstimatorState& state, const Tensor& x, const Tensor& mu, const Tensor& sigma,
                    const Tensor& bias_mu, const Tensor& bias_sigma, Generator& gen) {
  SharedSample s = draw_shared_sample(mu, sigma, bias_mu, bias_sigma, gen);
  Tensor h = matmul(x, s.W.t());  // s.W is a constant: only x gets a pathwise gradient
  Tensor lq = log_density(s.W, mu, sigma);
  if (bias_sigma.defined()) {
    h = add(h, s.b);
    lq = add(lq, log_density(s.b, bias_mu, bias_sigma));
  } else if (bias_mu.defined()) {
    h = add(h, bias_mu);  // a deterministic bias keeps its ordinary gradient
  }
  state.add_log_q(lq);
  return h;
}

Tensor score_latent_linear(EstimatorState& state, const Tensor& mu, const Tensor& sigma, const Tensor& weight,
                           const Tensor& bias, Generator& gen) {
  Tensor z;
  {
    NoGrad no_grad;
    Tensor eps = gen.randn(mu.shape(), mu.dtype(), mu.device());
    z = add(mu.detach(), mul(sigma.detach(), eps));
  }
  Tensor h = matmul(z, weight.t());
  if (bias.defined()) h = add(h, bias);
  state.add_log_q(log_density(z, mu, sigma));
  return h;
}

Tensor score_conv2d(EstimatorState& state, const Tensor& x, const Tensor& mu, const Tensor& sigma,
                    Conv2dParams p, Generator& gen) {
  Tensor W;
  {
    NoGrad no_grad;
    Tensor E = gen.randn(mu.shape(), mu.dtype(), mu.device());
    W = add(mu.detach(), mul(sigma.detach(), E));
  }
  Tensor h = r2g2::conv2d(x, W, Tensor(), p);
  state.add_log_q(log_density(W, mu, sigma));
  return h;
}

}  // namespace r2g2::est
