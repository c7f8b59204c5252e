// `r2g2 bench kernels` (registered as "bench-kernels"): the kernel lab. Runs every
// registered family benchmark (tools/bench_<family>.cpp, harness in tools/kernel_lab.h)
// on the chosen backend, or lists them.
#include <cstdio>
#include <string>
#include <vector>

#include "r2g2/core/cuda_backend.h"
#include "r2g2/core/device.h"
#include "r2g2/core/error.h"
#include "tools/cli.h"
#include "tools/kernel_lab.h"

#if R2G2_WITH_CUDA
#include "r2g2/kernels/cuda/tf32.h"
constexpr bool kBuiltWithCuda = true;
#else
constexpr bool kBuiltWithCuda = false;
#endif

namespace {

using namespace r2g2;
using namespace r2g2::lab;

bool family_selected(const Bench& b, const std::string& filter) {
  return filter.empty() || b.family.find(filter) != std::string::npos ||
         b.kernels.find(filter) != std::string::npos;
}

int list_benches(const std::string& filter) {
  std::printf("%-20s %-9s %s\n", "family", "backends", "kernels");
  for (const Bench& b : benches())
    if (family_selected(b, filter))
      std::printf("%-20s %-9s %s\n", b.family.c_str(), b.cuda_only ? "cuda" : "cpu,cuda", b.kernels.c_str());
  return 0;
}

int run_lab(const std::vector<std::string>& words) {
  cli::Args args(words, {"reps", "large", "gemm", "mlp-steps", "only", "filter", "backend"}, {"list"});
  const std::string filter = args.get("filter", args.get("only", ""));
  if (args.flag("list")) return list_benches(filter);

  const std::string backend = args.get("backend", "cuda");
  Options o;
  cli::checking_usage([&] {
    R2G2_CHECK(backend == "cuda" || backend == "cpu", "unknown --backend '", backend, "'; known: cuda, cpu");
    R2G2_CHECK(args.positional().empty(), "unexpected argument '", args.positional().front(), "'");
    o = Options::for_backend(backend == "cuda" ? Backend::cuda : Backend::cpu);
    o.reps = static_cast<int>(args.get_int("reps", o.reps, 1, 1000000));
    o.large = args.get_int("large", o.large, 1024, int64_t{1} << 40);
    o.gemm = args.get_int("gemm", o.gemm, 16, 65536);
    o.mlp_steps = static_cast<int>(args.get_int("mlp-steps", o.mlp_steps, 1, 1000000));
    o.filter = filter;
  });
  const bool cuda = backend == "cuda";
  if (cuda && !kBuiltWithCuda) {
    std::printf(
        "r2g2 bench kernels: r2g2 was built without CUDA; the CUDA kernel lab needs a CUDA build and a GPU "
        "(--backend cpu times the CPU reference kernels). Nothing to do.\n");
    return 0;
  }
  if (cuda && !cuda_available()) {
    std::printf(
        "r2g2 bench kernels: no usable CUDA device (%s); the CUDA kernel lab needs a GPU (--backend cpu "
        "times "
        "the CPU reference kernels). Nothing to do.\n",
        cuda_backend::unavailable_reason().c_str());
    return 0;
  }

#if R2G2_WITH_CUDA
  if (cuda && kernels::cuda::allow_tf32()) {
    std::printf("note: R2G2_ALLOW_TF32=1 ignored: the lab measures float32 products without TF32\n");
    kernels::cuda::set_allow_tf32(false);
  }
#endif

  Lab lab(o);
  std::string section;
  int ran = 0;
  for (const Bench& b : benches()) {
    if ((b.cuda_only && !cuda) || !family_selected(b, filter)) continue;
    if (b.section != section) lab.section(section = b.section);
    lab.begin_family(b.family);
    b.run(lab);
    ++ran;
  }
  if (ran == 0) {
    std::printf("no benchmark matches '%s' on the %s backend; `r2g2 bench kernels --list` lists them\n",
                filter.c_str(), backend.c_str());
    return 1;
  }
  std::printf("\n%s\n", lab.failures() == 0 ? "all checks passed"
                                            : (std::to_string(lab.failures()) + " check(s) FAILED").c_str());
  return lab.failures() == 0 ? 0 : 1;
}

}  // namespace

R2G2_COMMAND(
    "bench-kernels", "the kernel lab (same as `r2g2 bench kernels`)",
    "usage: r2g2 bench kernels [options]      (or: r2g2 bench-kernels [options])\n\n"
    "Runs each kernel family's benchmark over its case table (kernels/cases): checks the kernel against\n"
    "its CPU reference, then times it (median of the repetitions, caches flushed in between) and prints\n"
    "time and GB/s or GFLOP/s. On CUDA (the default): CUDA events, % of the H200's peak (4.8 TB/s,\n"
    "67 TFLOP/s FP32), the conv/pool block-size sweep, gemm_blocked's tiles against cuBLAS, cuDNN\n"
    "convolution and one training step of the MLP 784-1024-1024-10 at batch 128; without a GPU it says\n"
    "so and exits 0. --backend cpu times the CPU reference kernels instead, on any machine. Exits 1 if a\n"
    "check fails.\n\n"
    "  --list            list the families, their backends and kernels, and exit\n"
    "  --filter TEXT     run only the families or kernels whose name contains TEXT (e.g. gemm, r2g2, mlp)\n"
    "  --only TEXT       the same as --filter\n"
    "  --backend B       cuda (default) or cpu\n"
    "  --reps N          timed repetitions per row (default 20; cpu 5)\n"
    "  --large N         elements of the large elementwise/reduction cases (default 67108864 = 64M; cpu 4M)\n"
    "  --gemm N          size of the large GEMM, N^3 (default 4096; cpu 512)\n"
    "  --mlp-steps N     timed MLP steps (default 100; cpu 5)",
    run_lab);
