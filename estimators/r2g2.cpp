// R2-G2, the Rao-Blackwellised reparameterisation gradient: the RT backward with the
// noise eps replaced by eps* = E[eps | h], the projection of eps onto the row space of
// A = L diag(sigma); the forward value is the sampled h itself (estimators/README.md).
//
// Bayesian linear (one system per example and output unit, m = 1): K = v_ni and
//   eps*_nij = sigma_ij x_nj r_ni / v_ni,  r = h - mean,  v = x^2 (sigma^2)^T (+ bsigma^2),
// so with beta = r / v (0 where v = 0):
//   dLoss/dsigma = sigma . ((g . beta)^T x^2)          one GEMM, no per-example weights
//   dLoss/dx     = g mu + x . ((g . beta) sigma^2)      (g (mu + sigma . eps*)^T summed over units)
//   dLoss/dmu    = g^T x,  bias: the extra column of ones.
// h is sampled LRT-style (default: r = sqrt(v) xi) or from one shared weight sample
// (r2g2-shared: exactly rt's forward, r = x (sigma . E)^T + bsigma . eb).
// Latent -> linear: see estimators/r2g2_latent.h. Conv: estimators/conv/.
#include <functional>

#include "r2g2/core/autograd.h"
#include "r2g2/core/ops.h"
#include "r2g2/estimators/common.h"
#include "r2g2/estimators/conv/conv_estimators.h"
#include "r2g2/estimators/r2g2_latent.h"
#include "r2g2/estimators/table.h"

namespace r2g2::est {

namespace {

// v = x^2 (sigma^2)^T (+ bsigma^2) from the squares.
Tensor variance(const Tensor& x2, const Tensor& s2, const Tensor& bsd) {
  Tensor v = matmul(x2, s2.t());
  return bsd.defined() ? add(v, square(bsd)) : v;
}

}  // namespace

Tensor r2g2_linear(EstimatorState& state, const Tensor& x, const Tensor& mu, const Tensor& sigma,
                   const Tensor& bias_mu, const Tensor& bias_sigma, Generator& gen) {
  const EstimatorOptions& options = state.options;
  const int64_t N = x.size(0), out = mu.size(0);
  const int64_t D = mu.size(1) + (bias_sigma.defined() ? 1 : 0);
  Tensor xd = x.detach(), mud = mu.detach(), sd = sigma.detach(), bsd = detached(bias_sigma);
  const bool needed = needs_grad({&x, &mu, &sigma, &bias_mu, &bias_sigma});
  Tensor h, r, v, x2, s2;  // x^2 and sigma^2 serve v and the backward
  Tensor E, eb;            // the shared weight noise (shared sample only), for the diagnostics
  {
    NoGrad no_grad;
    x2 = square(xd);
    s2 = square(sd);
    if (options.r2g2_shared_sample) {
      SharedSample s = draw_shared_sample(mu, sigma, bias_mu, bias_sigma, gen);
      h = linear_apply(xd, s.W, s.b);  // bit-identical to rt for the same noise
      if (needed) {
        r = matmul(xd, mul(sd, s.E).t());
        if (bsd.defined()) r = add(r, mul(bsd, s.eb));
        E = s.E;
        eb = s.eb;
      }
    } else {
      Tensor mean = matmul(xd, mud.t());
      if (bias_mu.defined()) mean = add(mean, bias_mu.detach());
      v = variance(x2, s2, bsd);
      Tensor xi = gen.randn(mean.shape(), mean.dtype(), mean.device());
      r = mul(sqrt(v), xi);
      h = add(mean, r);
    }
  }
  if (!needed) return h;  // evaluation: no gradient, no solve
  Tensor beta;
  {
    NoGrad no_grad;
    if (!v.defined()) v = variance(x2, s2, bsd);
    beta = r2g2_ratio(r, v, options.r2g2);  // K beta = r for every (n, i); 0 where v = 0
    const bool shared = options.r2g2_shared_sample;
    const double expected = static_cast<double>(N * out * D);
    const bool paper = options.r2g2.solver == R2G2Solver::paper;
    // Computed only when someone asks (it reads values back from the device).
    state.set_diagnostics([v, beta, E, eb, shared, expected, N, out, paper]() {
      NoGrad ng;
      R2G2Diagnostics d;
      d.systems = N * out;
      d.method = std::string(paper ? "paper rule on " : "") +
                 (shared ? "closed form, shared weight sample" : "closed form, LRT-style sampling");
      // ||eps*_ni||^2 = sum_j sigma_ij^2 x_nj^2 beta_ni^2 = v beta^2 (= r^2 / v for the exact beta).
      const double kept = sum(mul(v, square(beta))).item();
      // The shared draw counts once per example; with LRT-style sampling no weight noise is
      // drawn and ||eps||^2 is its expectation, D per system.
      double total = expected;
      if (shared) {
        double e2 = sum(square(E)).item();
        if (eb.defined()) e2 += sum(square(eb)).item();
        total = static_cast<double>(N) * e2;
      }
      d.noise_removed = total > 0 ? 1.0 - kept / total : 0.0;
      return d;
    });
  }
  return record_node("r2g2_linear", h, {x, mu, sigma, bias_mu, bias_sigma}, [=](const Tensor& g, Grads& d) {
    Tensor c = mul(g, beta);  // g_ni r_ni / v_ni
    d.put(kX, [&] { return add(matmul(g, mud), mul(xd, matmul(c, s2))); });
    d.put(kMu, [&] { return matmul(g.t(), xd); });
    d.put(kSigma, [&] { return mul(sd, matmul(c.t(), x2)); });
    d.put(kBiasMu, [&] { return sum(g, {0}); });
    d.put(kBiasSigma, [&] { return mul(bsd, sum(c, {0})); });
  });
}

Tensor r2g2_latent_linear(EstimatorState& state, const Tensor& mu, const Tensor& sigma, const Tensor& weight,
                          const Tensor& bias, Generator& gen) {
  Tensor eps;
  Tensor h = latent_forward(mu, sigma, weight, bias, gen, &eps);  // the rt forward, same noise
  if (!needs_grad({&mu, &sigma, &weight, &bias})) return h;
  LatentProjection p = r2g2_latent_project(sigma, eps, weight, state.options.r2g2);
  state.set_diagnostics([p, eps]() { return summarize(p, eps); });
  return record_latent_linear("r2g2_latent_linear", h, mu, sigma, weight, bias, p.eps_star);
}

Tensor r2g2_conv2d(EstimatorState& state, const Tensor& x, const Tensor& mu, const Tensor& sigma,
                   Conv2dParams p, Generator& gen) {
  R2G2Diagnostics d;
  d.systems = -1;  // marks "not filled" (the solve only runs when a gradient is needed)
  Tensor h = conv_est::r2g2(x, mu, sigma, p, gen, state.options.r2g2, &d);
  if (d.systems >= 0) state.set_diagnostics(d);
  return h;
}

EstimatorOptions r2g2_paper_options(EstimatorOptions options) {
  options.r2g2.solver = R2G2Solver::paper;
  return options;
}

EstimatorOptions r2g2_shared_options(EstimatorOptions options) {
  options.r2g2_shared_sample = true;
  return options;
}

}  // namespace r2g2::est
