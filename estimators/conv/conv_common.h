#pragma once
// Helpers shared by the conv estimators (internal to estimators/conv/).
#include <cstdint>

#include "r2g2/core/ops.h"
#include "r2g2/core/random.h"
#include "r2g2/core/tensor.h"
#include "r2g2/kernels/common.h"

namespace r2g2::conv_est::detail {

struct ConvDims {
  int64_t n = 0, c = 0, h = 0, w = 0;  // x [N, C, H, W]
  int64_t o = 0, kh = 0, kw = 0;       // mu, sigma [O, C, kh, kw]
  int64_t oh = 0, ow = 0;              // h [N, O, OH, OW]
  int64_t d = 0, p = 0;                // D = C*kh*kw, P = OH*OW
  kernels::ConvGeom geom;              // one image's im2col geometry
};

// Checks shapes, dtypes and devices of an estimator call; errors name `op` and the shapes.
ConvDims check_conv_args(const char* op, const Tensor& x, const Tensor& mu, const Tensor& sigma,
                         Conv2dParams p);

// mu + sigma ⊙ eps, the one expression rt and r2g2 share so that their forward values
// agree bit for bit.
Tensor shared_weight(const Tensor& mu, const Tensor& sigma, const Tensor& eps);

// gx[n0 + i] += col2im(dcols[i]) for the images of a chunk of column gradients
// dcols [count, D, P]; gx [N, C, H, W] contiguous. Outside the tape.
void col2im_add(const Tensor& dcols, const ConvDims& dims, Tensor& gx, int64_t n0);

}  // namespace r2g2::conv_est::detail
