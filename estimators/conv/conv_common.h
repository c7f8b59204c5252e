#pragma once
// Helpers shared by the conv estimators (internal to estimators/conv/).
#include <cstdint>

#include "r2g2/core/ops.h"
#include "r2g2/core/random.h"
#include "r2g2/core/tensor.h"
#include "r2g2/kernels/common.h"

namespace r2g2::conv_est::detail {

// Checks shapes, dtypes and devices of an estimator call; errors name `op` and the shapes.
// Returns the layer's geometry: images N, out_channels O, and each image's im2col matrix
// [D, P] = [patch_size(), positions()].
kernels::ConvGeom check_conv_args(const char* op, const Tensor& x, const Tensor& mu, const Tensor& sigma,
                                  Conv2dParams p);

// mu + sigma ⊙ eps, the one expression rt and r2g2 share so that their forward values
// agree bit for bit: one fused pass (the same bits as add(mu, mul(sigma, eps))), recorded
// with the gradients g to mu and g ⊙ eps to sigma. mu, sigma and eps of one shape.
Tensor shared_weight(const Tensor& mu, const Tensor& sigma, const Tensor& eps);

// gx[n0 + i] += col2im(dcols[i]) for the images of a chunk of column gradients
// dcols [count, D, P]; gx [N, C, H, W] contiguous. Outside the tape.
void col2im_add(const Tensor& dcols, const kernels::ConvGeom& g, Tensor& gx, int64_t n0);

}  // namespace r2g2::conv_est::detail
