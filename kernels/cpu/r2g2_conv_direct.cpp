// The CPU's direct m-space conv solve (kernels/cpu/r2g2_conv.h): per block of output
// channels, the K_nc and right-hand sides of a group of images from two GEMMs per group of
// patch rows that share their support, then a float64 pivoted Cholesky per system. The
// backward that turns beta into the gradients is kernels/cpu/r2g2_conv_backward.cpp.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "r2g2/kernels/cpu/gemm.h"
#include "r2g2/kernels/cpu/r2g2_cg.h"
#include "r2g2/kernels/cpu/r2g2_conv.h"
#include "r2g2/kernels/cpu/r2g2_conv_rows.h"
#include "r2g2/kernels/runtime/thread_pool.h"

namespace r2g2::kernels::cpu {

namespace {

int64_t pair_count(int64_t P) { return P * (P + 1) / 2; }

// Images whose pair products share one GEMM: the GEMM then reads sigma² once per group
// instead of once per image (at P = 4 its other operand has only 10 columns per image, so
// a GEMM per image would be bound by reading sigma²). The group's pair products
// (z_per_image doubles per image) stay within kGroupElements doubles (8 MB), near the
// cache, and its K and right-hand sides (k_per_image per image) within four times that,
// however large the batch.
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
  std::vector<double> s2g, se, Z, Xs, K_all, rhs_all;
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

namespace {

// Channels per block of the parallel loop of the direct solve: a block forms the K and the
// right-hand sides of its channels for an image group by GEMMs of its own and solves its
// systems, so that the threads split every part of the work evenly and a block's K is still
// in cache when its systems read it. Each block's GEMMs pack the shared operands (the pair
// products and support columns of the image group) again, so a block takes at least
// kChannelBlock channels, and more while that repacking would exceed the packing of its own
// rows of sigma² and sigma ⊙ eps (measured at 4 x 4 maps, one thread: 64 channels cost a
// tenth more than 128). The size depends on the shapes and supports only, never on the
// thread count, and so do the results.
constexpr int64_t kChannelBlock = 64;
int64_t channel_block(int64_t O, int64_t shared_elements, int64_t rows) {
  int64_t block = kChannelBlock;
  while (block < O && shared_elements > 2 * block * rows) block *= 2;
  return block;
}

// Where the data of row group G lies for an image group of `count` images: its rows at
// columns [first_row, first_row + rows) of s2g and se; its pair products Z_G [rows,
// count pairs] at z_offset and its support columns X_G [rows, count positions] at x_offset;
// its K block [O, count pairs] at k_offset and right-hand-side block [O, count positions]
// at r_offset.
struct GroupLayout {
  int64_t first_row = 0, rows = 0, pairs = 0, positions = 0;
  int64_t z_offset = 0, x_offset = 0, k_offset = 0, r_offset = 0;
};

std::vector<GroupLayout> group_layouts(const std::vector<RowGroup>& groups, int64_t count, int64_t O) {
  std::vector<GroupLayout> out;
  GroupLayout next;
  for (const RowGroup& rg : groups) {
    next.rows = static_cast<int64_t>(rg.rows.size());
    next.pairs = static_cast<int64_t>(rg.pairs.size());
    next.positions = static_cast<int64_t>(rg.positions.size());
    out.push_back(next);
    next.first_row += next.rows;
    next.z_offset += next.rows * count * next.pairs;
    next.x_offset += next.rows * count * next.positions;
    next.k_offset += O * count * next.pairs;
    next.r_offset += O * count * next.positions;
  }
  return out;
}

// What every channel block of one image group reads (shared; each block writes only its
// own channels' rows of s2g, se, K and rhs).
struct ImageGroupData {
  const std::vector<RowGroup>* groups = nullptr;
  const std::vector<int>* row_order = nullptr;  // s2g's columns: rows d in group order
  std::vector<GroupLayout> layout;
  const int *pair_p = nullptr, *pair_q = nullptr;
  int64_t n0 = 0, count = 0, rows = 0;  // first image, images, rows in row_order
  const double *Z = nullptr, *Xs = nullptr;
  // [O, rows] each: converted in the first image group when there are several; with one,
  // each block converts a row group's columns right before its GEMMs instead (s2g unused).
  double *s2g = nullptr, *se = nullptr;
  double *K = nullptr, *rhs = nullptr;
  bool convert = false, convert_per_row_group = false;
};

// Channels [c0, c0 + cb) of one image group: their sigma² and sigma ⊙ eps in float64, their
// K and right-hand-side blocks by GEMM, then their systems.
template <class T>
void solve_channel_block(const ImageGroupData& a, int64_t c0, int64_t cb, const T* sigma, const T* eps,
                         T* beta, const R2G2SolveStats& st, const ConvGeom& g, double rel_cut) {
  const int64_t D = g.patch_size(), P = g.positions(), O = g.out_channels, R = a.rows;
  if (a.convert)
    convert_rows(sigma, eps, a.row_order->data(), R, D, c0, c0 + cb, a.s2g + c0 * R, a.se + c0 * R, R);
  // A row group's [cb, rows] of each, converted here: in cache for its GEMMs, where the
  // [O, R] arrays would go through memory.
  thread_local std::vector<double> local_s2, local_se;
  for (const GroupLayout& l : a.layout) {
    const int64_t zw = a.count * l.pairs, xw = a.count * l.positions;
    const double *s2, *se;
    int64_t ld;
    if (a.convert_per_row_group) {
      convert_rows(sigma, eps, a.row_order->data() + l.first_row, l.rows, D, c0, c0 + cb,
                   sized(local_s2, cb * l.rows), sized(local_se, cb * l.rows), l.rows);
      s2 = local_s2.data();
      se = local_se.data();
      ld = l.rows;
    } else {
      s2 = a.s2g + c0 * R + l.first_row;
      se = a.se + c0 * R + l.first_row;
      ld = R;
    }
    gemm<double>(false, false, cb, zw, l.rows, 1.0, s2, ld, a.Z + l.z_offset, zw, 0.0,
                 a.K + l.k_offset + c0 * zw, zw);
    gemm<double>(false, false, cb, xw, l.rows, 1.0, se, ld, a.Xs + l.x_offset, xw, 0.0,
                 a.rhs + l.r_offset + c0 * xw, xw);
  }
  DirectWork w(P);
  for (int64_t i = 0; i < a.count; ++i)
    for (int64_t c = c0; c < c0 + cb; ++c) {
      const int64_t sys = (a.n0 + i) * O + c;
      std::fill(w.K.begin(), w.K.end(), 0.0);
      std::fill(w.rhs.begin(), w.rhs.end(), 0.0);
      for (size_t k = 0; k < a.layout.size(); ++k) {
        const GroupLayout& l = a.layout[k];
        const RowGroup& rg = (*a.groups)[k];
        const double* kp = a.K + l.k_offset + (c * a.count + i) * l.pairs;
        for (int64_t j = 0; j < l.pairs; ++j) w.K[a.pair_p[rg.pairs[j]] * P + a.pair_q[rg.pairs[j]]] += kp[j];
        const double* rp = a.rhs + l.r_offset + (c * a.count + i) * l.positions;
        for (int64_t j = 0; j < l.positions; ++j) w.rhs[rg.positions[j]] += rp[j];
      }
      for (int64_t p = 0; p < P; ++p)
        for (int64_t q = p + 1; q < P; ++q) w.K[q * P + p] = w.K[p * P + q];
      const DirectResult res = solve_system(w, static_cast<int>(P), rel_cut);
      T* out = beta + sys * P;
      for (int64_t q = 0; q < P; ++q) out[q] = static_cast<T>(w.x[q]);
      if (st.iterations) st.iterations[sys] = 0;
      if (st.rel_residual) st.rel_residual[sys] = res.rel_residual;
      if (st.eps_star_sq) st.eps_star_sq[sys] = res.star_sq;
    }
}

}  // namespace

template <class T>
void r2g2_conv_solve_m_direct(const T* cols, const T* sigma, const T* eps, T* beta, const R2G2SolveStats& st,
                              const ConvGeom& g, double rel_cut) {
  const int64_t D = g.patch_size(), P = g.positions(), O = g.out_channels, PT = pair_count(P);
  if (g.images <= 0 || O <= 0 || P <= 0) return;
  std::vector<int> pair_p(PT), pair_q(PT);
  for (int64_t p = 0, t = 0; p < P; ++p)
    for (int64_t q = p; q < P; ++q, ++t) {
      pair_p[t] = static_cast<int>(p);
      pair_q[t] = static_cast<int>(q);
    }
  const std::vector<RowGroup> groups = row_groups(cols, g);
  // The rows that can be non-zero, in group order (a row of zeros adds nothing to K or to
  // the right-hand side), and each one's group.
  std::vector<int> row_order, group_of_row;
  int64_t group_pairs = 0, group_positions = 0, z_per_image = 0, x_per_image = 0;
  for (size_t k = 0; k < groups.size(); ++k) {
    const RowGroup& rg = groups[k];
    row_order.insert(row_order.end(), rg.rows.begin(), rg.rows.end());
    group_of_row.insert(group_of_row.end(), rg.rows.size(), static_cast<int>(k));
    group_pairs += static_cast<int64_t>(rg.pairs.size());
    group_positions += static_cast<int64_t>(rg.positions.size());
    z_per_image += static_cast<int64_t>(rg.rows.size() * rg.pairs.size());
    x_per_image += static_cast<int64_t>(rg.rows.size() * rg.positions.size());
  }
  const int64_t R = static_cast<int64_t>(row_order.size());
  if (R == 0) {  // every patch is zero: every right-hand side is 0, and so is eps*
    std::fill(beta, beta + g.images * O * P, T(0));
    for (int64_t sys = 0; sys < g.images * O; ++sys) {
      if (st.iterations) st.iterations[sys] = 0;
      if (st.rel_residual) st.rel_residual[sys] = 0;
      if (st.eps_star_sq) st.eps_star_sq[sys] = 0;
    }
    return;
  }
  const int64_t group = images_per_group(g, z_per_image, O * (group_pairs + group_positions));
  thread_local DirectBuffers buf;
  ImageGroupData a;
  a.groups = &groups;
  a.row_order = &row_order;
  a.pair_p = pair_p.data();
  a.pair_q = pair_q.data();
  a.rows = R;
  // sigma² and sigma ⊙ eps in float64: with one image group, each block converts a row
  // group's columns right before its GEMMs (they stay in cache; measured in a training step,
  // where sigma and eps come from memory: 12-14 ms instead of 17-19 ms at P = 4 on two
  // threads); with several, [O, R] arrays filled in the first group serve them all.
  a.convert_per_row_group = group >= g.images;
  if (!a.convert_per_row_group) {
    a.s2g = sized(buf.s2g, O * R);
    a.se = sized(buf.se, O * R);
  }
  // Per image group, for every row group: Z_G and X_G (the pair products and support
  // columns of its rows, images side by side), K_G = s2g_G Z_G and rhs_G = se_G X_G.
  double* Z = sized(buf.Z, z_per_image * group);
  double* Xs = sized(buf.Xs, x_per_image * group);
  a.Z = Z;
  a.Xs = Xs;
  a.K = sized(buf.K_all, O * group * group_pairs);
  a.rhs = sized(buf.rhs_all, O * group * group_positions);
  const int64_t block = channel_block(O, (z_per_image + x_per_image) * group, R);
  const int64_t blocks = (O + block - 1) / block;
  const int64_t row_grain = std::max<int64_t>(1, (int64_t{1} << 14) / std::max<int64_t>(group * (P + PT), 1));
  for (int64_t n0 = 0; n0 < g.images; n0 += group) {
    const int64_t count = std::min(group, g.images - n0);
    a.n0 = n0;
    a.count = count;
    a.convert = n0 == 0 && !a.convert_per_row_group;
    a.layout = group_layouts(groups, count, O);
    runtime::parallel_for(0, R, row_grain, [&](int64_t lo, int64_t hi) {
      for (int64_t j = lo; j < hi; ++j) {
        const size_t k = static_cast<size_t>(group_of_row[static_cast<size_t>(j)]);
        const GroupLayout& l = a.layout[k];
        const RowGroup& rg = groups[k];
        const int64_t r = j - l.first_row, d = row_order[static_cast<size_t>(j)];
        double* z = Z + l.z_offset + r * count * l.pairs;
        double* x = Xs + l.x_offset + r * count * l.positions;
        for (int64_t i = 0; i < count; ++i, z += l.pairs, x += l.positions) {
          const T* row = cols + ((n0 + i) * D + d) * P;
          for (int64_t t = 0; t < l.pairs; ++t)
            z[t] =
                static_cast<double>(row[pair_p[rg.pairs[t]]]) * static_cast<double>(row[pair_q[rg.pairs[t]]]);
          for (int64_t s = 0; s < l.positions; ++s) x[s] = static_cast<double>(row[rg.positions[s]]);
        }
      }
    });
    runtime::parallel_for(0, blocks, 1, [&](int64_t lo, int64_t hi) {
      for (int64_t b = lo; b < hi; ++b) {
        const int64_t c0 = b * block;
        solve_channel_block(a, c0, std::min(block, O - c0), sigma, eps, beta, st, g, rel_cut);
      }
    });
  }
}

template void r2g2_conv_solve_m_direct<float>(const float*, const float*, const float*, float*,
                                              const R2G2SolveStats&, const ConvGeom&, double);
template void r2g2_conv_solve_m_direct<double>(const double*, const double*, const double*, double*,
                                               const R2G2SolveStats&, const ConvGeom&, double);

}  // namespace r2g2::kernels::cpu
