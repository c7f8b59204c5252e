#include "r2g2/estimators/common.h"

#include "r2g2/core/autograd.h"
#include "r2g2/core/dispatch.h"
#include "r2g2/core/error.h"
#include "r2g2/core/ops.h"
#include "r2g2/kernels/cpu/gaussian.h"
#include "r2g2/kernels/cpu/r2g2_elementwise.h"
#include "r2g2/kernels/cuda/gaussian.h"
#include "r2g2/kernels/cuda/r2g2_elementwise.h"

namespace r2g2::est {

namespace {
void same_place(const std::string& who, const Tensor& ref, const Tensor& t, const char* what) {
  if (!t.defined()) return;
  R2G2_CHECK(t.device() == ref.device(), who, ": ", what, " is on ", t.device().str(), ", expected ",
             ref.device().str());
  R2G2_CHECK(t.dtype() == ref.dtype(), who, ": ", what, " is ", dtype_name(t.dtype()), ", expected ",
             dtype_name(ref.dtype()));
}
}  // namespace

void check_linear_args(const std::string& who, const Tensor& x, const Tensor& mu, const Tensor& sigma,
                       const Tensor& bias_mu, const Tensor& bias_sigma) {
  R2G2_CHECK(x.defined() && mu.defined() && sigma.defined(), who, ": x, mu and sigma must be defined");
  R2G2_CHECK(is_floating(x.dtype()), who, ": x must be float32 or float64, got ", dtype_name(x.dtype()));
  R2G2_CHECK(mu.dim() == 2 && sigma.shape() == mu.shape(), who, ": mu ", shape_str(mu.shape()), " and sigma ",
             shape_str(sigma.shape()), " must be the same [out, in] shape");
  R2G2_CHECK(x.dim() == 2 && x.size(1) == mu.size(1), who, ": x ", shape_str(x.shape()),
             " does not match the weights [out, in] = ", shape_str(mu.shape()));
  R2G2_CHECK(!bias_sigma.defined() || bias_mu.defined(), who, ": bias_sigma given without bias_mu");
  const Shape bshape{mu.size(0)};
  if (bias_mu.defined())
    R2G2_CHECK(bias_mu.shape() == bshape, who, ": bias_mu ", shape_str(bias_mu.shape()), ", expected ",
               shape_str(bshape));
  if (bias_sigma.defined())
    R2G2_CHECK(bias_sigma.shape() == bshape, who, ": bias_sigma ", shape_str(bias_sigma.shape()),
               ", expected ", shape_str(bshape));
  same_place(who, x, mu, "mu");
  same_place(who, x, sigma, "sigma");
  same_place(who, x, bias_mu, "bias_mu");
  same_place(who, x, bias_sigma, "bias_sigma");
}

void check_latent_args(const std::string& who, const Tensor& mu, const Tensor& sigma, const Tensor& weight,
                       const Tensor& bias) {
  R2G2_CHECK(mu.defined() && sigma.defined() && weight.defined(), who,
             ": mu, sigma and weight must be defined");
  R2G2_CHECK(is_floating(mu.dtype()), who, ": mu must be float32 or float64, got ", dtype_name(mu.dtype()));
  R2G2_CHECK(mu.dim() == 2 && sigma.shape() == mu.shape(), who, ": mu ", shape_str(mu.shape()), " and sigma ",
             shape_str(sigma.shape()), " must be the same [N, D] shape");
  R2G2_CHECK(weight.dim() == 2 && weight.size(1) == mu.size(1), who, ": weight ", shape_str(weight.shape()),
             " must be [m, D] with D = ", mu.size(1), " (latent ", shape_str(mu.shape()), ")");
  if (bias.defined())
    R2G2_CHECK(bias.shape() == Shape{weight.size(0)}, who, ": bias ", shape_str(bias.shape()), ", expected [",
               weight.size(0), "]");
  same_place(who, mu, sigma, "sigma");
  same_place(who, mu, weight, "weight");
  same_place(who, mu, bias, "bias");
}

void check_conv_args(const std::string& who, const Tensor& x, const Tensor& mu, const Tensor& sigma) {
  R2G2_CHECK(x.defined() && mu.defined() && sigma.defined(), who, ": x, mu and sigma must be defined");
  R2G2_CHECK(x.dim() == 4 && mu.dim() == 4 && sigma.shape() == mu.shape() && x.size(1) == mu.size(1), who,
             ": expected x [N, C, H, W] and mu, sigma [O, C, kh, kw], got x ", shape_str(x.shape()), ", mu ",
             shape_str(mu.shape()), ", sigma ", shape_str(sigma.shape()));
  same_place(who, x, mu, "mu");
  same_place(who, x, sigma, "sigma");
}

Tensor random_signs(const Shape& shape, Generator& gen, DType dtype, Device device) {
  Tensor z = gen.randn(shape, dtype, device);
  Tensor s = Tensor::empty(shape, dtype, device);
  dispatch_floating(dtype, "random_signs", [&](auto tag) {
    using T = decltype(tag);
    R2G2_KERNEL(device, sign_of<T>)(z.data<T>(), s.data<T>(), z.numel());
  });
  return s;
}

void lrt_sample(const Tensor& mean, const Tensor& v, const Tensor& xi, Tensor* h, Tensor* q) {
  Tensor m = mean.contiguous(), vv = v.contiguous(), x = xi.contiguous();
  *h = Tensor::empty(m.shape(), m.dtype(), m.device());
  *q = Tensor::empty(m.shape(), m.dtype(), m.device());
  dispatch_floating(m.dtype(), "lrt_sample", [&](auto tag) {
    using T = decltype(tag);
    R2G2_KERNEL(m.device(), lrt_sample<T>)(m.data<T>(), vv.data<T>(), x.data<T>(), h->data<T>(), q->data<T>(),
                                           m.numel());
  });
}

Tensor r2g2_ratio(const Tensor& r, const Tensor& v, const R2G2Options& opt) {
  Tensor rr = r.contiguous(), vv = v.contiguous();
  Tensor beta = Tensor::empty(rr.shape(), rr.dtype(), rr.device());
  const bool paper = opt.solver == R2G2Solver::paper;
  const double abs_tol = paper ? opt.abs_tol : -1.0;
  dispatch_floating(rr.dtype(), "r2g2_ratio", [&](auto tag) {
    using T = decltype(tag);
    R2G2_KERNEL(rr.device(), r2g2_ratio<T>)(rr.data<T>(), vv.data<T>(), beta.data<T>(), rr.numel(), abs_tol,
                                            opt.max_iters);
  });
  return beta;
}

Tensor mask_by_positive(const Tensor& eps, const Tensor& sigma) {
  Tensor e = eps.contiguous(), s = sigma.contiguous();
  Tensor out = Tensor::empty(e.shape(), e.dtype(), e.device());
  dispatch_floating(e.dtype(), "mask_by_positive", [&](auto tag) {
    using T = decltype(tag);
    R2G2_KERNEL(e.device(), mask_by_positive<T>)(e.data<T>(), s.data<T>(), out.data<T>(), e.numel());
  });
  return out;
}

Tensor gaussian_draw(const Tensor& mu, const Tensor& sigma, const Tensor& eps) {
  R2G2_CHECK(mu.shape() == sigma.shape() && mu.shape() == eps.shape(), "gaussian_draw: mu ",
             shape_str(mu.shape()), ", sigma ", shape_str(sigma.shape()), " and eps ", shape_str(eps.shape()),
             " must have one shape");
  same_place("gaussian_draw", mu, sigma, "sigma");
  same_place("gaussian_draw", mu, eps, "eps");
  NoGrad no_grad;
  Tensor m = mu.contiguous(), s = sigma.contiguous(), e = eps.contiguous();
  Tensor w = Tensor::empty(m.shape(), m.dtype(), m.device());
  dispatch_floating(m.dtype(), "gaussian_draw", [&](auto tag) {
    using T = decltype(tag);
    R2G2_KERNEL(m.device(), gaussian_sample<T>)(m.data<T>(), s.data<T>(), e.data<T>(), w.data<T>(), m.numel());
  });
  return w;
}

Tensor record_node(const char* name, const Tensor& h, const std::vector<Tensor>& inputs,
                   std::function<void(const Tensor& g, Grads& d)> fill) {
  std::vector<bool> need(inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) need[i] = inputs[i].defined() && inputs[i].requires_grad();
  return record(name, h, inputs, [need = std::move(need), fill = std::move(fill)](const Tensor& g) {
    Grads d(need);
    fill(g, d);
    return d.take();
  });
}

Tensor record_latent_linear(const char* name, const Tensor& h, const Tensor& mu, const Tensor& sigma,
                            const Tensor& weight, const Tensor& bias, const Tensor& eps_used) {
  enum : size_t { kZMu, kZSigma, kWeight, kBias };
  Tensor mu_d = mu.detach(), sigma_d = sigma.detach(), w_d = weight.detach(), e = eps_used.detach();
  return record_node(name, h, {mu, sigma, weight, bias}, [=](const Tensor& g, Grads& d) {
    if (d.any(kZMu, kZSigma)) {
      Tensor gz = matmul(g, w_d);  // L^T g per example
      d.put(kZSigma, [&] { return mul(gz, e); });
      d.put(kZMu, [&] { return gz; });
    }
    d.put(kWeight, [&] { return matmul(g.t(), gaussian_draw(mu_d, sigma_d, e)); });
    d.put(kBias, [&] { return sum(g, {0}); });
  });
}

Tensor latent_forward(const Tensor& mu, const Tensor& sigma, const Tensor& weight, const Tensor& bias,
                      Generator& gen, Tensor* eps) {
  NoGrad no_grad;
  *eps = gen.randn(mu.shape(), mu.dtype(), mu.device());
  Tensor z = gaussian_draw(mu.detach(), sigma.detach(), *eps);
  Tensor h = matmul(z, weight.detach().t());
  if (bias.defined()) h = add(h, bias.detach());
  return h;
}

}  // namespace r2g2::est

namespace r2g2::est {

SharedSample draw_shared_sample(const Tensor& mu, const Tensor& sigma, const Tensor& bias_mu,
                                const Tensor& bias_sigma, Generator& gen) {
  NoGrad no_grad;
  SharedSample s;
  s.E = gen.randn(mu.shape(), mu.dtype(), mu.device());
  s.W = gaussian_draw(mu.detach(), sigma.detach(), s.E);
  if (bias_mu.defined()) {
    s.b = bias_mu.detach();
    if (bias_sigma.defined()) {
      s.eb = gen.randn(bias_mu.shape(), bias_mu.dtype(), bias_mu.device());
      s.b = gaussian_draw(s.b, bias_sigma.detach(), s.eb);
    }
  }
  return s;
}

Tensor linear_apply(const Tensor& x, const Tensor& W, const Tensor& b) {
  Tensor h = matmul(x, W.t());
  return b.defined() ? add(h, b) : h;
}

}  // namespace r2g2::est
