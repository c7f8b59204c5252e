// The CPU optimizer kernels (kernels/cpu/optim.h) against the per-element update of
// kernels/optim_math.h applied one element at a time: the vectorised Adam must give the
// same bits on every element, the tail of a length that is not a multiple of the vector
// width included.
#include <doctest/doctest.h>

#include <cstdint>
#include <cstring>
#include <vector>

#include "r2g2/kernels/cpu/optim.h"
#include "r2g2/kernels/optim_math.h"
#include "test_util.h"

namespace {

namespace cpu = r2g2::kernels::cpu;
using r2g2::test::uniform_values;

TEST_CASE_TEMPLATE("adam_step: the same bits as adam_update element by element", T, float, double) {
  for (int64_t n : {1, 3, 4, 7, 4099}) {
    for (T weight_decay : {T(0), T(0.01)}) {
      CAPTURE(n);
      CAPTURE(weight_decay);
      auto p = uniform_values<T>(n, 1, -1, 1), g = uniform_values<T>(n, 2, -5, 5);
      auto m = uniform_values<T>(n, 3, -1, 1), v = uniform_values<T>(n, 4, 0, 2);
      auto p_ref = p, m_ref = m, v_ref = v;
      const T lr = T(1e-3), beta1 = T(0.9), beta2 = T(0.999), eps = T(1e-8);
      const int64_t step = 3;
      cpu::adam_step<T>(p.data(), g.data(), m.data(), v.data(), n, lr, beta1, beta2, eps, weight_decay, step);
      const auto bias = r2g2::kernels::adam_bias(beta1, beta2, step);
      for (int64_t i = 0; i < n; ++i)
        r2g2::kernels::adam_update(p_ref[i], g[i], m_ref[i], v_ref[i], lr, beta1, beta2, eps, weight_decay,
                                   bias.bias1, bias.bias2);
      CHECK(std::memcmp(p.data(), p_ref.data(), n * sizeof(T)) == 0);
      CHECK(std::memcmp(m.data(), m_ref.data(), n * sizeof(T)) == 0);
      CHECK(std::memcmp(v.data(), v_ref.data(), n * sizeof(T)) == 0);
    }
  }
}

// The multi-tensor step splits the concatenation of its tensors across the pool, so one
// range can end inside a tensor and the next start there: each tensor must still come out
// bit for bit as adam_step leaves it, empty tensors included.
TEST_CASE_TEMPLATE("adam_step_many: each tensor gets adam_step's bits", T, float, double) {
  const std::vector<int64_t> sizes{5, 0, 1, 70001, 3, 4099, 0, 7, 131073};
  std::vector<std::vector<T>> p, g, m, v, p_ref, m_ref, v_ref;
  for (size_t k = 0; k < sizes.size(); ++k) {
    const int64_t n = sizes[k];
    const uint64_t seed = 10 * k;
    p.push_back(uniform_values<T>(n, seed + 1, -1, 1));
    g.push_back(uniform_values<T>(n, seed + 2, -5, 5));
    m.push_back(uniform_values<T>(n, seed + 3, -1, 1));
    v.push_back(uniform_values<T>(n, seed + 4, 0, 2));
  }
  p_ref = p, m_ref = m, v_ref = v;
  const T lr = T(1e-3), beta1 = T(0.9), beta2 = T(0.999), eps = T(1e-8), weight_decay = T(0.01);
  const int64_t step = 7;
  std::vector<r2g2::kernels::AdamTensor<T>> tensors;
  for (size_t k = 0; k < sizes.size(); ++k)
    tensors.push_back({p[k].data(), g[k].data(), m[k].data(), v[k].data(), sizes[k]});
  cpu::adam_step_many<T>(tensors.data(), static_cast<int>(tensors.size()), lr, beta1, beta2, eps, weight_decay,
                         step);
  for (size_t k = 0; k < sizes.size(); ++k) {
    CAPTURE(k);
    const int64_t n = sizes[k];
    cpu::adam_step<T>(p_ref[k].data(), g[k].data(), m_ref[k].data(), v_ref[k].data(), n, lr, beta1, beta2, eps,
                      weight_decay, step);
    if (n == 0) continue;  // an empty vector's data() may be null, which memcmp must not get
    CHECK(std::memcmp(p[k].data(), p_ref[k].data(), n * sizeof(T)) == 0);
    CHECK(std::memcmp(m[k].data(), m_ref[k].data(), n * sizeof(T)) == 0);
    CHECK(std::memcmp(v[k].data(), v_ref[k].data(), n * sizeof(T)) == 0);
  }
  CHECK_THROWS_WITH_AS(cpu::adam_step_many<T>(tensors.data(), 1, lr, beta1, beta2, eps, weight_decay, 0),
                       "adam_step: step counts from 1, got 0", r2g2::Error);
}

}  // namespace
