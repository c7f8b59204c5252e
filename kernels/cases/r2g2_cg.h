#pragma once
// Cases of the batched R2-G2 latent solve (kernels/{cpu,cuda}/r2g2_cg.h); see sizes.h.
#include <cstdint>
#include <vector>

#include "r2g2/kernels/cases/sizes.h"

namespace r2g2::kernels::cases {

// `systems` latent systems of size D followed by W [m, D] (rank min(m, D)).
struct LatentCase {
  int64_t systems;
  int m, D;
  bool d_space;  // CG on the D x D system (when D < m), else on the m x m one
  bool paper;    // the paper's truncated solver (m-space only)
};

// Timed: the paper's MLP output head (10 outputs of a 784 latent), a mid-sized layer in
// both spaces and with the paper's solver, and many small systems. `quick` shrinks the
// batches for the CPU reference.
inline std::vector<LatentCase> perf_latent_cases(bool quick) {
  const int64_t batch = quick ? 16 : 128;
  return {{batch, 10, 784, false, false},
          {batch, 64, 256, false, false},
          {batch, 256, 64, true, false},
          {batch, 64, 256, false, true},
          {batch * 8, 16, 64, false, false}};
}

}  // namespace r2g2::kernels::cases
