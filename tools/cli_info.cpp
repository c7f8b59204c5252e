// `r2g2 info`: what this build contains and what this machine offers.
#include <cstdio>

#include "r2g2/core/cuda_backend.h"
#include "r2g2/core/device.h"
#include "r2g2/kernels/cpu/gemm.h"
#include "tools/cli.h"

namespace {

int run_info(const std::vector<std::string>& words) {
  r2g2::cli::checking_usage([&] {
    r2g2::cli::Args args(words, {});
    R2G2_CHECK(args.positional().empty(), "info takes no arguments, got '", args.positional()[0], "'");
  });
  namespace cb = r2g2::cuda_backend;
  std::printf("r2g2 build: CUDA %s, CPU matmul via %s\n",
              cb::built_with_cuda() ? "compiled in" : "not compiled",
              r2g2::kernels::cpu::gemm_uses_blas() ? "OpenBLAS" : "the hand-written blocked kernel");
  int n = cb::device_count();
  std::printf("cuda devices: %d\n", n);
  if (n == 0) std::printf("  (%s)\n", cb::unavailable_reason().c_str());
  return 0;
}

}  // namespace

R2G2_COMMAND(
    "info", "what this build contains (CUDA, BLAS) and the CUDA devices it can use",
    "usage: r2g2 info\n\nPrints whether CUDA is compiled in, what runs the CPU matmul, and the number "
    "of usable CUDA devices (with the reason when there is none).",
    run_info);
