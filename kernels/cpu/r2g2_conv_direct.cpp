// The CPU's direct m-space conv solve (kernels/cpu/r2g2_conv.h): every K_nc of a group of
// images from one GEMM, then a float64 pivoted Cholesky per system.
#include <algorithm>
#include <cmath>
#include <vector>

#include "r2g2/kernels/cpu/gemm.h"
#include "r2g2/kernels/cpu/r2g2_cg.h"
#include "r2g2/kernels/cpu/r2g2_conv.h"
#include "r2g2/kernels/runtime/thread_pool.h"

namespace r2g2::kernels::cpu {

namespace {

int64_t pair_count(int64_t P) { return P * (P + 1) / 2; }

// Images whose Z matrices share one GEMM: the GEMM then reads sigma² [O, D] once per group
// instead of once per image (at P = 4 its other operand has only 10 columns per image, so
// a GEMM per image would be bound by reading sigma²). The group's Z stays within
// kGroupElements doubles (8 MB), near the cache, however large the batch.
constexpr int64_t kGroupElements = int64_t{1} << 20;
int64_t images_per_group(const ConvGeom& g) {
  const int64_t per_image = std::max<int64_t>(g.patch_size() * pair_count(g.positions()), 1);
  return std::clamp<int64_t>(kGroupElements / per_image, 1, std::max<int64_t>(g.images, 1));
}

// The buffers of one call, kept by the calling thread for the next: freshly allocated, their
// tens of megabytes (sigma² and sigma ⊙ eps are O D doubles each) cost more in page faults
// than the GEMM that reads them (measured: 0.2 s of 0.4 s at D = 2304, P = 16, O = 512).
struct DirectBuffers {
  std::vector<double> s2, se, Z, Xcat, K_all, rhs_all;
};
double* sized(std::vector<double>& v, int64_t n) {
  if (static_cast<int64_t>(v.size()) < n) v.resize(static_cast<size_t>(n));
  return v.data();
}

// Scratch of one thread's systems.
struct DirectWork {
  std::vector<double> K, L, rhs, c, z, x, kx;
  std::vector<int> perm;
  explicit DirectWork(int64_t P)
      : K(P * P), L(P * P), rhs(P), c(P), z(P), x(P), kx(P), perm(static_cast<size_t>(P)) {}
};

struct DirectResult {
  double rel_residual = 0, star_sq = 0;
};

// Solves K x = rhs (w.K, w.rhs filled; P x P) into w.x: the basic solution of a pivoted
// Cholesky, as kernels/cpu/r2g2_cg.h's latent direct solve.
DirectResult solve_system(DirectWork& w, int P, double rel_cut) {
  double b_sq = 0;
  for (int i = 0; i < P; ++i) b_sq += w.rhs[i] * w.rhs[i];
  std::fill(w.x.begin(), w.x.end(), 0.0);
  if (!(b_sq > 0)) return {b_sq == 0 ? 0.0 : std::sqrt(b_sq), 0.0};  // rhs = 0: eps* = 0
  std::copy(w.K.begin(), w.K.end(), w.L.begin());
  const int r = pivoted_cholesky(w.L.data(), P, w.perm.data(), rel_cut);
  auto L = [&](int i, int j) { return w.L[i * P + j]; };  // i >= j, in pivot order
  for (int i = 0; i < r; ++i) {
    double acc = w.rhs[w.perm[i]];
    for (int j = 0; j < i; ++j) acc -= L(i, j) * w.c[j];
    w.c[i] = acc / L(i, i);
  }
  for (int i = r - 1; i >= 0; --i) {
    double acc = w.c[i];
    for (int j = i + 1; j < r; ++j) acc -= L(j, i) * w.z[j];
    w.z[i] = acc / L(i, i);
  }
  for (int i = 0; i < r; ++i) w.x[w.perm[i]] = w.z[i];
  double res_sq = 0, star_sq = 0;
  for (int p = 0; p < P; ++p) {
    double acc = 0;
    for (int q = 0; q < P; ++q) acc += w.K[p * P + q] * w.x[q];
    res_sq += (acc - w.rhs[p]) * (acc - w.rhs[p]);
    star_sq += w.x[p] * acc;  // |s ⊙ X beta|² = betaᵀ K beta
  }
  return {std::sqrt(res_sq / b_sq), star_sq};
}

}  // namespace

double conv_explicit_k_flops(const ConvGeom& g) {
  const double D = static_cast<double>(g.patch_size()), P = static_cast<double>(g.positions()),
               O = static_cast<double>(g.out_channels), T = static_cast<double>(pair_count(g.positions()));
  return static_cast<double>(g.images) * (2 * O * D * T + D * T + O * (P * P * P / 3 + 4 * P * P));
}

double conv_cg_flops_bound(const ConvGeom& g) {
  const double D = static_cast<double>(g.patch_size()), P = static_cast<double>(g.positions()),
               O = static_cast<double>(g.out_channels);
  return static_cast<double>(g.images) * 4 * O * D * P * std::min(P, D);
}

bool conv_explicit_k_fits(const ConvGeom& g) {
  return g.positions() <= kDirectMaxPositions &&
         g.patch_size() * pair_count(g.positions()) <= kExplicitKElements &&
         conv_explicit_k_flops(g) < conv_cg_flops_bound(g);
}

template <class T>
void r2g2_conv_solve_m_direct(const T* cols, const T* sigma, const T* eps, T* beta, const R2G2SolveStats& st,
                              const ConvGeom& g, double rel_cut) {
  const int64_t D = g.patch_size(), P = g.positions(), O = g.out_channels, PT = pair_count(P);
  if (g.images <= 0 || O <= 0 || P <= 0) return;
  const int64_t group = images_per_group(g);
  thread_local DirectBuffers buf;
  double* s2 = sized(buf.s2, O * D);
  double* se = sized(buf.se, O * D);
  for (int64_t i = 0; i < O * D; ++i) {
    const double sd = sigma[i];
    s2[i] = sd * sd;
    se[i] = sd * static_cast<double>(eps[i]);
  }
  std::vector<int> pair_p(PT), pair_q(PT);
  for (int64_t p = 0, t = 0; p < P; ++p)
    for (int64_t q = p; q < P; ++q, ++t) {
      pair_p[t] = static_cast<int>(p);
      pair_q[t] = static_cast<int>(q);
    }
  // Z [D, group T] and Xcat [D, group P]: the pair products and X of every image of a group
  // side by side, so that one GEMM each forms K_all [O, group T] and rhs_all [O, group P].
  double* Z = sized(buf.Z, D * group * PT);
  double* Xcat = sized(buf.Xcat, D * group * P);
  double* K_all = sized(buf.K_all, O * group * PT);
  double* rhs_all = sized(buf.rhs_all, O * group * P);
  for (int64_t n0 = 0; n0 < g.images; n0 += group) {
    const int64_t count = std::min(group, g.images - n0), zw = count * PT, xw = count * P;
    for (int64_t d = 0; d < D; ++d)
      for (int64_t i = 0; i < count; ++i) {
        const T* row = cols + ((n0 + i) * D + d) * P;
        double* z = Z + d * zw + i * PT;
        double* xc = Xcat + d * xw + i * P;
        for (int64_t p = 0; p < P; ++p) xc[p] = static_cast<double>(row[p]);
        for (int64_t t = 0; t < PT; ++t) z[t] = xc[pair_p[t]] * xc[pair_q[t]];
      }
    gemm<double>(false, false, O, zw, D, 1.0, s2, D, Z, zw, 0.0, K_all, zw);
    gemm<double>(false, false, O, xw, D, 1.0, se, D, Xcat, xw, 0.0, rhs_all, xw);
    // A chunk of systems should hold some tens of microseconds of work (P³ / 3 each).
    const int64_t grain = std::max<int64_t>(1, (int64_t{1} << 16) / (P * P * P / 3 + 4 * P * P + 1));
    runtime::parallel_for(0, count * O, grain, [&](int64_t lo, int64_t hi) {
      DirectWork w(P);
      for (int64_t k = lo; k < hi; ++k) {
        const int64_t i = k / O, c = k % O, sys = (n0 + i) * O + c;
        const double* kp = K_all + c * zw + i * PT;
        for (int64_t t = 0; t < PT; ++t)
          w.K[pair_p[t] * P + pair_q[t]] = w.K[pair_q[t] * P + pair_p[t]] = kp[t];
        std::copy_n(rhs_all + c * xw + i * P, P, w.rhs.begin());
        const DirectResult res = solve_system(w, static_cast<int>(P), rel_cut);
        T* out = beta + sys * P;
        for (int64_t q = 0; q < P; ++q) out[q] = static_cast<T>(w.x[q]);
        if (st.iterations) st.iterations[sys] = 0;
        if (st.rel_residual) st.rel_residual[sys] = res.rel_residual;
        if (st.eps_star_sq) st.eps_star_sq[sys] = res.star_sq;
      }
    });
  }
}

template void r2g2_conv_solve_m_direct<float>(const float*, const float*, const float*, float*,
                                              const R2G2SolveStats&, const ConvGeom&, double);
template void r2g2_conv_solve_m_direct<double>(const double*, const double*, const double*, double*,
                                               const R2G2SolveStats&, const ConvGeom&, double);

}  // namespace r2g2::kernels::cpu
