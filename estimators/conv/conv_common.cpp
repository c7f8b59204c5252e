// Shape checks, the shared weight draw and col2im for the conv estimators.
#include "r2g2/estimators/conv/conv_common.h"

#include <vector>

#include "r2g2/core/autograd.h"
#include "r2g2/core/dispatch.h"

namespace r2g2::conv_est::detail {

ConvDims check_conv_args(const char* op, const Tensor& x, const Tensor& mu, const Tensor& sigma,
                         Conv2dParams p) {
  R2G2_CHECK(x.dim() == 4, op, ": expected x of shape [N, C, H, W], got ", shape_str(x.shape()));
  R2G2_CHECK(mu.dim() == 4, op, ": expected mu of shape [O, C, kh, kw], got ", shape_str(mu.shape()));
  R2G2_CHECK(sigma.shape() == mu.shape(), op, ": sigma of shape ", shape_str(sigma.shape()),
             " differs from mu of shape ", shape_str(mu.shape()));
  R2G2_CHECK(x.shape()[1] == mu.shape()[1], op, ": x of shape ", shape_str(x.shape()), " has ", x.shape()[1],
             " channels but mu of shape ", shape_str(mu.shape()), " expects ", mu.shape()[1]);
  R2G2_CHECK(x.device() == mu.device() && x.device() == sigma.device(), op,
             ": x, mu and sigma must share a device (", x.device().str(), ", ", mu.device().str(), ", ",
             sigma.device().str(), ")");
  R2G2_CHECK(x.dtype() == mu.dtype() && x.dtype() == sigma.dtype() && is_floating(x.dtype()), op,
             ": x, mu and sigma must share a floating dtype (", dtype_name(x.dtype()), ", ",
             dtype_name(mu.dtype()), ", ", dtype_name(sigma.dtype()), ")");
  ConvDims d;
  d.n = x.shape()[0];
  d.c = x.shape()[1];
  d.h = x.shape()[2];
  d.w = x.shape()[3];
  d.o = mu.shape()[0];
  d.kh = mu.shape()[2];
  d.kw = mu.shape()[3];
  d.oh = conv_out_size(static_cast<int>(d.h), static_cast<int>(d.kh), p.stride, p.padding, op);
  d.ow = conv_out_size(static_cast<int>(d.w), static_cast<int>(d.kw), p.stride, p.padding, op);
  d.d = d.c * d.kh * d.kw;
  d.p = d.oh * d.ow;
  d.geom.channels = static_cast<int>(d.c);
  d.geom.height = static_cast<int>(d.h);
  d.geom.width = static_cast<int>(d.w);
  d.geom.kernel_h = static_cast<int>(d.kh);
  d.geom.kernel_w = static_cast<int>(d.kw);
  d.geom.stride = p.stride;
  d.geom.padding = p.padding;
  d.geom.out_h = static_cast<int>(d.oh);
  d.geom.out_w = static_cast<int>(d.ow);
  return d;
}

Tensor shared_weight(const Tensor& mu, const Tensor& sigma, const Tensor& eps) {
  return add(mu, mul(sigma, eps));
}

void col2im_add(const Tensor& dcols_in, const ConvDims& dims, Tensor& gx, int64_t n0) {
  Tensor dcols = dcols_in.detach().contiguous();
  const int64_t count = dcols.shape()[0];
  R2G2_CHECK(gx.is_contiguous() && n0 >= 0 && n0 + count <= dims.n, "col2im_add: chunk [", n0, ", ",
             n0 + count, ") outside ", dims.n, " images");
  if (dcols.numel() == 0) return;
  const int64_t image = dims.c * dims.h * dims.w, col = dims.d * dims.p;
  dispatch_floating(dcols.dtype(), "col2im", [&](auto tag) {
    using T = decltype(tag);
    for (int64_t i = 0; i < count; ++i) {
      const T* src = dcols.data<T>() + i * col;
      T* dst = gx.data<T>() + (n0 + i) * image;
      if (dcols.device().is_cuda())
        R2G2_CUDA(kcuda::col2im<T>(src, dst, dims.geom));
      else
        kcpu::col2im<T>(src, dst, dims.geom);
    }
  });
}

}  // namespace r2g2::conv_est::detail
