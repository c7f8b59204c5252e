#pragma once
// Bayesian 2-D convolution: kernels W ~ N(mu, softplus(rho)^2) mean field with prior
// N(0, prior_sigma^2) on every kernel weight. The bias is deterministic: a plain
// parameter added after the estimator, outside the KL. (A Gaussian bias would add one
// N(0, 1)-driven scalar per output channel shared by every position; it is left out
// because the estimators' conv interface, like the paper's VGG, perturbs the kernels
// only.)
#include <cstdint>
#include <string>
#include <utility>

#include "r2g2/core/ops.h"
#include "r2g2/core/random.h"
#include "r2g2/core/tensor.h"
#include "r2g2/layers/bayes_module.h"
#include "r2g2/layers/gaussian_weight.h"
#include "r2g2/layers/init.h"

namespace r2g2 {

struct BayesConv2dOptions {
  int stride = 1;
  int padding = 0;
  bool bias = true;                     // deterministic bias [O], initialised to 0
  double prior_sigma = 1.0;             // prior N(0, prior_sigma^2) on each kernel weight, must be > 0
  WeightInit mu_init = WeightInit::he;  // fan_in = C*kh*kw, fan_out = O*kh*kw
  double rho_init = -5.0;               // sigma = softplus(rho): softplus(-5) = 0.0067
  double rho_init_std = 0.0;            // rho = rho_init + rho_init_std * N(0, 1)
  std::string estimator = "rt";
  EstimatorOptions estimator_options;
  // Initialisation streams: seed for mu, seed + 1 for rho; the layer's own noise stream
  // is BayesianModule::noise_seed(seed) until a model shares one (set_noise_source).
  uint64_t seed = 0;
  DType dtype = DType::f32;
};

class BayesConv2d : public BayesianModule {
 public:
  BayesConv2d(int64_t in_channels, int64_t out_channels, int kernel_size,
              const BayesConv2dOptions& options = {});

  // x [N, C, H, W] -> [N, O, OH, OW]. Mode train: the estimator's conv2d (noise from the
  // layer's generator); mean: conv(x, mu) + bias; sample: one kernel draw, recorded as plain ops.
  Tensor forward(const Tensor& x) override { return forward(x, generator()); }
  // The same with the noise drawn from `gen` instead of the layer's generator.
  Tensor forward(const Tensor& x, Generator& gen);

  Tensor kl() const override;  // over the kernel weights (the bias is not random)
  // forward(x) and kl() sharing one softplus(rho) and its slope (the training step needs
  // both): the same values as the two calls, one pass over rho fewer.
  std::pair<Tensor, Tensor> forward_and_kl(const Tensor& x);
  std::string describe() const override;

  Tensor sigma() const { return weight.sigma(); }  // softplus(rho), recorded
  Conv2dParams conv_params() const { return {stride_, padding_}; }
  int64_t in_channels() const { return in_; }
  int64_t out_channels() const { return out_; }
  int kernel_size() const { return k_; }
  double prior_sigma() const { return weight.prior_sigma(); }

  GaussianWeight weight;  // [O, C, k, k]
  Tensor& mu = weight.mu;
  Tensor& rho = weight.rho;
  Tensor bias;  // [O]; undefined without a bias

 private:
  Tensor forward_with(const Tensor& x, Generator& gen, const Tensor& sigma);
  int64_t in_, out_;
  int k_, stride_, padding_;
};

}  // namespace r2g2
