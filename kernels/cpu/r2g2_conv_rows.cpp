// The patch rows of the CPU's direct conv solve (kernels/cpu/r2g2_conv_rows.h).
#include "r2g2/kernels/cpu/r2g2_conv_rows.h"

#include <algorithm>
#include <bit>
#include <map>
#include <utility>

namespace r2g2::kernels::cpu {

namespace {

constexpr size_t kMaxRowGroups = 16;

}  // namespace

template <class T>
std::vector<RowGroup> row_groups(const T* cols, const ConvGeom& g) {
  const int64_t D = g.patch_size(), P = g.positions();
  if (P > 64) {  // beyond a 64-bit support mask (the cost model never picks this solve there)
    RowGroup all;
    for (int64_t d = 0; d < D; ++d) all.rows.push_back(static_cast<int>(d));
    for (int64_t t = 0; t < P * (P + 1) / 2; ++t) all.pairs.push_back(static_cast<int>(t));
    for (int64_t p = 0; p < P; ++p) all.positions.push_back(static_cast<int>(p));
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
    for (int64_t p = 0; p < P; ++p)
      if (mask >> p & 1) rg.positions.push_back(static_cast<int>(p));
    groups.push_back(std::move(rg));
  }
  return groups;
}

namespace {

// One copy of convert_rows per ISA (the library is built without -march flags): with AVX2
// the compiler gathers the rows 8 or 16 at a time.
template <class T>
[[gnu::always_inline]] inline void convert_rows_body(const T* sigma, const T* eps, const int* row_order,
                                                     int64_t R, int64_t D, int64_t c0, int64_t c1, double* s2,
                                                     double* se, int64_t ld) {
  for (int64_t c = c0; c < c1; ++c) {
    const T* sigma_row = sigma + c * D;
    const T* eps_row = eps + c * D;
    double* s2_row = s2 + (c - c0) * ld;
    double* se_row = se + (c - c0) * ld;
    for (int64_t j = 0; j < R; ++j) {
      const double s = sigma_row[row_order[j]];
      s2_row[j] = s * s;
      se_row[j] = s * static_cast<double>(eps_row[row_order[j]]);
    }
  }
}
#define R2G2_CONVERT_ROWS(name, target_attr, T)                                                   \
  target_attr void name(const T* sigma, const T* eps, const int* row_order, int64_t R, int64_t D, \
                        int64_t c0, int64_t c1, double* s2, double* se, int64_t ld) {             \
    convert_rows_body<T>(sigma, eps, row_order, R, D, c0, c1, s2, se, ld);                        \
  }
R2G2_CONVERT_ROWS(convert_rows_avx512, __attribute__((target("avx512f,avx2,fma"))), float)
R2G2_CONVERT_ROWS(convert_rows_avx512, __attribute__((target("avx512f,avx2,fma"))), double)
R2G2_CONVERT_ROWS(convert_rows_avx2, __attribute__((target("avx2,fma"))), float)
R2G2_CONVERT_ROWS(convert_rows_avx2, __attribute__((target("avx2,fma"))), double)
R2G2_CONVERT_ROWS(convert_rows_base, , float)
R2G2_CONVERT_ROWS(convert_rows_base, , double)
#undef R2G2_CONVERT_ROWS

template <class T>
using ConvertRows = void (*)(const T*, const T*, const int*, int64_t, int64_t, int64_t, int64_t, double*,
                             double*, int64_t);

template <class T>
ConvertRows<T> pick_convert_rows() {
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f")) return convert_rows_avx512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return convert_rows_avx2;
  return convert_rows_base;
}

}  // namespace

template <class T>
void convert_rows(const T* sigma, const T* eps, const int* row_order, int64_t R, int64_t D, int64_t c0,
                  int64_t c1, double* s2, double* se, int64_t ld) {
  static const ConvertRows<T> convert = pick_convert_rows<T>();
  convert(sigma, eps, row_order, R, D, c0, c1, s2, se, ld);
}

template std::vector<RowGroup> row_groups<float>(const float*, const ConvGeom&);
template std::vector<RowGroup> row_groups<double>(const double*, const ConvGeom&);
template void convert_rows<float>(const float*, const float*, const int*, int64_t, int64_t, int64_t, int64_t,
                                  double*, double*, int64_t);
template void convert_rows<double>(const double*, const double*, const int*, int64_t, int64_t, int64_t,
                                   int64_t, double*, double*, int64_t);

}  // namespace r2g2::kernels::cpu
