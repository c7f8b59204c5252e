#pragma once
// Pieces shared by the estimator implementations: argument checks, the small kernels
// of kernels/*/r2g2_elementwise.h behind device dispatch, and the backward of a
// Gaussian latent followed by a linear map (RT and R2-G2 differ only in the noise
// they pass to it: eps or eps*).
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "r2g2/core/random.h"
#include "r2g2/core/tensor.h"
#include "r2g2/estimators/estimator.h"

namespace r2g2::est {

// Shapes, dtypes and devices of a Bayesian linear call (see Estimator::linear).
void check_linear_args(const std::string& who, const Tensor& x, const Tensor& mu, const Tensor& sigma,
                       const Tensor& bias_mu, const Tensor& bias_sigma);
// Shapes, dtypes and devices of a latent -> linear call (see Estimator::latent_linear).
void check_latent_args(const std::string& who, const Tensor& mu, const Tensor& sigma, const Tensor& weight,
                       const Tensor& bias);
void check_conv_args(const std::string& who, const Tensor& x, const Tensor& mu, const Tensor& sigma);

// Uniform random signs (+1/-1), drawn as the signs of normals from `gen`.
Tensor random_signs(const Shape& shape, Generator& gen, DType dtype, Device device);

// Device dispatch of kernels/cpu/r2g2_elementwise.h (contiguous inputs of one shape).
void lrt_sample(const Tensor& mean, const Tensor& v, const Tensor& xi, Tensor* h, Tensor* q);
Tensor r2g2_ratio(const Tensor& r, const Tensor& v, const R2G2Options& opt);
Tensor mask_by_positive(const Tensor& eps, const Tensor& sigma);
// w = mu + sigma . eps in one pass (kernels/gaussian.inc), not recorded: the same bits as
// add(mu, mul(sigma, eps)). Tensors of one shape, dtype and device.
Tensor gaussian_draw(const Tensor& mu, const Tensor& sigma, const Tensor& eps);

// Records h = z W^T + bias, z = mu + sigma . eps_used, on the tape with the
// reparameterisation backward written with `eps_used` as the noise:
//   dmu = g W,  dsigma = (g W) . eps_used,  dW = g^T (mu + sigma . eps_used),  dbias = sum_n g.
// eps_used = eps gives RT; eps_used = eps* gives R2-G2. `h` is the forward value.
Tensor record_latent_linear(const char* name, const Tensor& h, const Tensor& mu, const Tensor& sigma,
                            const Tensor& weight, const Tensor& bias, const Tensor& eps_used);

// The RT forward of a latent -> linear layer: eps ~ N(0, I) from gen, z = mu + sigma eps,
// h = z W^T + bias. Returns h (not recorded) and eps.
Tensor latent_forward(const Tensor& mu, const Tensor& sigma, const Tensor& weight, const Tensor& bias,
                      Generator& gen, Tensor* eps);

// The gradients one tape node returns, by input position. An estimator's backward asks
// need/any before computing a term and put()s it lazily, so terms for inputs that want
// no gradient (frozen weights, a data input x) cost nothing.
class Grads {
 public:
  explicit Grads(std::vector<bool> need) : need_(std::move(need)), out_(need_.size()) {}
  bool need(size_t i) const { return need_[i]; }
  template <class... I>
  bool any(I... i) const {
    return (need_[static_cast<size_t>(i)] || ...);
  }
  template <class F>
  void put(size_t i, F&& compute) {
    if (need_[i]) out_[i] = compute();
  }
  std::vector<Tensor> take() { return std::move(out_); }

 private:
  std::vector<bool> need_;
  std::vector<Tensor> out_;
};

// record() with the backward written as fill(g, grads); an undefined input needs nothing.
Tensor record_node(const char* name, const Tensor& h, const std::vector<Tensor>& inputs,
                   std::function<void(const Tensor& g, Grads& d)> fill);

// Input positions of a Bayesian linear node: {x, mu, sigma, bias_mu, bias_sigma}.
enum LinearInput : size_t { kX, kMu, kSigma, kBiasMu, kBiasSigma };

}  // namespace r2g2::est

namespace r2g2::est {
// One weight sample W = mu + sigma . E shared by the mini-batch (E drawn first from gen,
// then eb for a Gaussian bias). rt, score and r2g2-shared all draw through this, so that
// for the same generator state they use the same noise and compute the same forward.
struct SharedSample {
  Tensor E, eb;  // weight noise [out, in]; bias noise [out] (undefined without a Gaussian bias)
  Tensor W, b;   // the sampled weight and bias (b undefined without bias)
};
SharedSample draw_shared_sample(const Tensor& mu, const Tensor& sigma, const Tensor& bias_mu,
                                const Tensor& bias_sigma, Generator& gen);
// h = x W^T + b (not recorded).
Tensor linear_apply(const Tensor& x, const Tensor& W, const Tensor& b);
}  // namespace r2g2::est

namespace r2g2::est {
// t.detach(), or an undefined Tensor for an undefined t (optional bias arguments).
inline Tensor detached(const Tensor& t) { return t.defined() ? t.detach() : Tensor(); }
}  // namespace r2g2::est
