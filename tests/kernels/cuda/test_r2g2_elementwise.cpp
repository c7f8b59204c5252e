// kernels/cuda/r2g2_elementwise.cu under the emulator, against kernels/cpu/r2g2_elementwise.
#include "emulator/cuda_emulator.h"
#include "r2g2/kernels/cuda/r2g2_elementwise.cu"
#include "r2g2/kernels/cpu/r2g2_elementwise.h"
#include "kernels/cuda/emulated_test_util.h"

namespace {

namespace cpu = r2g2::kernels::cpu;
namespace gpu = r2g2::kernels::cuda;
using namespace r2g2::test::emulated;

// Variances with exact zeros and negatives mixed in (degenerate systems give 0).
template <class T>
std::vector<T> variances(size_t n, uint64_t seed) {
  auto v = values<T>(n, seed, -0.25, 2.0);
  for (size_t i = 0; i < n; i += 7) v[i] = T(0);
  return v;
}

TEST_CASE_TEMPLATE("r2g2_elementwise: every kernel equals the CPU reference at awkward sizes", T, float, double) {
  for (int64_t n : awkward_sizes()) {
    CAPTURE(n);
    const auto mean = values<T>(n, 1), v = variances<T>(n, 2), xi = values<T>(n, 3, -3, 3), r = values<T>(n, 4);
    std::vector<T> h(n), q(n), h_ref(n), q_ref(n);
    gpu::lrt_sample(mean.data(), v.data(), xi.data(), h.data(), q.data(), n);
    cpu::lrt_sample(mean.data(), v.data(), xi.data(), h_ref.data(), q_ref.data(), n);
    check_equal(h, h_ref);
    check_equal(q, q_ref);

    for (auto [tol, iters] : {std::pair{-1.0, 0}, std::pair{1e-3, 5}, std::pair{0.5, 0}, std::pair{10.0, 5}}) {
      std::vector<T> beta(n), beta_ref(n);
      gpu::r2g2_ratio(r.data(), v.data(), beta.data(), n, tol, iters);
      cpu::r2g2_ratio(r.data(), v.data(), beta_ref.data(), n, tol, iters);
      check_equal(beta, beta_ref);
    }

    std::vector<T> s(n), s_ref(n), m(n), m_ref(n);
    gpu::sign_of(xi.data(), s.data(), n);
    cpu::sign_of(xi.data(), s_ref.data(), n);
    check_equal(s, s_ref);
    gpu::mask_by_positive(xi.data(), v.data(), m.data(), n);
    cpu::mask_by_positive(xi.data(), v.data(), m_ref.data(), n);
    check_equal(m, m_ref);
  }
}

TEST_CASE("r2g2_elementwise: an empty buffer launches nothing") {
  const int64_t before = r2g2_emu::launch_count();
  gpu::sign_of<float>(nullptr, nullptr, 0);
  gpu::lrt_sample<float>(nullptr, nullptr, nullptr, nullptr, nullptr, 0);
  CHECK(r2g2_emu::launch_count() == before);
}

}  // namespace
