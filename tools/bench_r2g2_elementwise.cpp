// Kernel lab: the elementwise kernels of the Gaussian-linear estimators (LRT sampling, the
// R2-G2 one-output ratio, Flipout signs, the eps* mask; kernels/{cpu,cuda}/r2g2_elementwise.h)
// at the flat sizes of kernels/cases/sizes.h.
#include <algorithm>
#include <string>
#include <vector>

#include "r2g2/kernels/cases/r2g2_elementwise.h"
#include "r2g2/kernels/cpu/r2g2_elementwise.h"
#include "tools/kernel_lab.h"
#if R2G2_WITH_CUDA
#include "r2g2/kernels/cuda/r2g2_elementwise.h"
#endif

namespace {

using namespace r2g2;
using namespace r2g2::lab;
namespace kcpu = r2g2::kernels::cpu;
namespace cases = r2g2::kernels::cases;

// Variances with some exact zeros (a degenerate unit must give 0, not NaN).
template <class T>
std::vector<T> variances(int64_t n, uint64_t seed) {
  auto v = host_uniform<T>(n, seed, 0.01, 2.0);
  for (size_t i = 0; i < v.size(); i += cases::kDegenerateEvery) v[i] = T(0);
  return v;
}

template <class T>
void bench_lrt_sample(Lab& lab) {
  if (!lab.selected("lrt_sample")) return;
  const auto kernel = R2G2_LAB_KERNEL(lab, lrt_sample<T>);
  for (int64_t n : cases::perf_sizes(lab.options().large)) {
    const auto mean = host_uniform<T>(n, 30 + n), v = variances<T>(n, 31 + n),
               xi = host_uniform<T>(n, 32 + n);
    std::vector<T> h(mean.size()), q(mean.size());
    kcpu::lrt_sample<T>(mean.data(), v.data(), xi.data(), h.data(), q.data(), n);
    Tensor dm = lab.upload(mean), dv = lab.upload(v), dxi = lab.upload(xi), dh = lab.empty<T>(n),
           dq = lab.empty<T>(n);
    auto run = [&] { kernel(dm.data<T>(), dv.data<T>(), dxi.data<T>(), dh.data<T>(), dq.data<T>(), n); };
    run();
    const double err = std::max(scaled_error(lab.download(dh.data<T>(), n), h, default_rtol<T>(), 1e-6),
                                scaled_error(lab.download(dq.data<T>(), n), q, default_rtol<T>(), 1e-6));
    lab.row("lrt_sample", dtype_label<T>(), n_str(n), lab.time_ms(run), 5.0 * n * sizeof(T), 0, err);
  }
}

template <class T>
void bench_r2g2_ratio(Lab& lab) {
  if (!lab.selected("r2g2_ratio")) return;
  const auto kernel = R2G2_LAB_KERNEL(lab, r2g2_ratio<T>);
  for (int64_t n : cases::perf_sizes(lab.options().large)) {
    const auto r = host_uniform<T>(n, 33 + n), v = variances<T>(n, 34 + n);
    std::vector<T> beta(r.size());
    const double exact = -1;  // a negative tolerance: exact division, as the estimator's default
    kcpu::r2g2_ratio<T>(r.data(), v.data(), beta.data(), n, exact, 0);
    Tensor dr = lab.upload(r), dv = lab.upload(v), db = lab.empty<T>(n);
    auto run = [&] { kernel(dr.data<T>(), dv.data<T>(), db.data<T>(), n, exact, 0); };
    run();
    const double err = scaled_error(lab.download(db.data<T>(), n), beta, default_rtol<T>(), 1e-6);
    lab.row("r2g2_ratio", dtype_label<T>(), n_str(n), lab.time_ms(run), 3.0 * n * sizeof(T), 0, err);
  }
}

template <class T>
void bench_sign_of(Lab& lab) {
  if (!lab.selected("sign_of")) return;
  const auto kernel = R2G2_LAB_KERNEL(lab, sign_of<T>);
  for (int64_t n : cases::perf_sizes(lab.options().large)) {
    const auto x = host_uniform<T>(n, 35 + n);
    std::vector<T> s(x.size());
    kcpu::sign_of<T>(x.data(), s.data(), n);
    Tensor dx = lab.upload(x), ds = lab.empty<T>(n);
    auto run = [&] { kernel(dx.data<T>(), ds.data<T>(), n); };
    run();
    const double err = scaled_error(lab.download(ds.data<T>(), n), s, 0.0, 1e-30);  // exact
    lab.row("sign_of", dtype_label<T>(), n_str(n), lab.time_ms(run), 2.0 * n * sizeof(T), 0, err);
  }
}

template <class T>
void bench_mask_by_positive(Lab& lab) {
  if (!lab.selected("mask_by_positive")) return;
  const auto kernel = R2G2_LAB_KERNEL(lab, mask_by_positive<T>);
  for (int64_t n : cases::perf_sizes(lab.options().large)) {
    const auto eps = host_uniform<T>(n, 36 + n), sigma = variances<T>(n, 37 + n);
    std::vector<T> out(eps.size());
    kcpu::mask_by_positive<T>(eps.data(), sigma.data(), out.data(), n);
    Tensor de = lab.upload(eps), ds = lab.upload(sigma), dout = lab.empty<T>(n);
    auto run = [&] { kernel(de.data<T>(), ds.data<T>(), dout.data<T>(), n); };
    run();
    const double err = scaled_error(lab.download(dout.data<T>(), n), out, 0.0, 1e-30);  // exact
    lab.row("mask_by_positive", dtype_label<T>(), n_str(n), lab.time_ms(run), 3.0 * n * sizeof(T), 0, err);
  }
}

void run(Lab& lab) {
  bench_lrt_sample<float>(lab);
  bench_r2g2_ratio<float>(lab);
  bench_sign_of<float>(lab);
  bench_mask_by_positive<float>(lab);
}

R2G2_BENCH("r2g2_elementwise", "lrt_sample, r2g2_ratio, sign_of, mask_by_positive",
           "R2-G2 and LRT: elementwise kernels, batched CG solves", 110, false, run);

}  // namespace
