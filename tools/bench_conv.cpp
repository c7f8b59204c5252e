// Kernel lab: im2col, col2im and max-pooling (kernels/{cpu,cuda}/conv.h) over
// kernels/cases/conv.h. On CUDA the block size (set_conv_block_size, the one launch knob
// these kernels have) is swept on each table's last shape.
#include <string>
#include <vector>

#include "r2g2/kernels/cases/conv.h"
#include "r2g2/kernels/cpu/conv.h"
#include "tools/kernel_lab.h"
#if R2G2_WITH_CUDA
#include "r2g2/kernels/cuda/conv.h"
#endif

namespace {

using namespace r2g2;
using namespace r2g2::lab;
namespace kcpu = r2g2::kernels::cpu;
namespace cases = r2g2::kernels::cases;
using kernels::ConvGeom;

// The block sizes to run a shape at (0: the backend has no such knob), and setting one.
std::vector<int> block_sizes(const Lab& lab, bool sweep) {
#if R2G2_WITH_CUDA
  if (lab.on_cuda())
    return sweep ? cases::perf_block_sizes() : std::vector<int>{kernels::cuda::conv_block_size()};
#endif
  (void)lab;
  (void)sweep;
  return {0};
}
void use_block_size(int block) {
#if R2G2_WITH_CUDA
  if (block > 0) kernels::cuda::set_conv_block_size(block);
#else
  (void)block;
#endif
}
std::string block_note(int block) { return block > 0 ? "block " + std::to_string(block) : ""; }

// Restores the default block size when the family is done.
struct DefaultBlock {
#if R2G2_WITH_CUDA
  int saved = kernels::cuda::conv_block_size();
  ~DefaultBlock() { kernels::cuda::set_conv_block_size(saved); }
#endif
};

template <class T>
void bench_im2col(Lab& lab) {
  const bool forward = lab.selected("im2col"), backward = lab.selected("col2im");
  if (!forward && !backward) return;
  const auto im2col = R2G2_LAB_KERNEL(lab, im2col<T>);
  const auto col2im = R2G2_LAB_KERNEL(lab, col2im<T>);
  const auto geoms = cases::perf_conv_geoms();
  [[maybe_unused]] DefaultBlock restore;
  for (size_t gi = 0; gi < geoms.size(); ++gi) {
    const ConvGeom& g = geoms[gi];
    const int64_t image = g.image_size(), ncols = g.patch_size() * g.positions();
    const auto x = host_uniform<T>(image, 21 + image), c2 = host_uniform<T>(ncols, 22 + ncols);
    std::vector<T> cols(static_cast<size_t>(ncols)), back(static_cast<size_t>(image), T(0));
    kcpu::im2col<T>(x.data(), cols.data(), g);
    kcpu::col2im<T>(c2.data(), back.data(), g);
    Tensor dx = lab.upload(x), dcols = lab.empty<T>(ncols), dc2 = lab.upload(c2), dback = lab.empty<T>(image);
    const std::string size = dims({g.channels, g.height, g.width}) + " k" + std::to_string(g.kernel_h) +
                             " s" + std::to_string(g.stride) + " p" + std::to_string(g.padding);
    for (int block : block_sizes(lab, gi + 1 == geoms.size())) {
      use_block_size(block);
      if (forward) {
        auto run = [&] { im2col(dx.data<T>(), dcols.data<T>(), g); };
        run();
        const double err = scaled_error(lab.download(dcols.data<T>(), ncols), cols, 0.0, 1e-30);  // a copy
        lab.row("im2col", dtype_label<T>(), size, lab.time_ms(run), double(image + ncols) * sizeof(T), 0, err,
                block_note(block));
      }
      if (backward) {
        lab.zero(dback, image * int64_t(sizeof(T)));
        auto run = [&] { col2im(dc2.data<T>(), dback.data<T>(), g); };
        run();
        // Summed in the CPU's order: bitwise equal.
        const double err = scaled_error(lab.download(dback.data<T>(), image), back, 0.0, 1e-30);
        lab.row("col2im", dtype_label<T>(), size, lab.time_ms(run), double(ncols + 2 * image) * sizeof(T), 0,
                err, block_note(block));
      }
    }
  }
}

template <class T>
void bench_max_pool(Lab& lab) {
  if (!lab.selected("max_pool2d")) return;
  const auto forward = R2G2_LAB_KERNEL(lab, max_pool2d<T>);
  const auto backward = R2G2_LAB_KERNEL(lab, max_pool2d_backward<T>);
  const auto shapes = cases::perf_pool_shapes(lab.options().large);
  [[maybe_unused]] DefaultBlock restore;
  for (size_t ci = 0; ci < shapes.size(); ++ci) {
    const auto& c = shapes[ci];
    const int oh = (c.h - c.kernel) / c.stride + 1, ow = (c.w - c.kernel) / c.stride + 1;
    const int64_t nin = c.planes * c.h * c.w, nout = c.planes * oh * ow;
    auto x = host_uniform<T>(nin, 23 + nin);
    for (size_t i = 0; i < x.size(); i += 7) x[i] = T(0.5);  // ties
    std::vector<T> y(static_cast<size_t>(nout)), gx(static_cast<size_t>(nin), T(0));
    std::vector<int32_t> arg(static_cast<size_t>(nout));
    kcpu::max_pool2d<T>(x.data(), y.data(), arg.data(), c.planes, c.h, c.w, c.kernel, c.stride, oh, ow);
    const auto gy = host_uniform<T>(nout, 24 + nout);
    kcpu::max_pool2d_backward<T>(gy.data(), arg.data(), gx.data(), c.planes, c.h, c.w, oh, ow);
    Tensor dx = lab.upload(x), dy = lab.empty<T>(nout), dgy = lab.upload(gy), dgx = lab.empty<T>(nin);
    Tensor darg = lab.empty<int32_t>(nout);
    const std::string size =
        dims({c.planes, c.h, c.w}) + " k" + std::to_string(c.kernel) + " s" + std::to_string(c.stride);
    for (int block : block_sizes(lab, ci + 1 == shapes.size())) {
      use_block_size(block);
      auto fwd = [&] {
        forward(dx.data<T>(), dy.data<T>(), darg.data<int32_t>(), c.planes, c.h, c.w, c.kernel, c.stride, oh,
                ow);
      };
      fwd();
      const double err = std::max(scaled_error(lab.download(dy.data<T>(), nout), y, 0.0, 1e-30),
                                  scaled_error(lab.download(darg.data<int32_t>(), nout), arg, 0.0, 1e-30));
      lab.row("max_pool2d", dtype_label<T>(), size, lab.time_ms(fwd),
              double(nin + nout) * sizeof(T) + 4.0 * nout, 0, err, block_note(block));
      lab.zero(dgx, nin * int64_t(sizeof(T)));
      auto bwd = [&] {
        backward(dgy.data<T>(), darg.data<int32_t>(), dgx.data<T>(), c.planes, c.h, c.w, oh, ow);
      };
      bwd();
      const double err_b =
          scaled_error(lab.download(dgx.data<T>(), nin), gx, 0.0, 1e-30);  // CPU order: bitwise
      lab.row("max_pool2d_backward", dtype_label<T>(), size, lab.time_ms(bwd),
              double(nout + 2 * nin) * sizeof(T) + 4.0 * nout, 0, err_b,
              block_note(block) + (lab.on_cuda() ? " (one warp per plane)" : ""));
    }
  }
}

void run(Lab& lab) {
  bench_im2col<float>(lab);
  bench_max_pool<float>(lab);
}

R2G2_BENCH("conv", "im2col, col2im, max_pool2d (forward and backward)",
           "im2col / col2im / max-pooling (on CUDA the block size is swept on the last shape)", 70, false,
           run);

}  // namespace
