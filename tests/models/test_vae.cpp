// The VAE of models/vae.h on tiny sizes: the IWAE bound against a float64 evaluation
// written out independently from the parameters, rt = r2g2 at full column rank, a few
// training steps of every depth, and dynamic binarisation.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numbers>
#include <numeric>
#include <vector>

#include "r2g2/core/ops.h"
#include "r2g2/models/vae.h"
#include "test_util.h"

using namespace r2g2;

namespace {

VAEConfig tiny_config(int layers, const std::string& estimator = "rt", DType dtype = DType::f64) {
  VAEConfig c;
  c.layers = layers;
  c.input = 6;
  c.hidden = 5;
  c.latent = 3;
  c.estimator = estimator;
  c.seed = 11;
  c.dtype = dtype;
  c.adam = {1e-2};
  return c;
}

// Fixed binary images [n, 6]: two prototypes with one pixel flipped per example.
Tensor binary_batch(int64_t n, DType dtype = DType::f64) {
  const double prototypes[2][6] = {{1, 1, 1, 0, 0, 0}, {0, 0, 1, 1, 1, 0}};
  std::vector<double> v;
  for (int64_t i = 0; i < n; ++i)
    for (int d = 0; d < 6; ++d) {
      double bit = prototypes[i % 2][d];
      v.push_back(d == (i / 2) % 6 ? 1 - bit : bit);
    }
  return Tensor::from_vector(v, {n, 6}, dtype);
}

Tensor repeat_rows(const Tensor& x, int64_t times) { return concat(std::vector<Tensor>(times, x), 0); }

// --- a float64 reference, written from the parameters one example and sample at a time ---

using Vec = std::vector<double>;

Vec dense(const Linear& layer, const Vec& u) {
  Vec w = layer.weight.to_vector(), b = layer.bias.to_vector();
  const size_t out = b.size(), in = u.size();
  Vec y(out);
  for (size_t o = 0; o < out; ++o) {
    double acc = b[o];
    for (size_t i = 0; i < in; ++i) acc += w[o * in + i] * u[i];
    y[o] = acc;
  }
  return y;
}

Vec tanh_of(Vec v) {
  for (double& e : v) e = std::tanh(e);
  return v;
}

double softplus_of(double a) { return a > 0 ? a + std::log1p(std::exp(-a)) : std::log1p(std::exp(a)); }

const double kLog2Pi = std::log(2 * std::numbers::pi);

// log N(z; mean, sigma^2) summed, with mean and sigma from the conditional applied to u.
double log_density(const GaussianConditional& c, const Vec& u, const Vec& z) {
  Vec a = tanh_of(dense(c.hidden2, tanh_of(dense(c.hidden1, u))));
  Vec mean = dense(c.mean_head, a), pre = dense(c.scale_head, a);
  double total = 0;
  for (size_t d = 0; d < z.size(); ++d) {
    double sigma = softplus_of(pre[d]), s = (z[d] - mean[d]) / sigma;
    total += -0.5 * s * s - std::log(sigma) - 0.5 * kLog2Pi;
  }
  return total;
}

// The sample of q(v | u) for the noise eps.
Vec sample(const GaussianConditional& c, const Vec& u, const Vec& eps) {
  Vec a = tanh_of(dense(c.hidden2, tanh_of(dense(c.hidden1, u))));
  Vec mean = dense(c.mean_head, a), pre = dense(c.scale_head, a), z(eps.size());
  for (size_t d = 0; d < z.size(); ++d) z[d] = mean[d] + softplus_of(pre[d]) * eps[d];
  return z;
}

// log p(x, v) - log q(v | x) of example n, sample k, with the noise layout that
// VAE::iwae_bound documents.
double reference_log_weight(VAE& vae, const Vec& x, int64_t n, int64_t k, int64_t n_total, int64_t samples,
                            uint64_t seed) {
  const int L = vae.layers();
  const int64_t D = vae.config().latent;
  std::vector<Vec> z;
  double log_q = 0;
  Vec below = x;
  for (int l = 0; l < L; ++l) {
    uint64_t offset = static_cast<uint64_t>(((l * samples + k) * n_total + n) * D);
    Vec eps = Tensor::randn({D}, seed, offset, DType::f64).to_vector();
    z.push_back(sample(vae.encoder(l), below, eps));
    log_q += log_density(vae.encoder(l), below, z.back());
    below = z.back();
  }
  double log_prior = 0;
  for (double e : z.back()) log_prior += -0.5 * e * e - 0.5 * kLog2Pi;
  for (int l = 0; l + 1 < L; ++l) log_prior += log_density(vae.prior(l), z[l + 1], z[l]);

  Vec w = vae.decoder_input().weight.to_vector(), b = vae.decoder_input().bias.to_vector();
  Vec h(b.size());
  for (size_t o = 0; o < h.size(); ++o) {
    h[o] = b[o];
    for (int64_t d = 0; d < D; ++d) h[o] += w[o * D + d] * z[0][d];
  }
  Vec logits = dense(vae.decoder_output(), tanh_of(dense(vae.decoder_hidden(), tanh_of(h))));
  double log_px = 0;
  for (size_t i = 0; i < x.size(); ++i) log_px += x[i] * logits[i] - softplus_of(logits[i]);
  return log_px + log_prior - log_q;
}

double log_mean_exp(const Vec& v) {
  double m = *std::max_element(v.begin(), v.end()), s = 0;
  for (double e : v) s += std::exp(e - m);
  return m + std::log(s / static_cast<double>(v.size()));
}

double relative_gap(double a, double b) { return std::abs(a - b) / std::max(1.0, std::abs(b)); }

struct MeanAndError {
  double mean, standard_error;
};
MeanAndError mean_and_error(const Vec& v) {
  double m = std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size()), ss = 0;
  for (double e : v) ss += (e - m) * (e - m);
  return {m, std::sqrt(ss / static_cast<double>(v.size() - 1) / static_cast<double>(v.size()))};
}

bool all_gradients_finite(const VAE& vae) {
  for (const auto& [name, p] : vae.named_parameters()) {
    if (!p.grad().defined()) return false;
    for (double g : p.grad().to_vector())
      if (!std::isfinite(g)) return false;
  }
  return true;
}

}  // namespace

TEST_CASE("VAE: the IWAE bound equals a float64 evaluation from the parameters, whatever the chunk") {
  for (int layers : {1, 2, 3}) {
    CAPTURE(layers);
    VAE vae(tiny_config(layers));
    const int64_t n = 3, samples = 12;
    const uint64_t seed = 5;
    Tensor x = binary_batch(n);
    Vec xs = x.to_vector();
    Vec expected(n);
    for (int64_t i = 0; i < n; ++i) {
      Vec log_w(samples);
      Vec xi(xs.begin() + i * 6, xs.begin() + (i + 1) * 6);
      for (int64_t k = 0; k < samples; ++k) log_w[k] = reference_log_weight(vae, xi, i, k, n, samples, seed);
      expected[i] = log_mean_exp(log_w);
    }
    for (int64_t chunk : {int64_t{1}, int64_t{7}, samples}) {
      CAPTURE(chunk);
      Vec bound = vae.iwae_bound(x, samples, chunk, seed);
      REQUIRE(bound.size() == static_cast<size_t>(n));
      for (int64_t i = 0; i < n; ++i) CHECK(relative_gap(bound[i], expected[i]) < 1e-10);
    }
  }
}

TEST_CASE("VAE: with one sample the IWAE bound is the ELBO sample, in training and evaluation mode") {
  for (int layers : {1, 3}) {
    CAPTURE(layers);
    for (std::string estimator : {"rt", "r2g2"}) {
      CAPTURE(estimator);
      VAE vae(tiny_config(layers, estimator));
      Tensor x = binary_batch(4);
      Vec bound = vae.iwae_bound(x, 1, 1, 9);
      for (bool training : {true, false}) {
        vae.train(training);
        Generator gen(9);
        VAEObjective o = vae.elbo(x, gen);
        Vec log_w = o.log_weights.to_vector();
        for (size_t i = 0; i < bound.size(); ++i) CHECK(relative_gap(log_w[i], bound[i]) < 1e-12);
        double mean_log_w = std::accumulate(log_w.begin(), log_w.end(), 0.0) / 4;
        CHECK(relative_gap(-o.loss.item(), mean_log_w) < 1e-12);
        CHECK(relative_gap(o.loss.item(), o.nll.item() + o.kl.item()) < 1e-12);
        CHECK(gen.offset == static_cast<uint64_t>(layers * 4 * 3));
      }
    }
  }
}

TEST_CASE("VAE: the ELBO gradient is the derivative of the one-sample ELBO at fixed noise") {
  // rt's pathwise gradient at fixed noise is exactly d(loss)/d(parameters), so central
  // differences (h = 1e-6, float64) check every parameter, the estimator's decoder
  // input among them, with the noise the estimator drew being v1's own.
  VAE vae(tiny_config(2, "rt"));
  Tensor x = binary_batch(4);
  auto loss_at_fixed_noise = [&] {
    Generator gen(21);
    return vae.elbo(x, gen).loss;
  };
  vae.zero_grad();
  backward(loss_at_fixed_noise());
  double worst = 0;
  NoGrad no_grad;
  for (auto& named : vae.named_parameters()) {
    const auto& name = named.first;
    auto& p = named.second;
    CAPTURE(name);
    REQUIRE(p.grad().defined());
    Vec analytic = p.grad().to_vector();
    double* data = p.data<double>();
    for (int64_t i = 0; i < p.numel(); ++i) {
      const double saved = data[i], h = 1e-6;
      data[i] = saved + h;
      double up = loss_at_fixed_noise().item();
      data[i] = saved - h;
      double down = loss_at_fixed_noise().item();
      data[i] = saved;
      double numeric = (up - down) / (2 * h);
      worst = std::max(worst, std::abs(analytic[i] - numeric) / (1e-7 + 1e-5 * std::abs(numeric)));
    }
  }
  CHECK(worst < 1);
}

TEST_CASE("VAE: the bound grows with the number of samples") {
  // Each row of x repeated 200 times draws independent noise (the offsets differ by row),
  // so one call gives 200 independent draws of the K-sample bound of each example, and
  // E[bound_K] is nondecreasing in K. At initialisation q is far from the posterior, so
  // each step K = 1 -> 10 -> 100 raises the mean by many standard errors of the
  // difference (about 12 and 8 with these seeds); three are required.
  VAE vae(tiny_config(2, "rt"));
  const int64_t draws = 200, n = 2;
  Tensor x = repeat_rows(binary_batch(n), draws);
  std::vector<MeanAndError> by_k;
  for (int64_t samples : {1, 10, 100}) by_k.push_back(mean_and_error(vae.iwae_bound(x, samples, 100, 17)));
  for (size_t i = 1; i < by_k.size(); ++i) {
    CAPTURE(i);
    double error = std::hypot(by_k[i].standard_error, by_k[i - 1].standard_error);
    CHECK(by_k[i].mean - by_k[i - 1].mean > 3 * error);
  }
}

TEST_CASE("VAE: r2g2 equals rt where the decoder weight has full column rank") {
  // latent 3 -> hidden 5: a Gaussian-initialised 5 x 3 weight has full column rank, so
  // eps* = eps and R2-G2's gradient is RT's (estimators/README.md), with the default cg
  // solver (which detects the rank and skips the solve) and with the exact projection.
  Tensor x = binary_batch(6, DType::f32);
  VAE rt(tiny_config(1, "rt", DType::f32));
  Generator gen_rt(3);
  VAEObjective reference = rt.elbo(x, gen_rt);
  backward(reference.loss);
  auto rt_params = rt.named_parameters();
  CHECK_FALSE(rt.diagnostics().has_value());
  for (R2G2Solver solver : {R2G2Solver::cg, R2G2Solver::exact}) {
    CAPTURE(static_cast<int>(solver));
    VAEConfig c = tiny_config(1, "r2g2", DType::f32);
    c.estimator_options.r2g2.solver = solver;
    VAE r2g2(c);
    Generator gen(3);
    VAEObjective o = r2g2.elbo(x, gen);
    CHECK(test::closeness(o.log_weights, reference.log_weights, 1e-6, 0) <= 1);
    backward(o.loss);
    auto params = r2g2.named_parameters();
    REQUIRE(params.size() == rt_params.size());
    for (size_t i = 0; i < params.size(); ++i) {
      CAPTURE(params[i].first);
      CHECK(test::closeness(params[i].second.grad(), rt_params[i].second.grad(), 1e-5, 1e-7) <= 1);
    }
    REQUIRE(r2g2.diagnostics().has_value());
    CHECK(std::abs(r2g2.diagnostics()->noise_removed) < 1e-6);
    if (solver == R2G2Solver::cg) {
      CHECK(r2g2.diagnostics()->method == "identity (full column rank)");
      CHECK(std::abs(r2g2.diagnostics()->noise_removed) < 1e-12);
    }
  }
}

TEST_CASE("VAE: every depth trains, the ELBO improves and the gradients stay finite") {
  // A fixed batch of 8 binary images (binarisation leaves 0 and 1 unchanged), 50 Adam
  // steps at lr 1e-2, with each estimator of the decoder input. The negative ELBO is
  // measured before and after as the mean over 50 independent draws per example from the
  // same seed (common random numbers), so the comparison is not swamped by the one-sample
  // noise. Both terms have room to fall: the KL by moving q onto the prior, the
  // reconstruction by the output bias alone matching each pixel's frequency in the batch.
  // Measured: 4.6 -> 3.5 nats for L = 1, 9.9 -> 3.7 for L = 3; the required 0.5 nats is
  // under half the smallest drop.
  Tensor x = binary_batch(8);
  for (int layers : {1, 2, 3}) {
    for (std::string estimator : {"rt", "r2g2", "r2g2-paper"}) {
      CAPTURE(layers);
      CAPTURE(estimator);
      VAE vae(tiny_config(layers, estimator));
      auto mean_neg_elbo = [&] {
        Vec b = vae.iwae_bound(repeat_rows(x, 50), 1, 1, 99);
        return -std::accumulate(b.begin(), b.end(), 0.0) / static_cast<double>(b.size());
      };
      double before = mean_neg_elbo();
      for (int s = 0; s < 50; ++s) {
        VAEStepStats st = vae.step(x);
        CHECK(st.step == s);
        REQUIRE(std::isfinite(st.loss));
      }
      CHECK(all_gradients_finite(vae));
      double after = mean_neg_elbo();
      CHECK(after < before - 0.5);
    }
  }
}

TEST_CASE("VAE: a non-finite loss stops the step before the update") {
  VAE vae(tiny_config(1));
  Tensor x = binary_batch(4);
  vae.step(x);
  auto params = vae.named_parameters();
  REQUIRE(!params.empty());
  {
    NoGrad no_grad;
    Tensor first = params.front().second;  // shares the parameter's storage
    std::vector<double> poisoned = first.to_vector();
    poisoned[0] = std::numeric_limits<double>::quiet_NaN();
    first.copy_(Tensor::from_vector(poisoned, first.shape()));
  }
  std::vector<std::vector<double>> before;
  for (auto& named : params) before.push_back(named.second.to_vector());
  const std::string message = test::error_of([&] { vae.step(x); });
  CAPTURE(message);
  CHECK(test::contains(message, "training stopped at step 2: the loss is"));
  CHECK(test::contains(message, "--detect-anomaly"));
  CHECK(vae.steps_taken() == 1);
  for (size_t i = 1; i < params.size(); ++i) {  // the optimizer did not run: nothing else turned NaN
    CAPTURE(params[i].first);
    CHECK(params[i].second.to_vector() == before[i]);
  }
}

TEST_CASE("VAE: bad configurations are refused with a message that names them") {
  VAEConfig c = tiny_config(1);
  c.estimator = "lrt";
  CHECK(test::contains(test::error_of([&] { VAE v(c); }), "'lrt'"));
  c = tiny_config(4);
  CHECK(test::contains(test::error_of([&] { VAE v(c); }), "layers must be 1, 2 or 3, got 4"));
  VAE v(tiny_config(1));
  CHECK(test::contains(test::error_of([&] { v.set_estimator("score"); }), "'score'"));
  CHECK(test::contains(test::error_of([&] { v.iwae_bound(binary_batch(2), 0, 1, 0); }), "samples 0"));
  CHECK(test::contains(test::error_of([&] { v.elbo(Tensor::zeros({2, 5})); }), "[2, 5]"));
}

TEST_CASE("binarize: Bernoulli pixels with the intensities as means, reproducible by seed") {
  // 4000 rows of the intensities (0, 0.2, 0.5, 0.9, 1): each column's mean must lie within
  // 4 standard errors sqrt(p (1 - p) / 4000) of p (0.032 for p = 0.5), and 0 and 1 stay
  // exact.
  const Vec p = {0, 0.2, 0.5, 0.9, 1};
  const int64_t rows = 4000;
  Vec values;
  for (int64_t r = 0; r < rows; ++r) values.insert(values.end(), p.begin(), p.end());
  Tensor x = Tensor::from_vector(values, {rows, 5}, DType::f32);
  Generator gen(8);
  Tensor b = binarize(x, gen);
  CHECK(b.dtype() == DType::f32);
  CHECK(b.shape() == x.shape());
  Vec bits = b.to_vector();
  for (double e : bits) REQUIRE((e == 0.0 || e == 1.0));
  for (size_t c = 0; c < p.size(); ++c) {
    double m = 0;
    for (int64_t r = 0; r < rows; ++r) m += bits[r * 5 + c];
    m /= rows;
    CAPTURE(c);
    if (p[c] == 0.0 || p[c] == 1.0) {
      CHECK(m == p[c]);
    } else {
      CHECK(std::abs(m - p[c]) < 4 * std::sqrt(p[c] * (1 - p[c]) / rows));
    }
  }
  Generator same(8), other(9);
  CHECK(binarize(x, same).to_vector() == bits);
  CHECK(binarize(x, other).to_vector() != bits);
  CHECK(gen.offset == static_cast<uint64_t>(rows * 5));
  CHECK(test::contains(test::error_of([&] {
                         Generator g(1);
                         binarize(Tensor::full({2, 2}, 1.5), g);
                       }),
                       "outside [0, 1]"));
}
