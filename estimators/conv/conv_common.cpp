// Shape checks, the shared weight draw and col2im for the conv estimators.
#include "r2g2/estimators/conv/conv_common.h"

#include <vector>

#include "r2g2/core/autograd.h"
#include "r2g2/core/dispatch.h"
#include "r2g2/estimators/common.h"

namespace r2g2::conv_est::detail {

kernels::ConvGeom check_conv_args(const char* op, const Tensor& x, const Tensor& mu, const Tensor& sigma,
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
  kernels::ConvGeom g;
  g.channels = static_cast<int>(x.shape()[1]);
  g.height = static_cast<int>(x.shape()[2]);
  g.width = static_cast<int>(x.shape()[3]);
  g.kernel_h = static_cast<int>(mu.shape()[2]);
  g.kernel_w = static_cast<int>(mu.shape()[3]);
  g.stride = p.stride;
  g.padding = p.padding;
  g.out_h = conv_out_size(g.height, g.kernel_h, p.stride, p.padding, op);
  g.out_w = conv_out_size(g.width, g.kernel_w, p.stride, p.padding, op);
  g.images = x.shape()[0];
  g.out_channels = mu.shape()[0];
  return g;
}

Tensor shared_weight(const Tensor& mu, const Tensor& sigma, const Tensor& eps) {
  // One pass and one node instead of a mul and an add (and their temporaries): this runs
  // over every kernel weight of the layer at each step.
  Tensor w = est::gaussian_draw(mu.detach(), sigma.detach(), eps);
  enum : size_t { kMu, kSigma };
  return est::record_node("gaussian_sample", w, {mu, sigma}, [eps](const Tensor& g, est::Grads& d) {
    d.put(kMu, [&] { return g; });
    d.put(kSigma, [&] { return mul(g, eps); });
  });
}

void col2im_add(const Tensor& dcols_in, const kernels::ConvGeom& g, Tensor& gx, int64_t n0) {
  Tensor dcols = dcols_in.detach().contiguous();
  const int64_t count = dcols.shape()[0];
  R2G2_CHECK(gx.is_contiguous() && n0 >= 0 && n0 + count <= g.images, "col2im_add: chunk [", n0, ", ",
             n0 + count, ") outside ", g.images, " images");
  if (dcols.numel() == 0) return;
  const int64_t image = g.image_size(), col = g.patch_size() * g.positions();
  dispatch_floating(dcols.dtype(), "col2im", [&](auto tag) {
    using T = decltype(tag);
    for (int64_t i = 0; i < count; ++i) {
      const T* src = dcols.data<T>() + i * col;
      T* dst = gx.data<T>() + (n0 + i) * image;
      R2G2_KERNEL(dcols.device(), col2im<T>)(src, dst, g);
    }
  });
}

}  // namespace r2g2::conv_est::detail
