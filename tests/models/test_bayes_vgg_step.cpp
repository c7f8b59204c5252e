// BayesVGG's training objective takes forward_and_kl (one softplus(rho) per layer for the
// estimator and the KL); it must equal forward() followed by kl(), bit for bit.
#include <doctest/doctest.h>

#include <string>
#include <tuple>
#include <vector>

#include "r2g2/core/autograd.h"
#include "r2g2/models/bayes_vgg.h"
#include "test_util.h"

using namespace r2g2;
using r2g2::test::uniform;

namespace {

struct Pass {
  std::vector<double> logits, kl;
  std::vector<std::vector<double>> grads;
};

Pass run(const std::string& estimator, bool fused) {
  BayesVGGConfig c;
  c.layers = {4, 0, 8, 0, 8, 8, 0, 8, 8, 0, 8, 8, 0};
  c.estimator = estimator;
  c.rho_init = -3;
  c.rho_init_std = 0.5;
  c.seed = 9;
  BayesVGG model(c);
  model.train(true);
  Tensor x = uniform({2, 3, 32, 32}, 10, 0, 1, DType::f32);
  Tensor logits, kl;
  if (fused) {
    std::tie(logits, kl) = model.forward_and_kl(x);
  } else {
    logits = model.forward(x);
    kl = model.kl();
  }
  backward(add(sum(mul(logits, uniform(logits.shape(), 11, -1, 1, DType::f32))), mul(kl, 1e-3)));
  Pass p{logits.to_vector(), kl.to_vector(), {}};
  for (const Tensor& t : model.parameters()) p.grads.push_back(t.grad().to_vector());
  return p;
}

}  // namespace

TEST_CASE("BayesVGG::forward_and_kl: logits, KL and every parameter's gradient equal forward() and kl()") {
  for (const char* estimator : {"rt", "r2g2"}) {
    INFO(estimator);
    const Pass a = run(estimator, true), b = run(estimator, false);
    CHECK(a.logits == b.logits);
    CHECK(a.kl == b.kl);
    REQUIRE(a.grads.size() == b.grads.size());
    for (size_t i = 0; i < a.grads.size(); ++i) {
      CAPTURE(i);
      CHECK(a.grads[i] == b.grads[i]);
    }
  }
}
