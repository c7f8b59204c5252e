// BayesConv2d::forward_and_kl, the training step's path (one softplus(rho) and its slope
// shared by the estimator and the KL), against forward() then kl(), and the layer's bias
// add against the plain broadcast add: the same bits.
#include <doctest/doctest.h>

#include <string>
#include <tuple>
#include <vector>

#include "r2g2/core/autograd.h"
#include "r2g2/estimators/conv/conv_estimators.h"
#include "r2g2/layers/bayes_conv2d.h"
#include "test_util.h"

using namespace r2g2;
using r2g2::test::uniform;

namespace {

struct Outcome {
  std::vector<double> h, kl, dmu, drho, dbias, dx;
};

Outcome run(const std::string& estimator, BayesMode mode, DType dtype, bool fused) {
  BayesConv2dOptions o;
  o.estimator = estimator;
  o.stride = 2;
  o.padding = 1;
  o.rho_init = -2.0;
  o.rho_init_std = 0.5;
  o.seed = 11;
  o.dtype = dtype;
  BayesConv2d layer(3, 4, 3, o);
  {
    NoGrad no_grad;
    layer.bias.copy_(uniform(layer.bias.shape(), 12, -1, 1, dtype));
  }
  layer.train(mode == BayesMode::train);
  if (mode != BayesMode::train) layer.set_eval_mode(mode);
  Tensor x = uniform({3, 3, 7, 6}, 13, -1, 1, dtype).requires_grad_(true);
  Tensor h, kl;
  if (fused) {
    std::tie(h, kl) = layer.forward_and_kl(x);
  } else {
    h = layer.forward(x);
    kl = layer.kl();
  }
  Tensor weights = uniform(h.shape(), 14, -1, 1, dtype);
  backward(add(sum(mul(h, weights)), mul(kl, 0.01)));
  auto values = [](const Tensor& t) { return t.defined() ? t.to_vector() : std::vector<double>(); };
  return {values(h), values(kl), values(layer.mu.grad()), values(layer.rho.grad()), values(layer.bias.grad()),
          values(x.grad())};
}

}  // namespace

TEST_CASE("BayesConv2d::forward_and_kl: output, KL and every gradient equal forward() and kl(), bit for bit") {
  for (const char* estimator : {"rt", "r2g2", "flipout"})
    for (BayesMode mode : {BayesMode::train, BayesMode::sample, BayesMode::mean})
      for (DType dtype : {DType::f32, DType::f64}) {
        INFO(estimator, " mode ", static_cast<int>(mode), " ", dtype_name(dtype));
        const Outcome a = run(estimator, mode, dtype, true), b = run(estimator, mode, dtype, false);
        CHECK(a.h == b.h);
        CHECK(a.kl == b.kl);
        CHECK(a.dmu == b.dmu);
        CHECK(a.drho == b.drho);
        CHECK(a.dbias == b.dbias);
        CHECK(a.dx == b.dx);
        CHECK_FALSE(a.drho.empty());  // the KL reaches rho in every mode
      }
}

TEST_CASE("BayesConv2d train mode: the estimator's conv plus the bias, values and gradients bit for bit") {
  // Rebuilt by hand from the estimator and the broadcast add, the layer must match exactly.
  for (DType dtype : {DType::f32, DType::f64}) {
    BayesConv2dOptions o;
    o.padding = 1;
    o.seed = 21;
    o.dtype = dtype;
    BayesConv2d layer(2, 3, 3, o);
    {
      NoGrad no_grad;
      layer.bias.copy_(uniform(layer.bias.shape(), 22, -1, 1, dtype));
    }
    Tensor x = uniform({2, 2, 5, 3}, 23, -1, 1, dtype);
    Tensor weights = uniform({2, 3, 5, 3}, 24, -1, 1, dtype);
    Generator gen = layer.generator();
    Tensor h = layer.forward(x);
    backward(sum(mul(h, weights)));
    const auto dbias = layer.bias.grad().to_vector(), dmu = layer.mu.grad().to_vector();

    Tensor bias = layer.bias.detach().requires_grad_(true), mu = layer.mu.detach().requires_grad_(true);
    Tensor plain = add(conv_est::rt(x, mu, layer.sigma().detach(), layer.conv_params(), gen),
                       reshape(bias, {1, 3, 1, 1}));
    backward(sum(mul(plain, weights)));
    CHECK(h.to_vector() == plain.to_vector());
    CHECK(dbias == bias.grad().to_vector());
    CHECK(dmu == mu.grad().to_vector());
  }
}
