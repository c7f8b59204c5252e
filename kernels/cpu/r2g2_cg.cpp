// CPU reference of the batched R2-G2 latent solve (see kernels/r2g2_cg.inc) and its float64
// host helpers: the direct solve for systems CG leaves unfinished, and the rank of W.
#include "r2g2/kernels/cpu/r2g2_cg.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace r2g2::kernels::cpu {

namespace {

double dot(const double* a, const double* b, int n) {
  double s = 0;
  for (int i = 0; i < n; ++i) s += a[i] * b[i];
  return s;
}

// y[d] = sum_i W[i, d] v[i]  (W^T v)
void wt_times(const double* W, int m, int D, const double* v, double* y) {
  std::fill(y, y + D, 0.0);
  for (int i = 0; i < m; ++i) {
    const double vi = v[i];
    const double* row = W + static_cast<int64_t>(i) * D;
    for (int d = 0; d < D; ++d) y[d] += row[d] * vi;
  }
}

// y[i] = sum_d W[i, d] v[d]  (W v)
void w_times(const double* W, int m, int D, const double* v, double* y) {
  for (int i = 0; i < m; ++i) y[i] = dot(W + static_cast<int64_t>(i) * D, v, D);
}

// The operator of one system, with its scratch space.
struct System {
  const double* W;
  const double* G;  // W^T W (D-space only)
  int m, D;
  bool d_space;
  std::vector<double> s, t, u;
  System(const double* W_, const double* G_, int m_, int D_, bool d)
      : W(W_), G(G_), m(m_), D(D_), d_space(d), s(D_), t(std::max(m_, D_)), u(std::max(m_, D_)) {}
  int size() const { return d_space ? D : m; }
  // out = M v, M = K (m-space) or A^T A (D-space).
  void apply(const double* v, double* out) {
    if (!d_space) {
      wt_times(W, m, D, v, t.data());
      for (int d = 0; d < D; ++d) t[d] *= s[d] * s[d];
      w_times(W, m, D, t.data(), out);
    } else {
      for (int d = 0; d < D; ++d) t[d] = s[d] * v[d];
      for (int d = 0; d < D; ++d) out[d] = s[d] * dot(G + static_cast<int64_t>(d) * D, t.data(), D);
    }
  }
};

}  // namespace

template <class T>
void r2g2_latent_cg(const LatentSolve& sv, const T* W, const T* sigma, const T* eps, T* eps_star,
                    int32_t* iterations, double* residual) {
  const int m = sv.m, D = sv.D;
  std::vector<double> Wd(W, W + static_cast<int64_t>(m) * D);
  std::vector<double> G;
  if (sv.d_space) {  // shared by every system: D^2 per product instead of 2 m D
    G.assign(static_cast<size_t>(D) * D, 0.0);
    for (int i = 0; i < m; ++i) {
      const double* row = Wd.data() + static_cast<int64_t>(i) * D;
      for (int a = 0; a < D; ++a)
        for (int b = 0; b < D; ++b) G[static_cast<size_t>(a) * D + b] += row[a] * row[b];
    }
  }
  System sys(Wd.data(), G.data(), m, D, sv.d_space);
  const int k = sys.size();
  const R2G2Options& opt = sv.settings;
  const bool paper = opt.solver == R2G2Solver::paper;
  const int cap = iteration_cap(opt, sv.rank_bound);
  std::vector<double> e(D), b(k), x(k), r(k), p(k), Mp(k);

  for (int64_t n = 0; n < sv.systems; ++n) {
    const T* sn = sigma + n * D;
    const T* en = eps + n * D;
    for (int d = 0; d < D; ++d) {
      sys.s[d] = static_cast<double>(sn[d]);
      e[d] = static_cast<double>(en[d]);
    }
    if (!sv.d_space) {  // b = A eps = W (sigma . eps)
      for (int d = 0; d < D; ++d) sys.u[d] = sys.s[d] * e[d];
      w_times(Wd.data(), m, D, sys.u.data(), b.data());
    } else {
      sys.apply(e.data(), b.data());
    }
    const double bnorm = std::sqrt(dot(b.data(), b.data(), k));
    int it = 0;
    double rel = 0;
    if (bnorm == 0.0) {
      std::fill(x.begin(), x.end(), 0.0);
    } else {
      if (paper) {
        x = b;
        sys.apply(x.data(), Mp.data());
        for (int i = 0; i < k; ++i) r[i] = b[i] - Mp[i];
      } else {
        std::fill(x.begin(), x.end(), 0.0);
        r = b;
      }
      p = r;
      double rr = dot(r.data(), r.data(), k);
      while (it < cap) {
        if (paper) {
          double worst = 0;
          for (int i = 0; i < k; ++i) worst = std::max(worst, std::abs(r[i]));
          if (worst < opt.abs_tol) break;
        } else if (std::sqrt(rr) <= opt.tol * bnorm) {
          break;
        }
        sys.apply(p.data(), Mp.data());
        const double pMp = dot(p.data(), Mp.data(), k);
        if (!(pMp > 0.0) || !std::isfinite(pMp)) break;  // p in the null space: nothing left to remove
        const double alpha = rr / pMp;
        for (int i = 0; i < k; ++i) {
          x[i] += alpha * p[i];
          r[i] -= alpha * Mp[i];
        }
        const double rr_new = dot(r.data(), r.data(), k);
        const double beta = rr_new / rr;
        for (int i = 0; i < k; ++i) p[i] = r[i] + beta * p[i];
        rr = rr_new;
        ++it;
      }
      // Report the true residual, not the recursively updated one.
      sys.apply(x.data(), Mp.data());
      double rt = 0;
      for (int i = 0; i < k; ++i) rt += (b[i] - Mp[i]) * (b[i] - Mp[i]);
      rel = std::sqrt(rt) / bnorm;
    }
    T* out = eps_star + n * D;
    if (!sv.d_space) {  // eps* = A^T beta = sigma . (W^T beta)
      wt_times(Wd.data(), m, D, x.data(), sys.t.data());
      for (int d = 0; d < D; ++d) out[d] = static_cast<T>(sys.s[d] * sys.t[d]);
    } else {
      for (int d = 0; d < D; ++d) out[d] = static_cast<T>(x[d]);
    }
    if (iterations) iterations[n] = it;
    if (residual) residual[n] = rel;
  }
}

int pivoted_cholesky(double* A, int k, int* perm, double rel_cut) {
  for (int i = 0; i < k; ++i) perm[i] = i;
  double dmax = 0;
  for (int i = 0; i < k; ++i) dmax = std::max(dmax, A[i * k + i]);
  if (!(dmax > 0)) return 0;
  for (int j = 0; j < k; ++j) {
    int piv = j;
    for (int i = j + 1; i < k; ++i)
      if (A[i * k + i] > A[piv * k + piv]) piv = i;
    if (!(A[piv * k + piv] > rel_cut * dmax)) return j;
    if (piv != j) {  // symmetric swap; rows carry their finished L entries along
      for (int c = 0; c < k; ++c) std::swap(A[j * k + c], A[piv * k + c]);
      for (int r = 0; r < k; ++r) std::swap(A[r * k + j], A[r * k + piv]);
      std::swap(perm[j], perm[piv]);
    }
    const double l = std::sqrt(A[j * k + j]);
    A[j * k + j] = l;
    for (int i = j + 1; i < k; ++i) A[i * k + j] /= l;
    for (int i = j + 1; i < k; ++i)
      for (int c = j + 1; c <= i; ++c) {
        A[i * k + c] -= A[i * k + j] * A[c * k + j];
        A[c * k + i] = A[i * k + c];
      }
  }
  return k;
}

template <class T>
int gram_rank(const T* W, int m, int D, double rel_cut) {
  const bool rows = m <= D;  // Gram of the smaller side
  const int k = rows ? m : D;
  std::vector<double> A(static_cast<size_t>(k) * k, 0.0);
  if (rows) {
    for (int a = 0; a < k; ++a)
      for (int c = 0; c < k; ++c) {
        double acc = 0;
        for (int d = 0; d < D; ++d) acc += static_cast<double>(W[a * D + d]) * static_cast<double>(W[c * D + d]);
        A[a * k + c] = acc;
      }
  } else {
    // Column dot products as rank-1 updates, row by row: the inner loop walks a row of W
    // (stride 1) instead of a column (stride D), and each
    // entry still sums over i in ascending order, so A is the same to the bit. The upper
    // triangle is computed and mirrored (products commute exactly).
    for (int i = 0; i < m; ++i) {
      const T* row = W + static_cast<int64_t>(i) * D;
      for (int a = 0; a < k; ++a) {
        const double wa = static_cast<double>(row[a]);
        double* Aa = &A[static_cast<size_t>(a) * k];
        for (int c = a; c < k; ++c) Aa[c] += wa * static_cast<double>(row[c]);
      }
    }
    for (int a = 0; a < k; ++a)
      for (int c = 0; c < a; ++c) A[a * k + c] = A[c * k + a];
  }
  std::vector<int> perm(k);
  return pivoted_cholesky(A.data(), k, perm.data(), rel_cut);
}

template <class T>
void r2g2_latent_direct(const LatentSolve& sv, const T* W, const T* sigma, const T* eps, T* eps_star,
                        const int64_t* which, int64_t count, double* residual, double rel_cut) {
  const int m = sv.m, D = sv.D;
  const int k = sv.d_space ? D : m;
  std::vector<double> Wd(W, W + static_cast<int64_t>(m) * D), G;
  if (sv.d_space) {
    G.assign(static_cast<size_t>(D) * D, 0.0);
    for (int i = 0; i < m; ++i)
      for (int a = 0; a < D; ++a)
        for (int c = 0; c < D; ++c) G[a * D + c] += Wd[i * D + a] * Wd[i * D + c];
  }
  System sys(Wd.data(), G.data(), m, D, sv.d_space);
  std::vector<double> M(static_cast<size_t>(k) * k), e(D), b(k), x(k), Mx(k), c(k), z(k), N;
  std::vector<int> perm(k);
  const int64_t total = which ? count : sv.systems;
  for (int64_t t = 0; t < total; ++t) {
    const int64_t n = which ? which[t] : t;
    for (int d = 0; d < D; ++d) {
      sys.s[d] = static_cast<double>(sigma[n * D + d]);
      e[d] = static_cast<double>(eps[n * D + d]);
    }
    const std::vector<double>& s = sys.s;
    if (!sv.d_space) {  // K = W diag(s^2) W^T, b = W (s . e)
      for (int i = 0; i < m; ++i)
        for (int j = 0; j <= i; ++j) {
          double acc = 0;
          for (int d = 0; d < D; ++d) acc += Wd[i * D + d] * Wd[j * D + d] * s[d] * s[d];
          M[i * k + j] = M[j * k + i] = acc;
        }
      for (int d = 0; d < D; ++d) sys.u[d] = s[d] * e[d];
      w_times(Wd.data(), m, D, sys.u.data(), b.data());
    } else {  // A^T A = diag(s) G diag(s)
      for (int a = 0; a < D; ++a)
        for (int j = 0; j < D; ++j) M[a * k + j] = s[a] * G[a * D + j] * s[j];
      sys.apply(e.data(), b.data());
    }
    const int r = pivoted_cholesky(M.data(), k, perm.data(), rel_cut);
    auto L = [&](int i, int j) { return M[i * k + j]; };  // i >= j, in pivot order
    std::fill(x.begin(), x.end(), 0.0);
    if (!sv.d_space) {
      // Basic solution: L_r c = (P^T b)_r, L_r^T z = c, beta = P [z; 0]. eps* = A^T beta
      // does not depend on which solution of K beta = b is taken.
      for (int i = 0; i < r; ++i) {
        double acc = b[perm[i]];
        for (int j = 0; j < i; ++j) acc -= L(i, j) * c[j];
        c[i] = acc / L(i, i);
      }
      for (int i = r - 1; i >= 0; --i) {
        double acc = c[i];
        for (int j = i + 1; j < r; ++j) acc -= L(j, i) * z[j];
        z[i] = acc / L(i, i);
      }
      for (int i = 0; i < r; ++i) x[perm[i]] = z[i];
    } else {
      // Projection onto range(P L): u = L^T P^T e, (L^T L) w = u, eps* = P L w.
      N.assign(static_cast<size_t>(r) * r, 0.0);
      for (int a = 0; a < r; ++a) {
        double acc = 0;
        for (int i = a; i < k; ++i) acc += L(i, a) * e[perm[i]];
        c[a] = acc;
        for (int j = 0; j <= a; ++j) {
          double nn = 0;
          for (int i = a; i < k; ++i) nn += L(i, a) * L(i, j);
          N[a * r + j] = N[j * r + a] = nn;
        }
      }
      // Cholesky of N (r x r, positive definite by construction), then two triangular solves.
      for (int j = 0; j < r; ++j) {
        double d = N[j * r + j];
        for (int l = 0; l < j; ++l) d -= N[j * r + l] * N[j * r + l];
        d = std::sqrt(std::max(d, 0.0));
        N[j * r + j] = d;
        for (int i = j + 1; i < r; ++i) {
          double acc = N[i * r + j];
          for (int l = 0; l < j; ++l) acc -= N[i * r + l] * N[j * r + l];
          N[i * r + j] = d > 0 ? acc / d : 0.0;
        }
      }
      for (int i = 0; i < r; ++i) {
        double acc = c[i];
        for (int l = 0; l < i; ++l) acc -= N[i * r + l] * z[l];
        z[i] = N[i * r + i] > 0 ? acc / N[i * r + i] : 0.0;
      }
      for (int i = r - 1; i >= 0; --i) {
        double acc = z[i];
        for (int l = i + 1; l < r; ++l) acc -= N[l * r + i] * z[l];
        z[i] = N[i * r + i] > 0 ? acc / N[i * r + i] : 0.0;
      }
      for (int i = 0; i < k; ++i) {
        double acc = 0;
        for (int a = 0; a < std::min(r, i + 1); ++a) acc += L(i, a) * z[a];
        x[perm[i]] = acc;
      }
    }
    T* out = eps_star + n * D;
    if (!sv.d_space) {
      wt_times(Wd.data(), m, D, x.data(), sys.t.data());
      for (int d = 0; d < D; ++d) out[d] = static_cast<T>(s[d] * sys.t[d]);
    } else {
      for (int d = 0; d < D; ++d) out[d] = static_cast<T>(x[d]);
    }
    if (residual) {
      double bb = 0, rr = 0;
      sys.apply(x.data(), Mx.data());
      for (int i = 0; i < k; ++i) {
        bb += b[i] * b[i];
        rr += (b[i] - Mx[i]) * (b[i] - Mx[i]);
      }
      residual[n] = bb > 0 ? std::sqrt(rr / bb) : 0.0;
    }
  }
}

#define R2G2_INSTANTIATE(T)                                                                                 \
  template void r2g2_latent_cg<T>(const LatentSolve&, const T*, const T*, const T*, T*, int32_t*, double*); \
  template int gram_rank<T>(const T*, int, int, double);                                                    \
  template void r2g2_latent_direct<T>(const LatentSolve&, const T*, const T*, const T*, T*, const int64_t*, \
                                      int64_t, double*, double);
R2G2_INSTANTIATE(float)
R2G2_INSTANTIATE(double)
#undef R2G2_INSTANTIATE

}  // namespace r2g2::kernels::cpu
