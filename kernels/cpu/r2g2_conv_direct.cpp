// The CPU's direct m-space conv solve (kernels/cpu/r2g2_conv.h): every K_nc of a group of
// images from one GEMM per group of patch rows that share their support, then a float64
// pivoted Cholesky per system. The backward that turns beta into the gradients is
// kernels/cpu/r2g2_conv_backward.cpp.
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <map>
#include <vector>

#include "r2g2/kernels/cpu/gemm.h"
#include "r2g2/kernels/cpu/r2g2_cg.h"
#include "r2g2/kernels/cpu/r2g2_conv.h"
#include "r2g2/kernels/runtime/thread_pool.h"

namespace r2g2::kernels::cpu {

namespace {

int64_t pair_count(int64_t P) { return P * (P + 1) / 2; }

// Images whose Z matrices share one GEMM: the GEMM then reads sigma² once per group
// instead of once per image (at P = 4 its other operand has only 10 columns per image, so
// a GEMM per image would be bound by reading sigma²). The group's largest Z_G (z_per_image
// doubles per image) stays within kGroupElements doubles (8 MB), near the cache, and its K
// (k_per_image per image) within four times that, however large the batch.
constexpr int64_t kGroupElements = int64_t{1} << 20;
int64_t images_per_group(const ConvGeom& g, int64_t z_per_image, int64_t k_per_image) {
  const int64_t by_z = kGroupElements / std::max<int64_t>(z_per_image, 1);
  const int64_t by_k = 4 * kGroupElements / std::max<int64_t>(k_per_image, 1);
  return std::clamp<int64_t>(std::min(by_z, by_k), 1, std::max<int64_t>(g.images, 1));
}

// The buffers of one call, kept by the calling thread for the next: freshly allocated, their
// tens of megabytes (sigma² and sigma ⊙ eps are O D doubles each) cost more in page faults
// than the GEMM that reads them (measured: 0.2 s of 0.4 s at D = 2304, P = 16, O = 512).
struct DirectBuffers {
  std::vector<double> s2, s2g, se, Z, Xcat, K_all, rhs_all;
};
double* sized(std::vector<double>& v, int64_t n) {
  if (static_cast<int64_t>(v.size()) < n) v.resize(static_cast<size_t>(n));
  return v.data();
}

// Rows of the patch matrices grouped by where they can be non-zero. Row d of X_n is zero at
// every position its kernel tap puts outside the image (padding), and K_nc only needs the
// pairs (p, q) that a row can make non-zero: at 3x3 taps with padding 1 on 4 x 4 maps the
// nine taps leave 628 of the 9 x 136 (row, pair) products, on 2 x 2 maps 26 of 9 x 10. The
// support of a row is taken from the data (the union over the batch of its non-zero
// positions), so it holds for any layer: a row of zeros drops out, and a rarer support is
// folded into the group of the smallest support containing it (products outside a row's
// support are exact zeros), so that the groups stay few and their GEMMs large.
struct RowGroup {
  std::vector<int> rows;   // row indices d, increasing
  std::vector<int> pairs;  // indices t of the pairs (p <= q) with both p and q in the support
};
constexpr size_t kMaxRowGroups = 16;

template <class T>
std::vector<RowGroup> row_groups(const T* cols, const ConvGeom& g) {
  const int64_t D = g.patch_size(), P = g.positions();
  if (P > 64) {  // beyond a 64-bit support mask (the cost model never picks this solve there)
    RowGroup all;
    for (int64_t d = 0; d < D; ++d) all.rows.push_back(static_cast<int>(d));
    for (int64_t t = 0; t < pair_count(P); ++t) all.pairs.push_back(static_cast<int>(t));
    return {all};
  }
  std::vector<uint64_t> support(static_cast<size_t>(D), 0);
  for (int64_t n = 0; n < g.images; ++n)
    for (int64_t d = 0; d < D; ++d) {
      const T* row = cols + (n * D + d) * P;
      uint64_t m = 0;
      for (int64_t p = 0; p < P; ++p)
        if (row[p] != T(0)) m |= uint64_t{1} << p;
      support[d] |= m;
    }
  std::map<uint64_t, int64_t> rows_per_support;
  for (uint64_t m : support)
    if (m != 0) ++rows_per_support[m];
  // The most common supports keep their own group (ties: the smaller mask first); the full
  // support is always available as the last resort.
  std::vector<std::pair<uint64_t, int64_t>> by_count(rows_per_support.begin(), rows_per_support.end());
  std::stable_sort(by_count.begin(), by_count.end(),
                   [](const auto& a, const auto& b) { return a.second > b.second; });
  const uint64_t full = P >= 64 ? ~uint64_t{0} : (uint64_t{1} << P) - 1;
  std::vector<uint64_t> kept;
  for (const auto& [m, n_rows] : by_count)
    if (kept.size() + 1 < kMaxRowGroups) kept.push_back(m);
  if (std::find(kept.begin(), kept.end(), full) == kept.end()) kept.push_back(full);
  std::map<uint64_t, RowGroup> by_mask;
  for (int64_t d = 0; d < D; ++d) {
    const uint64_t m = support[d];
    if (m == 0) continue;
    uint64_t best = full;
    for (uint64_t k : kept)
      if ((m & ~k) == 0 && std::popcount(k) < std::popcount(best)) best = k;
    by_mask[best].rows.push_back(static_cast<int>(d));
  }
  std::vector<RowGroup> groups;
  for (auto& [mask, rg] : by_mask) {
    for (int64_t p = 0, t = 0; p < P; ++p)
      for (int64_t q = p; q < P; ++q, ++t)
        if ((mask >> p & 1) && (mask >> q & 1)) rg.pairs.push_back(static_cast<int>(t));
    groups.push_back(std::move(rg));
  }
  return groups;
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
  const std::vector<RowGroup> groups = row_groups(cols, g);
  int64_t group_pairs = 0, z_rows_pairs = 0;
  for (const RowGroup& rg : groups) {
    group_pairs += static_cast<int64_t>(rg.pairs.size());
    z_rows_pairs = std::max<int64_t>(z_rows_pairs, static_cast<int64_t>(rg.rows.size() * rg.pairs.size()));
  }
  const int64_t group = images_per_group(g, z_rows_pairs, O * group_pairs);
  // sigma² with the rows of each group side by side, so that a group's GEMM reads a block.
  double* s2g = sized(buf.s2g, O * D);
  for (int64_t c = 0, col = 0; c < O; ++c, col = 0)
    for (const RowGroup& rg : groups)
      for (int d : rg.rows) s2g[c * D + col++] = s2[c * D + d];
  // Per group, Z_G [|G|, group pairs_G] (the pair products its rows can make non-zero, every
  // image of the image group side by side) and K_G [O, group pairs_G] = s2_G Z_G; Xcat
  // [D, group P] and rhs_all [O, group P] as before.
  double* Z = sized(buf.Z, z_rows_pairs * group);
  double* Xcat = sized(buf.Xcat, D * group * P);
  double* K_groups = sized(buf.K_all, O * group * group_pairs);
  double* rhs_all = sized(buf.rhs_all, O * group * P);
  for (int64_t n0 = 0; n0 < g.images; n0 += group) {
    const int64_t count = std::min(group, g.images - n0), xw = count * P;
    for (int64_t d = 0; d < D; ++d)
      for (int64_t i = 0; i < count; ++i) {
        const T* row = cols + ((n0 + i) * D + d) * P;
        double* xc = Xcat + d * xw + i * P;
        for (int64_t p = 0; p < P; ++p) xc[p] = static_cast<double>(row[p]);
      }
    int64_t s2_col = 0, k_offset = 0;
    for (const RowGroup& rg : groups) {
      const int64_t gp = static_cast<int64_t>(rg.pairs.size()), zw = count * gp;
      for (size_t r = 0; r < rg.rows.size(); ++r)
        for (int64_t i = 0; i < count; ++i) {
          const double* xc = Xcat + rg.rows[r] * xw + i * P;
          double* z = Z + static_cast<int64_t>(r) * zw + i * gp;
          for (int64_t j = 0; j < gp; ++j) z[j] = xc[pair_p[rg.pairs[j]]] * xc[pair_q[rg.pairs[j]]];
        }
      gemm<double>(false, false, O, zw, static_cast<int64_t>(rg.rows.size()), 1.0, s2g + s2_col, D, Z, zw,
                   0.0, K_groups + k_offset, zw);
      s2_col += static_cast<int64_t>(rg.rows.size());
      k_offset += O * zw;
    }
    gemm<double>(false, false, O, xw, D, 1.0, se, D, Xcat, xw, 0.0, rhs_all, xw);
    // A chunk of systems should hold some tens of microseconds of work (P³ / 3 each).
    const int64_t grain = std::max<int64_t>(1, (int64_t{1} << 16) / (P * P * P / 3 + 4 * P * P + 1));
    runtime::parallel_for(0, count * O, grain, [&](int64_t lo, int64_t hi) {
      DirectWork w(P);
      for (int64_t k = lo; k < hi; ++k) {
        const int64_t i = k / O, c = k % O, sys = (n0 + i) * O + c;
        std::fill(w.K.begin(), w.K.end(), 0.0);
        const double* kp = K_groups;
        for (const RowGroup& rg : groups) {
          const int64_t gp = static_cast<int64_t>(rg.pairs.size());
          for (int64_t j = 0; j < gp; ++j)
            w.K[pair_p[rg.pairs[j]] * P + pair_q[rg.pairs[j]]] += kp[c * count * gp + i * gp + j];
          kp += O * count * gp;
        }
        for (int64_t p = 0; p < P; ++p)
          for (int64_t q = p + 1; q < P; ++q) w.K[q * P + p] = w.K[p * P + q];
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
