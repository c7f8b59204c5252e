// CPU reference of the batched R2-G2 conv solves (see kernels/r2g2_conv.inc). Systems run one
// after another; the O systems of one image share X_n, which then stays in cache.
#include "r2g2/kernels/cpu/r2g2_conv.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "r2g2/kernels/cpu/gemm.h"

namespace r2g2::kernels::cpu {

namespace {

double dot(const double* a, const double* b, int64_t n) {
  double s = 0;
  for (int64_t i = 0; i < n; ++i) s += a[i] * b[i];
  return s;
}

struct CGResult {
  int iterations = 0;
  double rel_residual = 0;
};

// Work vectors of one system, reused across systems; u holds the normalised residuals
// (at most cap + 1 of them).
struct CGWork {
  std::vector<double> r, p, ap, u;
  CGWork(int64_t n, int cap) : r(n), p(n), ap(n), u(static_cast<size_t>(n) * (cap + 1)) {}
};

// Conjugate gradient on a symmetric positive semi-definite system b = A x, A applied
// by apply(v, out). `trace` (>= the largest eigenvalue) scales the breakdown test:
// a direction with pᵀAp below 1e-15 * trace * |p|² lies in the null space up to
// rounding, and stepping along it would only amplify that rounding.
//
// Each new residual is re-orthogonalised against all earlier ones (which exact CG keeps
// mutually orthogonal). Rounding otherwise destroys the finite termination that the
// rank cap relies on: random full-rank 16 x 16 systems with condition ~1e5 needed 18 to
// 21 plain iterations in double, and stopped at the cap of 16 with residuals up to 0.5.
// The cost, k n per iteration, is small next to applying A when D >> P.
template <class Apply>
CGResult conjugate_gradient(Apply&& apply, const double* b, double* x, int64_t n, int cap, double trace,
                            const R2G2Options& s, CGWork& w) {
  double* r = w.r.data();
  double* p = w.p.data();
  double* ap = w.ap.data();
  const bool paper = s.solver == R2G2Solver::paper;
  const double b_norm = std::sqrt(dot(b, b, n));
  if (!(b_norm > 0)) {  // rhs = 0: eps* = 0 (a degenerate system is not an error)
    std::fill(x, x + n, 0.0);
    return {0, b_norm == 0 ? 0.0 : b_norm};
  }
  if (paper) {
    std::copy(b, b + n, x);
    apply(x, ap);
    for (int64_t i = 0; i < n; ++i) r[i] = b[i] - ap[i];
  } else {
    std::fill(x, x + n, 0.0);
    std::copy(b, b + n, r);
  }
  double rr = dot(r, r, n);
  auto converged = [&] {
    if (!paper) return std::sqrt(rr) <= s.tol * b_norm;
    for (int64_t i = 0; i < n; ++i)
      if (!(std::abs(r[i]) < s.abs_tol)) return false;
    return true;
  };
  std::copy(r, r + n, p);
  double* u = w.u.data();
  int basis = 0;
  auto push_residual = [&] {
    if (!(rr > 0)) return;
    const double inv = 1.0 / std::sqrt(rr);
    for (int64_t i = 0; i < n; ++i) u[basis * n + i] = r[i] * inv;
    ++basis;
  };
  push_residual();
  int it = 0;
  while (it < cap && !converged()) {
    apply(p, ap);
    const double pap = dot(p, ap, n);
    if (!(pap > 1e-15 * trace * dot(p, p, n))) break;
    const double alpha = rr / pap;
    for (int64_t i = 0; i < n; ++i) {
      x[i] += alpha * p[i];
      r[i] -= alpha * ap[i];
    }
    for (int j = 0; j < basis; ++j) {
      const double* uj = u + j * n;
      const double a = dot(uj, r, n);
      for (int64_t i = 0; i < n; ++i) r[i] -= a * uj[i];
    }
    const double rr_new = dot(r, r, n);
    ++it;
    const double beta = rr_new / rr;
    rr = rr_new;
    for (int64_t i = 0; i < n; ++i) p[i] = r[i] + beta * p[i];
    if (basis <= cap) push_residual();
  }
  return {it, std::sqrt(rr) / b_norm};
}

void write_stats(const R2G2SolveStats& st, int64_t sys, const CGResult& res, double star_sq) {
  if (st.iterations) st.iterations[sys] = res.iterations;
  if (st.rel_residual) st.rel_residual[sys] = res.rel_residual;
  if (st.eps_star_sq) st.eps_star_sq[sys] = star_sq;
}

// The O matrices K_nc of image n formed at once, when D P² is small (the upper layers of a
// CNN): K_all [O, P²] = (s²) [O, D] x Z [D, P²] with Z[d, (p, q)] = X[d, p] X[d, q], one
// double GEMM, and the right-hand sides [O, P] = (s ⊙ eps) [O, D] x X [D, P]. CG then
// applies each K in P² instead of 2DP, with the same iterates as the matrix-free form.
// Measured (Release, this 2-core CPU, OpenBLAS) at N = 16, C = 256, O = 512, 4x4 (P = 16,
// D = 2304): the solve took 2.7 s matrix-free and 0.25 s this way (rt's forward: 0.05 s).
// Z is D P² doubles: above kExplicitKElements (kernels/cpu/r2g2_conv.h) the matrix-free
// form is used.

template <class T>
void solve_m_explicit(const T* cols, const T* sigma, const T* eps, T* beta, const R2G2SolveStats& st,
                      const ConvGeom& g, const R2G2Options& s, int cap) {
  const int64_t D = g.patch_size(), P = g.positions(), O = g.out_channels, PP = P * P;
  const bool paper = s.solver == R2G2Solver::paper;
  std::vector<double> s2(O * D), se(O * D), Xd(D * P), Z(D * PP), K_all(O * PP), rhs_all(O * P), x(P), kx(P);
  for (int64_t i = 0; i < O * D; ++i) {
    const double sd = sigma[i];
    s2[i] = sd * sd;
    se[i] = sd * static_cast<double>(eps[i]);
  }
  CGWork work(P, cap);
  for (int64_t n = 0; n < g.images; ++n) {
    const T* X = cols + n * D * P;
    for (int64_t d = 0; d < D; ++d) {
      const T* row = X + d * P;
      double* z = Z.data() + d * PP;
      for (int64_t p = 0; p < P; ++p) {
        const double xp = row[p];
        Xd[d * P + p] = xp;
        for (int64_t q = 0; q < P; ++q) z[p * P + q] = xp * static_cast<double>(row[q]);
      }
    }
    gemm<double>(false, false, O, PP, D, 1.0, s2.data(), D, Z.data(), PP, 0.0, K_all.data(), PP);
    gemm<double>(false, false, O, P, D, 1.0, se.data(), D, Xd.data(), P, 0.0, rhs_all.data(), P);
    for (int64_t c = 0; c < O; ++c) {
      const double* K = K_all.data() + c * PP;
      auto apply = [&](const double* v, double* out) {
        for (int64_t p = 0; p < P; ++p) out[p] = dot(K + p * P, v, P);
      };
      double trace = 0;
      for (int64_t p = 0; p < P; ++p) trace += K[p * P + p];
      const CGResult res =
          conjugate_gradient(apply, rhs_all.data() + c * P, x.data(), P, cap, trace, s, work);
      T* out = beta + (n * O + c) * P;
      for (int64_t q = 0; q < P; ++q) out[q] = static_cast<T>(x[q]);
      double star_sq = 0;
      if (st.eps_star_sq && (res.iterations > 0 || paper)) {  // else x = 0; the paper's x0 = rhs is not
        apply(x.data(), kx.data());
        star_sq = dot(x.data(), kx.data(), P);
      }
      write_stats(st, n * O + c, res, star_sq);
    }
  }
}

// K applied as Xᵀ (s² ⊙ (X v)) without forming it: 2DP per product, any size.
template <class T>
void solve_m_matrix_free(const T* cols, const T* sigma, const T* eps, T* beta, const R2G2SolveStats& st,
                         const ConvGeom& g, const R2G2Options& s, int cap) {
  const int64_t D = g.patch_size(), P = g.positions();
  const bool paper = s.solver == R2G2Solver::paper;
  std::vector<double> s2(D), t(D), rhs(P), x(P), kx(P);
  CGWork work(P, cap);
  for (int64_t n = 0; n < g.images; ++n) {
    const T* X = cols + n * D * P;
    // out = Xᵀ diag(s2) X v, via t = s2 ⊙ (X v).
    auto apply = [&](const double* v, double* out) {
      for (int64_t d = 0; d < D; ++d) {
        const T* row = X + d * P;
        double acc = 0;
        for (int64_t q = 0; q < P; ++q) acc += static_cast<double>(row[q]) * v[q];
        t[d] = s2[d] * acc;
      }
      std::fill(out, out + P, 0.0);
      for (int64_t d = 0; d < D; ++d) {
        const double td = t[d];
        if (td == 0) continue;
        const T* row = X + d * P;
        for (int64_t q = 0; q < P; ++q) out[q] += static_cast<double>(row[q]) * td;
      }
    };
    for (int64_t c = 0; c < g.out_channels; ++c) {
      const T* sc = sigma + c * D;
      const T* ec = eps + c * D;
      // rhs = Xᵀ (s ⊙ eps) = A eps exactly: the same as h - Xᵀ mu without its cancellation.
      std::fill(rhs.begin(), rhs.end(), 0.0);
      double trace = 0;
      for (int64_t d = 0; d < D; ++d) {
        const double sd = sc[d];
        s2[d] = sd * sd;
        const double se = sd * static_cast<double>(ec[d]);
        const T* row = X + d * P;
        double row_sq = 0;
        for (int64_t q = 0; q < P; ++q) {
          const double xv = row[q];
          rhs[q] += xv * se;
          row_sq += xv * xv;
        }
        trace += s2[d] * row_sq;
      }
      const CGResult res = conjugate_gradient(apply, rhs.data(), x.data(), P, cap, trace, s, work);
      T* out = beta + (n * g.out_channels + c) * P;
      for (int64_t q = 0; q < P; ++q) out[q] = static_cast<T>(x[q]);
      double star_sq = 0;
      if (st.eps_star_sq && (res.iterations > 0 || paper)) {
        apply(x.data(), kx.data());
        star_sq = dot(x.data(), kx.data(), P);  // |s ⊙ X beta|² = betaᵀ K beta
      }
      write_stats(st, n * g.out_channels + c, res, star_sq);
    }
  }
}

}  // namespace

template <class T>
void r2g2_conv_solve_m(const T* cols, const T* sigma, const T* eps, T* beta, const R2G2SolveStats& st,
                       const ConvGeom& g, const R2G2Options& s) {
  const int64_t D = g.patch_size(), P = g.positions();
  const int cap = iteration_cap(s, static_cast<int>(std::min(D, P)));
  if (D * P * P <= kExplicitKElements)
    solve_m_explicit(cols, sigma, eps, beta, st, g, s, cap);
  else
    solve_m_matrix_free(cols, sigma, eps, beta, st, g, s, cap);
}

template <class T>
void r2g2_conv_solve_d(const T* cols, const T* sigma, const T* eps, T* eps_star, double* gram,
                       const R2G2SolveStats& st, const ConvGeom& g, const R2G2Options& s) {
  const int64_t D = g.patch_size(), P = g.positions();
  const int cap = static_cast<int>(std::min(D, P));
  std::vector<double> sd(D), u(D), rhs(D), y(D), e(D);
  CGWork work(D, cap);
  R2G2Options cg = s;
  cg.solver = R2G2Solver::cg;  // the paper's solver exists only in m-space
  for (int64_t n = 0; n < g.images; ++n) {
    const T* X = cols + n * D * P;
    double* G = gram + n * D * D;
    for (int64_t i = 0; i < D; ++i)
      for (int64_t j = 0; j <= i; ++j) {
        double acc = 0;
        for (int64_t q = 0; q < P; ++q) acc += static_cast<double>(X[i * P + q]) * X[j * P + q];
        G[i * D + j] = G[j * D + i] = acc;
      }
    // out = diag(s) G diag(s) v.
    auto apply = [&](const double* v, double* out) {
      for (int64_t i = 0; i < D; ++i) u[i] = sd[i] * v[i];
      for (int64_t i = 0; i < D; ++i) {
        if (sd[i] == 0) {
          out[i] = 0;
          continue;
        }
        const double* row = G + i * D;
        double acc = 0;
        for (int64_t j = 0; j < D; ++j) acc += row[j] * u[j];
        out[i] = sd[i] * acc;
      }
    };
    for (int64_t c = 0; c < g.out_channels; ++c) {
      double trace = 0;
      for (int64_t i = 0; i < D; ++i) {
        sd[i] = sigma[c * D + i];
        e[i] = eps[c * D + i];
        trace += sd[i] * sd[i] * G[i * D + i];
      }
      apply(e.data(), rhs.data());
      const CGResult res = conjugate_gradient(apply, rhs.data(), y.data(), D, cap, trace, cg, work);
      T* out = eps_star + (n * g.out_channels + c) * D;
      for (int64_t i = 0; i < D; ++i) out[i] = static_cast<T>(y[i]);
      write_stats(st, n * g.out_channels + c, res, dot(y.data(), y.data(), D));
    }
  }
}

#define R2G2_INSTANTIATE(T)                                                                            \
  template void r2g2_conv_solve_m<T>(const T*, const T*, const T*, T*, const R2G2SolveStats&,          \
                                     const ConvGeom&, const R2G2Options&);                             \
  template void r2g2_conv_solve_d<T>(const T*, const T*, const T*, T*, double*, const R2G2SolveStats&, \
                                     const ConvGeom&, const R2G2Options&);
R2G2_INSTANTIATE(float)
R2G2_INSTANTIATE(double)
#undef R2G2_INSTANTIATE

}  // namespace r2g2::kernels::cpu
