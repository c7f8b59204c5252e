#include "r2g2/layers/gaussian_weight.h"

#include <cmath>

#include "r2g2/core/autograd.h"
#include "r2g2/core/dispatch.h"
#include "r2g2/core/error.h"
#include "r2g2/core/ops.h"
#include "r2g2/estimators/common.h"
#include "r2g2/kernels/cpu/gaussian.h"
#include "r2g2/kernels/cuda/gaussian.h"
#include "r2g2/layers/bayes_module.h"

namespace r2g2 {

void GaussianWeight::check_options(const GaussianWeightOptions& o, DType dtype, const std::string& who) {
  R2G2_CHECK(o.prior_sigma > 0 && std::isfinite(o.prior_sigma), who,
             ": the prior standard deviation must be > 0, got ", o.prior_sigma);
  R2G2_CHECK(std::isfinite(o.rho_init) && o.rho_init_std >= 0, who, ": bad rho initialisation (rho_init ",
             o.rho_init, ", rho_init_std ", o.rho_init_std, ")");
  R2G2_CHECK(is_floating(dtype), who, ": parameters must be float32 or float64, not ", dtype_name(dtype));
}

GaussianWeight::GaussianWeight(Tensor mu_init, uint64_t rho_seed, uint64_t rho_offset,
                               const GaussianWeightOptions& o, const std::string& who)
    : mu(std::move(mu_init)), prior_sigma_(o.prior_sigma) {
  check_options(o, mu.dtype(), who);
  NoGrad no_grad;
  rho = add(mul(Tensor::randn(mu.shape(), rho_seed, rho_offset, mu.dtype()), o.rho_init_std), o.rho_init);
}

GaussianWeight GaussianWeight::point_mass(Tensor mu, double prior_sigma) {
  GaussianWeight w;
  w.mu = std::move(mu);
  w.prior_sigma_ = prior_sigma;
  return w;
}

Tensor GaussianWeight::sigma(Tensor* slope_out) const {
  if (slope_out) *slope_out = Tensor();
  if (!rho.defined()) return {};
  if (!needs_grad({rho})) return softplus(rho);
  // One pass gives sigma and its slope sigmoid(rho), so that the backward is a product
  // instead of a second exponential per element.
  Tensor r = rho.detach().contiguous();
  Tensor s = Tensor::empty(r.shape(), r.dtype(), r.device());
  Tensor slope = Tensor::empty(r.shape(), r.dtype(), r.device());
  dispatch_floating(r.dtype(), "softplus", [&](auto tag) {
    using T = decltype(tag);
    R2G2_KERNEL(r.device(), softplus_and_slope<T>)(r.data<T>(), s.data<T>(), slope.data<T>(), r.numel());
  });
  if (slope_out) *slope_out = slope;
  return est::record_node("softplus", s, {rho}, [slope](const Tensor& g, est::Grads& d) {
    d.put(0, [&] { return mul(g, slope); });
  });
}

Tensor GaussianWeight::kl() const {
  if (!rho.defined()) return {};
  return kl_to_zero_mean_gaussian_rho(mu, rho, prior_sigma_);
}

Tensor GaussianWeight::kl(const Tensor& s, const Tensor& slope) const {
  if (!rho.defined()) return {};
  return kl_to_zero_mean_gaussian_rho(mu, rho, s, prior_sigma_, slope);
}

Tensor GaussianWeight::sample(const Tensor& s, Generator& gen) const {
  if (!rho.defined()) return mu;
  Tensor eps = gen.randn(mu.shape(), mu.dtype(), mu.device());
  Tensor w = est::gaussian_draw(mu.detach(), s.detach(), eps);
  enum : size_t { kMu, kSigma };
  // dW/dmu = 1, dW/dsigma = eps: the incoming gradient itself, and one product.
  return est::record_node("gaussian_sample", w, {mu, s}, [eps](const Tensor& g, est::Grads& d) {
    d.put(kMu, [&] { return g; });
    d.put(kSigma, [&] { return mul(g, eps); });
  });
}

}  // namespace r2g2
