#include "r2g2/layers/bayes_module.h"

#include <cmath>

#include "r2g2/core/dispatch.h"
#include "r2g2/core/error.h"
#include "r2g2/core/ops.h"
#include "r2g2/estimators/common.h"
#include "r2g2/kernels/cpu/gaussian.h"
#include "r2g2/kernels/cuda/gaussian.h"

namespace r2g2 {

const char* bayes_mode_name(BayesMode m) {
  switch (m) {
    case BayesMode::train:
      return "train";
    case BayesMode::mean:
      return "mean";
    case BayesMode::sample:
      return "sample";
  }
  return "?";
}

void BayesianModule::set_estimator(std::unique_ptr<Estimator> estimator) {
  R2G2_CHECK(estimator != nullptr, "BayesianModule::set_estimator: null estimator");
  estimator_ = std::move(estimator);
}

void BayesianModule::set_estimator(const std::string& name, const EstimatorOptions& options) {
  set_estimator(make_estimator(name, options));
}

Estimator& BayesianModule::estimator() const {
  R2G2_CHECK(estimator_ != nullptr, describe(), ": no estimator set");
  return *estimator_;
}

void BayesianModule::set_eval_mode(BayesMode m) {
  R2G2_CHECK(m != BayesMode::train, "set_eval_mode: the evaluation mode is mean or sample, not train");
  eval_mode_ = m;
}

void BayesianModule::share_generator(std::shared_ptr<Generator> gen) {
  R2G2_CHECK(gen != nullptr, describe(), ": null generator");
  generator_ = std::move(gen);
}

namespace {
using kernels::GaussianScale;

// sum KL(N(mu, sigma^2) || N(0, p^2)) as one tape node: one fused pass forward and one
// backward (kernels/gaussian.inc) instead of a dozen elementwise ops and reductions. For
// kind rho the gradient goes to mu and rho (sigma = softplus(rho) is the caller's value,
// not differentiated here); for kind sigma to mu and sigma (rho undefined).
Tensor fused_kl(GaussianScale kind, const Tensor& mu, const Tensor& sigma, const Tensor& rho,
                double prior_sigma, const Tensor& slope = {}) {
  R2G2_CHECK(prior_sigma > 0 && std::isfinite(prior_sigma),
             "KL: the prior standard deviation must be > 0, got ", prior_sigma);
  R2G2_CHECK(mu.defined() && sigma.defined(), "KL: mu and sigma must be defined");
  const Tensor& param = kind == GaussianScale::rho ? rho : sigma;  // what the gradient is for
  for (const Tensor* t : {&sigma, &param}) {
    const char* name = t == &sigma ? "sigma" : "rho";
    R2G2_CHECK(t->defined(), "KL: ", name, " must be defined");
    R2G2_CHECK(mu.shape() == t->shape(), "KL: mu ", shape_str(mu.shape()), " and ", name, " ",
               shape_str(t->shape()), " differ in shape");
    R2G2_CHECK(mu.dtype() == t->dtype() && mu.device() == t->device(), "KL: mu (", dtype_name(mu.dtype()),
               " on ", mu.device().str(), ") and ", name, " (", dtype_name(t->dtype()), " on ",
               t->device().str(), ") differ in dtype or device");
  }
  Tensor m = mu.detach().contiguous(), s = sigma.detach().contiguous();
  Tensor r = kind == GaussianScale::rho ? rho.detach().contiguous() : Tensor();
  const bool use_slope = kind == GaussianScale::rho && slope.defined();
  if (use_slope)
    R2G2_CHECK(slope.shape() == mu.shape() && slope.dtype() == mu.dtype() && slope.device() == mu.device(),
               "KL: the slope sigmoid(rho) ", shape_str(slope.shape()), " must match mu ", shape_str(mu.shape()),
               " in shape, dtype and device");
  Tensor sl = use_slope ? slope.detach().contiguous() : Tensor();
  Tensor out = Tensor::empty({}, m.dtype(), m.device());
  dispatch_floating(m.dtype(), "KL", [&](auto tag) {
    using T = decltype(tag);
    const T* rho_data = r.defined() ? r.data<T>() : nullptr;
    const auto kernel = R2G2_KERNEL(m.device(), gaussian_kl<T>);
    kernel(kind, m.data<T>(), s.data<T>(), rho_data, out.data<T>(), m.numel(), prior_sigma);
  });
  enum : size_t { kMu, kParam };
  return est::record_node("gaussian_kl", out, {mu, param}, [=](const Tensor& g, est::Grads& d) {
    if (!d.any(kMu, kParam)) return;
    Tensor gc = g.contiguous();
    Tensor dmu = d.need(kMu) ? Tensor::empty(m.shape(), m.dtype(), m.device()) : Tensor();
    Tensor dparam = d.need(kParam) ? Tensor::empty(m.shape(), m.dtype(), m.device()) : Tensor();
    dispatch_floating(m.dtype(), "KL backward", [&](auto tag) {
      using T = decltype(tag);
      const T* rho_data = r.defined() ? r.data<T>() : nullptr;
      const T* slope_data = sl.defined() ? sl.data<T>() : nullptr;
      T* dmu_data = dmu.defined() ? dmu.data<T>() : nullptr;
      T* dparam_data = dparam.defined() ? dparam.data<T>() : nullptr;
      const auto kernel = R2G2_KERNEL(m.device(), gaussian_kl_backward<T>);
      kernel(kind, m.data<T>(), s.data<T>(), rho_data, slope_data, gc.data<T>(), dmu_data, dparam_data,
             m.numel(), prior_sigma);
    });
    d.put(kMu, [&] { return dmu; });
    d.put(kParam, [&] { return dparam; });
  });
}
}  // namespace

Tensor kl_to_zero_mean_gaussian(const Tensor& mu, const Tensor& sigma, double prior_sigma) {
  return fused_kl(GaussianScale::sigma, mu, sigma, Tensor(), prior_sigma);
}

Tensor kl_to_zero_mean_gaussian_rho(const Tensor& mu, const Tensor& rho, const Tensor& sigma,
                                    double prior_sigma, const Tensor& slope) {
  return fused_kl(GaussianScale::rho, mu, sigma, rho, prior_sigma, slope);
}

Tensor kl_to_zero_mean_gaussian_rho(const Tensor& mu, const Tensor& rho, double prior_sigma) {
  R2G2_CHECK(rho.defined(), "KL: rho must be defined");
  Tensor sigma;
  {
    NoGrad no_grad;
    sigma = softplus(rho.detach());
  }
  return fused_kl(GaussianScale::rho, mu, sigma, rho, prior_sigma);
}

}  // namespace r2g2
