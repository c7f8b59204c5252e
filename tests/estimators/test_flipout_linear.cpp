// Flipout on a Bayesian linear layer: the forward value against its definition,
//   h_n = mu x_n + bmu + s_n ⊙ ((sigma ⊙ E)(r_n ⊙ x_n) + bsigma ⊙ eb),
// rebuilt in float64 from the generator's documented draw order (E, eb, r, s). A sign or
// draw-order mistake changes h; the gradient tests alone would not see it, because they
// differentiate whatever forward the estimator computed.
#include <doctest/doctest.h>

#include "estimators/estimator_test_util.h"

using namespace r2g2;

namespace {

void check_flipout_forward(bool gaussian_bias) {
  const int64_t N = 3, in = 5, out = 4;
  auto p = test::make_linear_problem(N, in, out, 31, DType::f64, true);
  const Tensor bias_sigma = gaussian_bias ? p.bias_sigma : Tensor();
  Generator gen(23);
  Tensor h;
  {
    NoGrad no_grad;
    h = make_estimator("flipout")->linear(p.x, p.mu, p.sigma, p.bias_mu, bias_sigma, gen);
  }
  // The generator hands out consecutive normals: E [out, in], eb [out], r [N, in], s [N, out].
  uint64_t offset = 0;
  auto draw = [&](int64_t count) {
    auto v = Tensor::randn({count}, 23, offset, DType::f64).to_vector();
    offset += static_cast<uint64_t>(count);
    return v;
  };
  const auto E = draw(out * in);
  const auto eb = gaussian_bias ? draw(out) : std::vector<double>(out, 0.0);
  const auto r = draw(N * in), s = draw(N * out);
  CHECK(gen.offset == offset);
  auto sign = [](double z) { return z >= 0 ? 1.0 : -1.0; };

  const auto x = p.x.to_vector(), mu = p.mu.to_vector(), sigma = p.sigma.to_vector();
  const auto bmu = p.bias_mu.to_vector(), bsigma = p.bias_sigma.to_vector();
  std::vector<double> expect(N * out);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t o = 0; o < out; ++o) {
      double mean = bmu[o], perturbation = gaussian_bias ? bsigma[o] * eb[o] : 0.0;
      for (int64_t i = 0; i < in; ++i) {
        mean += mu[o * in + i] * x[n * in + i];
        perturbation += sigma[o * in + i] * E[o * in + i] * sign(r[n * in + i]) * x[n * in + i];
      }
      expect[n * out + o] = mean + sign(s[n * out + o]) * perturbation;
    }
  CHECK(test::closeness(h, Tensor::from_vector(expect, {N, out}, DType::f64), 1e-12, 1e-12) <= 1);
}

}  // namespace

TEST_CASE("flipout linear: forward values match the definition, with and without a Gaussian bias") {
  SUBCASE("Gaussian bias") { check_flipout_forward(true); }
  SUBCASE("deterministic bias") { check_flipout_forward(false); }
}
