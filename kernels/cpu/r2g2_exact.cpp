// The float64 projection oracle of the R2-G2 solves (see r2g2_exact.h).
#include "r2g2/kernels/cpu/r2g2_exact.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace r2g2::kernels::cpu {

namespace {

double dot(const double* a, const double* b, int64_t n) {
  double s = 0;
  for (int64_t i = 0; i < n; ++i) s += a[i] * b[i];
  return s;
}

}  // namespace

int project_onto_span(double* V, int64_t count, int64_t dim, const double* e, double* out, double rel_cut) {
  std::vector<double> norm(static_cast<size_t>(count)), Q, q(static_cast<size_t>(dim));
  std::vector<char> used(static_cast<size_t>(count), 0);
  double max_norm = 0;
  for (int64_t j = 0; j < count; ++j) {
    norm[j] = std::sqrt(dot(V + j * dim, V + j * dim, dim));
    max_norm = std::max(max_norm, norm[j]);
  }
  int rank = 0;
  while (rank < std::min(count, dim)) {
    int64_t best = -1;
    for (int64_t j = 0; j < count; ++j)
      if (!used[j] && (best < 0 || norm[j] > norm[best])) best = j;
    if (best < 0 || !(max_norm > 0) || norm[best] <= rel_cut * max_norm) break;
    used[best] = 1;
    std::copy(V + best * dim, V + (best + 1) * dim, q.begin());
    // Second pass against every earlier direction: classical loss of orthogonality
    // would otherwise let rounding re-enter the basis.
    for (int pass = 0; pass < 2; ++pass)
      for (int i = 0; i < rank; ++i) {
        const double* qi = Q.data() + static_cast<int64_t>(i) * dim;
        const double a = dot(qi, q.data(), dim);
        for (int64_t d = 0; d < dim; ++d) q[d] -= a * qi[d];
      }
    const double qn = std::sqrt(dot(q.data(), q.data(), dim));
    if (!(qn > rel_cut * max_norm)) continue;
    for (double& v : q) v /= qn;
    Q.insert(Q.end(), q.begin(), q.end());
    ++rank;
    for (int64_t j = 0; j < count; ++j) {
      if (used[j]) continue;
      double* vj = V + j * dim;
      const double a = dot(q.data(), vj, dim);
      for (int64_t d = 0; d < dim; ++d) vj[d] -= a * q[d];
      norm[j] = std::sqrt(dot(vj, vj, dim));
    }
  }
  std::vector<double> acc(static_cast<size_t>(dim), 0.0);
  for (int i = 0; i < rank; ++i) {
    const double* qi = Q.data() + static_cast<int64_t>(i) * dim;
    const double a = dot(qi, e, dim);
    for (int64_t d = 0; d < dim; ++d) acc[d] += a * qi[d];
  }
  std::copy(acc.begin(), acc.end(), out);
  return rank;
}

template <class T>
void r2g2_latent_exact(int64_t systems, int m, int D, const T* W, const T* sigma, const T* eps, T* eps_star) {
  std::vector<double> V(static_cast<size_t>(m) * D), e(D), out(D);
  for (int64_t n = 0; n < systems; ++n) {
    const T* s = sigma + n * D;
    for (int i = 0; i < m; ++i)
      for (int d = 0; d < D; ++d)
        V[static_cast<size_t>(i) * D + d] = static_cast<double>(s[d]) * static_cast<double>(W[i * D + d]);
    for (int d = 0; d < D; ++d) e[d] = static_cast<double>(eps[n * D + d]);
    project_onto_span(V.data(), m, D, e.data(), out.data());
    for (int d = 0; d < D; ++d) eps_star[n * D + d] = static_cast<T>(out[d]);
  }
}

void r2g2_conv_exact(const double* cols, const double* sigma, const double* eps, double* eps_star, int* rank,
                     const ConvGeom& g) {
  const int64_t D = g.patch_size(), P = g.positions(), O = g.out_channels;
  std::vector<double> V(static_cast<size_t>(P * D));
  for (int64_t n = 0; n < g.images; ++n) {
    const double* X = cols + n * D * P;
    for (int64_t c = 0; c < O; ++c) {
      const double* s = sigma + c * D;
      for (int64_t q = 0; q < P; ++q)
        for (int64_t d = 0; d < D; ++d) V[q * D + d] = s[d] * X[d * P + q];
      const int r = project_onto_span(V.data(), P, D, eps + c * D, eps_star + (n * O + c) * D);
      if (rank) rank[n * O + c] = r;
    }
  }
}

template void r2g2_latent_exact<float>(int64_t, int, int, const float*, const float*, const float*, float*);
template void r2g2_latent_exact<double>(int64_t, int, int, const double*, const double*, const double*,
                                        double*);

}  // namespace r2g2::kernels::cpu
