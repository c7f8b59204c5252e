#pragma once
// Helpers shared by the test suites: random values and tensors, finite-difference
// gradient checks in float64, approximate comparison, error messages, conv geometry.
#include <cmath>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "r2g2/core/autograd.h"
#include "r2g2/core/error.h"
#include "r2g2/core/ops.h"
#include "r2g2/core/random.h"
#include "r2g2/core/tensor.h"
#include "r2g2/kernels/common.h"
#include "r2g2/kernels/runtime/hash.h"

namespace r2g2::test {

// Marks the whole suite as unable to run here; main() then exits 77 (ctest: skipped).
void skip_suite(const std::string& reason);

// n xorshift values in [lo, hi) (computed in double, then cast to T), deterministic per
// seed; `salt` picks another stream for the same seed.
template <class T = double>
std::vector<T> uniform_values(size_t n, uint64_t seed, double lo = -1.0, double hi = 1.0, uint64_t salt = 1) {
  std::vector<T> v(n);
  Xorshift64 stream(seed, salt);
  for (auto& x : v) x = static_cast<T>(stream.next_in(lo, hi));
  return v;
}

// Uniform values in [lo, hi), deterministic per seed (float64 unless told).
inline Tensor uniform(const Shape& shape, uint64_t seed, double lo = -1.0, double hi = 1.0,
                      DType dtype = DType::f64) {
  return Tensor::from_vector(uniform_values(static_cast<size_t>(numel_of(shape)), seed, lo, hi), shape,
                             dtype);
}

// Largest |a - b| / (atol + rtol |b|) over elements; <= 1 means close.
inline double closeness(const Tensor& a, const Tensor& b, double rtol, double atol) {
  auto va = a.to_vector(), vb = b.to_vector();
  if (va.size() != vb.size()) return INFINITY;
  double worst = 0;
  for (size_t i = 0; i < va.size(); ++i)
    worst = std::max(worst, std::abs(va[i] - vb[i]) / (atol + rtol * std::abs(vb[i])));
  return worst;
}

// Checks d(sum(f(inputs) * w))/d(input) against central differences, where w is a fixed
// random weighting so that every output element matters. Inputs must be float64 leaves.
// Returns the worst closeness (<= 1 passes).
inline double gradcheck(const std::function<Tensor(const std::vector<Tensor>&)>& f,
                        std::vector<Tensor> inputs, double h = 1e-6, double rtol = 1e-5, double atol = 1e-7) {
  for (auto& t : inputs) t.requires_grad_(true);
  Tensor out = f(inputs);
  Tensor w = uniform(out.shape(), 12345, -1.0, 1.0, out.dtype());
  backward(sum(mul(out, w)));
  double worst = 0;
  for (auto& t : inputs) {
    R2G2_CHECK(t.grad().defined(), "gradcheck: no gradient reached an input of shape ", shape_str(t.shape()));
    auto analytic = t.grad().to_vector();
    double* data = t.data<double>();
    NoGrad no_grad;
    for (int64_t i = 0; i < t.numel(); ++i) {
      double saved = data[i];
      data[i] = saved + h;
      double up = sum(mul(f(inputs), w)).item();
      data[i] = saved - h;
      double down = sum(mul(f(inputs), w)).item();
      data[i] = saved;
      double numeric = (up - down) / (2 * h);
      worst = std::max(worst, std::abs(analytic[i] - numeric) / (atol + rtol * std::abs(numeric)));
    }
  }
  return worst;
}

// The message of the r2g2::Error that f throws, or "(no error)" if it throws none.
template <class F>
std::string error_of(const F& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

inline bool contains(std::string_view text, std::string_view part) {
  return text.find(part) != std::string_view::npos;
}

// The geometry of one c x h x w image under a kh x kw convolution (im2col / col2im).
inline kernels::ConvGeom conv_geom(int c, int h, int w, int kh, int kw, int stride, int pad) {
  return kernels::make_conv_geom(c, h, w, kh, kw, stride, pad);
}

}  // namespace r2g2::test
