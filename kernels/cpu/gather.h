#pragma once
// Row gather (mini-batches) and its backward.
#include <cstdint>

namespace r2g2::kernels::cpu {

// y[i, :] = x[index[i], :]; an index outside [0, rows) throws naming it.
template <class T>
void gather_rows(const T* x, const int32_t* index, T* y, int64_t n_index, int64_t rows, int64_t row_len);
// gx (zeroed by the caller) [index[i], :] += gy[i, :], in order of i (deterministic).
template <class T>
void scatter_add_rows(const T* gy, const int32_t* index, T* gx, int64_t n_index, int64_t row_len);

}  // namespace r2g2::kernels::cpu
