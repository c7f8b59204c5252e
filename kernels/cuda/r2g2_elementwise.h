#pragma once
// CUDA implementation of kernels/cpu/r2g2_elementwise.h: the same signatures, device
// pointers, launched on r2g2's current stream. See the CPU header for the contracts.
#include <cstdint>

namespace r2g2::kernels::cuda {

template <class T>
void lrt_sample(const T* mean, const T* v, const T* xi, T* h, T* q, int64_t n);
template <class T>
void r2g2_ratio(const T* r, const T* v, T* beta, int64_t n, double paper_abs_tol, int paper_max_iters);
template <class T>
void sign_of(const T* x, T* s, int64_t n);
template <class T>
void mask_by_positive(const T* eps, const T* sigma, T* out, int64_t n);

}  // namespace r2g2::kernels::cuda
