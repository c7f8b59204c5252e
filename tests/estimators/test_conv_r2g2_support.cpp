// The direct conv solve's row groups (kernels/cpu/r2g2_conv_direct.cpp): K_nc is formed only
// from the (row, pair) products that a row's support (its non-zero positions over the
// batch) allows. Sparse, ReLU-like patch matrices give far more distinct supports than the
// groups it keeps, so most rows are folded into a group of a larger support; eps* must
// still be the float64 projection.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "r2g2/core/autograd.h"
#include "r2g2/estimators/conv/r2g2_conv_solve.h"
#include "test_conv_util.h"

using namespace r2g2;
using namespace r2g2::conv_est;
using r2g2::test::uniform;
using r2g2::test::conv::make_problem;
using r2g2::test::conv::max_system_rel_err;
using r2g2::test::conv::Problem;

TEST_CASE("conv direct solve: sparse patches with many distinct row supports match the projection") {
  struct Case {
    const char* name;
    int64_t n, c, hw;  // 3x3 kernel, padding 1: P = hw², D = 9 c
    double keep;       // fraction of the patch entries left non-zero
  };
  const Case cases[] = {
      {"P = 16, one image, half the entries", 1, 12, 4, 0.5},  // ~100 distinct supports of 108 rows
      {"P = 16, two images, a fifth", 2, 12, 4, 0.2},
      {"P = 4, a third", 3, 6, 2, 0.33},  // at most 16 supports, some rows all zero
  };
  for (const auto& cs : cases)
    for (DType dt : {DType::f64, DType::f32}) {
      const std::string case_name = cs.name, dtype = dtype_name(dt);
      CAPTURE(case_name);
      CAPTURE(dtype);
      Problem pr = make_problem(cs.n, cs.c, cs.hw, 5, 3, {1, 1}, 61 + cs.c, dt);
      auto cv = pr.cols.to_vector();
      const auto coin = uniform({static_cast<int64_t>(cv.size())}, 62 + cs.c, 0, 1).to_vector();
      for (size_t i = 0; i < cv.size(); ++i)
        if (coin[i] >= cs.keep) cv[i] = 0;
      pr.cols = Tensor::from_vector(cv, pr.cols.shape(), DType::f64).to(dt);
      R2G2Diagnostics diag;
      Tensor got = eps_star_dense(solve_eps_star(pr.cols, pr.sigma, pr.eps, R2G2Options{}, &diag), pr.cols,
                                  pr.sigma);
      REQUIRE(diag.method == "explicit K + pivoted Cholesky (P x P)");
      CHECK(diag.max_relative_residual <= 1e-9);
      CHECK(max_system_rel_err(got, eps_star_projection_f64(pr.cols, pr.sigma, pr.eps)) < 1e-5);
    }
}

// The direct solve splits the output channels into blocks of 64 and the images into groups
// whose pair products fit its buffer (8 MB): a last, partial block and a second image group
// must give the systems the same eps* as one block or one image would.
TEST_CASE("conv direct solve: several channel blocks and image groups") {
  SUBCASE("70 output channels: a full block and a partial one") {
    for (DType dt : {DType::f64, DType::f32}) {
      const std::string dtype = dtype_name(dt);
      CAPTURE(dtype);
      Problem pr = make_problem(3, 6, 2, 70, 3, {1, 1}, 71, dt);  // P = 4, D = 54
      R2G2Diagnostics diag;
      Tensor got = eps_star_dense(solve_eps_star(pr.cols, pr.sigma, pr.eps, R2G2Options{}, &diag), pr.cols,
                                  pr.sigma);
      REQUIRE(diag.method == "explicit K + pivoted Cholesky (P x P)");
      CHECK(diag.systems == 3 * 70);
      CHECK(max_system_rel_err(got, eps_star_projection_f64(pr.cols, pr.sigma, pr.eps)) < 1e-5);
    }
  }
  SUBCASE("14 images of 128 channels at P = 16: two image groups, each image as if alone") {
    // 628 pair products per channel at 4 x 4 with padding 1: 13 images fill a group.
    Problem pr = make_problem(14, 128, 4, 3, 3, {1, 1}, 72, DType::f64);
    R2G2Diagnostics diag;
    Tensor all = eps_star_dense(solve_eps_star(pr.cols, pr.sigma, pr.eps, R2G2Options{}, &diag), pr.cols,
                                pr.sigma);
    REQUIRE(diag.method == "explicit K + pivoted Cholesky (P x P)");
    for (int64_t n : {int64_t{0}, int64_t{12}, int64_t{13}}) {
      CAPTURE(n);
      Tensor cols_n = pr.cols.slice(0, n, n + 1).contiguous();
      Tensor alone = eps_star_dense(solve_eps_star(cols_n, pr.sigma, pr.eps, R2G2Options{}, nullptr), cols_n,
                                    pr.sigma);
      CHECK(max_system_rel_err(all.slice(0, n, n + 1).contiguous(), alone) < 1e-9);
    }
  }
}
